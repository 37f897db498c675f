"""``HybridRetriever``: dense + sparse (+ multi-vector) retrieval fused in the engine.

One query becomes one branch per encoder (a dense vector, a sparse vector); the connector
runs the branches with the filter and fuses them where the engine can (Qdrant ``query_points``
with prefetches and RRF/DBSF, Milvus ``hybrid_search`` with ``RRFRanker``/``WeightedRanker``),
so one round trip returns the fused top k. Optional second stages: MaxSim over a
multi-vector field (in Qdrant's engine; on Milvus over the stored token vectors) and any
LangChain ``BaseDocumentCompressor`` (a cross-encoder, :class:`MaxSimReranker`, ...).
"""

from __future__ import annotations

from itertools import chain
from typing import Any, Iterable, Sequence, Sized

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, \
    CallbackManagerForRetrieverRun
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr, ValidationError

from vectorbridge.connectors.base import DEFAULT_PREFETCH_K, Connector, RescoreMode
from vectorbridge.connectors.fusion import Fusion, FusionKind
from vectorbridge.connectors.spec import check_name
from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError
from vectorbridge.options import describe_validation_error, refuse_unknown
from vectorbridge.retrievers.documents import TEXT_KEY
from vectorbridge.retrievers.ingest import CHUNK_SIZE
from vectorbridge.retrievers.layout import FieldNames, Layout
from vectorbridge.retrievers.option_checks import check_options
from vectorbridge.retrievers.pipeline import Pipeline
from vectorbridge.retrievers.stages import Memo, Scope
from vectorbridge.retrievers.twins import Flow, arun, run, twin

_NONE = object()  # the end of an empty stream

#: Metadata key of the first-stage score (fused, or MaxSim when a multi-vector stage ran).
SCORE_KEY = "score"
#: What ``invoke(query, ...)`` takes besides the query.
_CALL_OPTIONS = ("k", "filter")


class HybridRetriever(BaseRetriever):
    """Hybrid retrieval over a vectorbridge collection, as a LangChain retriever.

    Attributes:
        connector: The Qdrant or Milvus connector.
        collection: Collection name.
        dense: A :class:`~vectorbridge.encoders.DenseEncoder` or any LangChain ``Embeddings``.
        sparse: A :class:`~vectorbridge.encoders.BM25Encoder` or
            :class:`~vectorbridge.encoders.SpladeEncoder` (anything with ``encode_queries``).
        multivector: A :class:`~vectorbridge.encoders.TokenEncoder`: MaxSim over the
            multi-vector field scores the branches' candidates (in Qdrant's engine; on Milvus
            over the stored token vectors).
        maxsim: ``"fuse"`` (default without ``fde``): MaxSim's ranking of the candidates joins
            the fusion as one more branch (the better of the two on SciFact: docs, Benchmarks);
            ``"replace"`` (default with ``fde``): MaxSim re-sorts the top ``rerank_k``.
        quantizer: The name of an engine quantization (``"binary-1bit"``, ``"scalar-int8"``,
            ``"pq-x16"``, ... see :data:`~vectorbridge.connectors.spec.ENGINE_QUANTIZATIONS`):
            the engine keeps compressed copies of the dense vectors, searches them and
            rescores ``oversample * k`` candidates with the originals (Qdrant's quantization;
            Milvus' IVF_SQ8 / IVF_PQ with rescoring by the connector). Or a
            :class:`~vectorbridge.encoders.BinaryQuantizer` (its codes are searched
            in the engine by Hamming distance) or :class:`~vectorbridge.encoders.ProductQuantizer`
            (its codes are stored in the engine and searched client-side by ADC, loaded once:
            call :meth:`refresh` after the collection changes); ``oversample * k`` candidates
            are rescored exactly with the float vectors kept in the engine (in Qdrant's engine,
            client-side on Milvus servers). Codes live in a binary field, which Milvus Lite
            lacks: it refuses the collection.
        oversample: Code candidates per result for the rescoring.
        fde: An :class:`~vectorbridge.encoders.FDEEncoder` (needs ``multivector``): a MUVERA
            FDE field is the first stage, exact MaxSim over its top ``rerank_k`` the second.
        fde_quantization: An engine quantization of the FDE field (``"pq-x32"`` is MUVERA's
            production setting: 256 centres per 8 dimensions, 40,960 -> 1,280 bytes for the
            default 10,240-d FDE): the engine searches the compressed copies and rescores
            ``oversample * k`` of them with the float FDEs it keeps (on disk). Qdrant Edge
            and servers; Milvus servers as IVF_PQ.
        pooling: A :class:`~vectorbridge.encoders.pooling.TokenPooler` (needs
            ``multivector``): ``from_texts`` stores each document's tokens pooled by
            clustering (and builds the FDE from them), ~``pool_factor`` times fewer vectors.
            Queries are not pooled. Measured by ``vectorbridge bench multivector``.
        token_codec: A :class:`~vectorbridge.encoders.ResidualCodec` (needs ``multivector``
            and a first stage: ``fde``, ``dense`` or ``sparse``): ``from_texts`` stores each
            document's tokens as ColBERTv2 residual codes (a centroid id + 1-2 bits per
            dimension, ~15x smaller than float32), fitting the codec on the corpus if it is
            not fitted; the collection's field records the codec's fingerprint, and the
            codec is saved with :meth:`ResidualCodec.save` and loaded to query it. At query
            time the first stage's top ``rerank_k`` are fetched, decoded and ranked by exact
            MaxSim client-side (the engine cannot score codes). Qdrant engines only.
        prf: A :class:`~vectorbridge.retrievers.feedback.PseudoRelevanceFeedback`: one
            feedback round first, then the dense query moved towards its top documents'
            stored vectors (Rocchio) and the BM25 query expanded by RM3 from their texts;
            ``interpolate=`` says whether feedback comes from the fused ranking or from each
            branch's own. Measured by ``vectorbridge bench prf``.
        calibrator: A fitted :class:`~vectorbridge.retrievers.calibration.ScoreCalibrator`
            (needs ``dense``): maps each first-stage score to a calibrated relevance
            probability, stored in metadata under ``relevance_key``. Fit it on this
            retriever's own scores (the same branches and fusion) over labelled queries.
        score_threshold: Keep only first-stage documents whose calibrated relevance is at
            least this (0-1; needs ``calibrator``): a per-query cutoff instead of a fixed k,
            so a query may get fewer than ``k`` documents, or none. A reranker sees only
            the kept documents.
        k: Documents returned (``invoke(query, k=...)`` overrides it per call).
        fusion: ``"rrf"``, ``"dbsf"`` or ``"weighted"``; ``None`` (default): the connector's
            ``default_fusion``: DBSF on every engine (in Qdrant's engine; on Milvus fused by
            the connector over one search per branch), chosen on SciFact (docs: Retrievers,
            *Fusion defaults*). RRF when ``rrf_k`` or ``weights`` is given.
        rrf_k: RRF rank constant; small values trust each branch's top ranks.
        weights: Branch weights, ``(dense, sparse)`` order (then MaxSim with ``maxsim="fuse"``);
            ``None`` = equal.
        prefetch_k: Candidates each branch contributes to the fusion (at least ``k``).
        rerank: A ``BaseDocumentCompressor`` applied to the top ``rerank_k`` documents.
        rerank_k: Candidates the second stage(s) see.
        filter: A vectorbridge filter applied to every branch (``invoke(..., filter=)`` too).
        group_by: A payload key shared by the chunks of one document (e.g. ``"doc_id"``):
            ``k`` then counts documents, each with its best ``group_size`` chunks, in the
            engine where it groups natively (else the connector pages the search until ``k``
            groups fill). Documents come group by group, best group first.
        group_size: Chunks kept per group.
        mmr: A :class:`~vectorbridge.retrievers.diversity.MMR`: ``k`` diverse documents
            picked from the first stage's best ``fetch_k`` (needs ``dense``), in the engine
            for a dense-only retriever on Qdrant, else over the fetched dense vectors.
        formula: A :class:`~vectorbridge.connectors.scoring.ScoreFormula`: first-stage scores
            boosted / decayed by payload values (recency, popularity) over its ``depth`` best
            candidates, in Qdrant's engine or by the connector.
        reducer: A :class:`~vectorbridge.encoders.LinearReducer` (needs ``dense``; fitted on
            the first chunk written if it is not fitted): the dense vectors are projected to
            ``reducer.dim`` dimensions in a field of their own, which the engine indexes
            (and compresses, with an engine ``quantizer=`` name such as ``"scalar-int8"``,
            ``"binary-1bit"`` or ``"turbo-4bit"``) and searches; its ``oversample * k``
            candidates are then re-ranked by the full vectors, stored beside it without a
            graph. LeanVec's recipe: a smaller graph and cheaper distances for the search,
            full precision for the order (docs: Quantization, *Linear reduction*).
        full_vectors: Keep the full vectors beside a reduced field to rescore with (default);
            ``False`` stores and ranks by the reduced field alone (the smallest footprint).
        query_adapter: A trained :class:`~vectorbridge.encoders.QueryAdapter` (needs
            ``dense``): every dense query is mapped by it before any search, so a model is
            adapted to a domain without re-encoding the stored documents (docs: Retrievers,
            *Query adapter*).
        score_key: Metadata key of the first-stage score.

    Examples:
        >>> retriever = HybridRetriever.from_texts(  # doctest: +SKIP
        ...     texts, ids=ids, connector=QdrantConnector(path="./q"), collection="docs",
        ...     dense=DenseEncoder("all-MiniLM-L6-v2"), sparse=BM25Encoder(), k=10)
        >>> retriever.invoke("what causes scurvy?", k=3)  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")
    # PQ codes loaded from the collection, and the spec the encoders were checked against
    _memo: Memo = PrivateAttr(default_factory=Memo)

    connector: Connector
    collection: str
    dense: Any = None
    sparse: Any = None
    multivector: Any = None
    maxsim: RescoreMode | None = None
    quantizer: Any = None
    oversample: float = 4.0
    fde: Any = None
    fde_quantization: str | None = None
    pooling: Any = None
    token_codec: Any = None
    prf: Any = None
    calibrator: Any = None
    score_threshold: float | None = None
    relevance_key: str = "relevance"
    k: int = 10
    fusion: FusionKind | None = None
    rrf_k: int = 2
    weights: tuple[float, ...] | None = None
    prefetch_k: int = DEFAULT_PREFETCH_K
    rerank: BaseDocumentCompressor | None = None
    rerank_k: int = 100
    filter: Any = None
    group_by: str | None = None
    group_size: int = 1
    formula: Any = None
    mmr: Any = None
    reducer: Any = None
    full_vectors: bool = True
    query_adapter: Any = None
    dense_field: str = FieldNames.dense
    sparse_field: str = FieldNames.sparse
    multivector_field: str = FieldNames.multivector
    codes_field: str = FieldNames.codes
    fde_field: str = FieldNames.fde
    reduced_field: str = FieldNames.reduced
    score_key: str = SCORE_KEY
    text_key: str | None = Field(default=None, description="payload key of the text; "
                                 "default: the collection spec's text_key")

    def __init__(self, **options: Any) -> None:
        """Every option is checked here, before any collection is touched: unknown names
        (with the nearest valid one) and bad values raise :class:`InvalidInputError`."""
        refuse_unknown(type(self).__name__, options, type(self).model_fields)
        try:
            super().__init__(**options)
        except ValidationError as e:
            raise describe_validation_error(type(self).__name__, e) from None

    def model_post_init(self, __context: Any) -> None:
        if self.dense is None and self.sparse is None and self.multivector is None:
            raise InvalidInputError("HybridRetriever needs at least one of dense=, sparse=, "
                                    "multivector=.")
        check_k(self.k), check_k(self.prefetch_k), check_k(self.rerank_k)
        check_name(self.collection, "collection")
        for name in (self.dense_field, self.sparse_field, self.multivector_field,
                     self.codes_field, self.fde_field, self.reduced_field):
            check_name(name, "field")
        if isinstance(self.oversample, bool) or not self.oversample >= 1:
            raise InvalidInputError(f"oversample must be a number >= 1, got {self.oversample!r}.")
        _ = self._fusion  # validates early
        check_options(self)

    # -- the pipeline --------------------------------------------------------------------
    def _layout(self) -> Layout:
        return Layout(
            self.collection, FieldNames(self.dense_field, self.sparse_field,
                                        self.multivector_field, self.codes_field, self.fde_field,
                                        self.reduced_field),
            dense=self.dense, sparse=self.sparse, multivector=self.multivector,
            quantizer=self.quantizer, oversample=self.oversample, fde=self.fde,
            fde_quantization=self.fde_quantization, pooling=self.pooling,
            token_codec=self.token_codec, text_key=self.text_key,
            term_weights=bool(self.prf is not None and self.prf.sparse_docs),
            reducer=self.reducer, full_vectors=self.full_vectors)

    def _pipeline(self) -> Pipeline:
        """The stages these options switch on (built per call: a copy of the retriever with
        other options gets its own)."""
        scope = Scope(self.connector, self._layout(), self._fusion, self.prefetch_k)
        return Pipeline(scope, self._memo, k=self.k, filter=self.filter, maxsim=self.maxsim,
                        prf=self.prf, rerank=self.rerank, rerank_k=self.rerank_k,
                        calibrator=self.calibrator, score_threshold=self.score_threshold,
                        relevance_key=self.relevance_key, score_key=self.score_key,
                        group_by=self.group_by, group_size=self.group_size,
                        formula=self.formula, mmr=self.mmr, query_adapter=self.query_adapter)

    @property
    def _fusion(self) -> Fusion:
        """The fusion asked for, or the engine's default when none was."""
        if self.fusion is not None:
            return Fusion(self.fusion, self.rrf_k, self.weights)
        if self.weights is not None or "rrf_k" in self.model_fields_set:
            return Fusion("rrf", self.rrf_k, self.weights)
        return self.connector.default_fusion

    def refresh(self) -> None:
        """Forget what was loaded from the collection (PQ codes, the checked spec): call it
        after the collection was changed by anything but this retriever."""
        self._memo.clear()

    # -- writing ----------------------------------------------------------------------------
    @classmethod
    def _build(cls, texts: Iterable[str], options: dict[str, Any]) -> tuple["HybridRetriever", Iterable[str]]:
        """The retriever first: every option is checked before anything is encoded or written."""
        refuse_unknown(f"{cls.__name__}.from_texts", options, cls.model_fields)
        options.setdefault("text_key", TEXT_KEY)
        r = cls(**options)
        if isinstance(texts, str) or not isinstance(texts, Iterable):
            raise InvalidInputError("from_texts takes an iterable of texts (a list, a generator).")
        if isinstance(texts, Sized):
            empty = not len(texts)
        else:  # a stream: look at its first text, and put it back
            it = iter(texts)
            head = next(it, _NONE)
            empty, texts = head is _NONE, chain([head], it)
        if empty:
            raise InvalidInputError("from_texts needs at least one text.")
        return r, texts

    @classmethod
    def from_texts(cls, texts: Iterable[str], ids: Iterable[str | None] | None = None,
                   metadatas: Iterable[dict[str, Any] | None] | None = None, *,
                   connector: Connector, collection: str, recreate: bool = False,
                   batch_size: int = 256, chunk_size: int = CHUNK_SIZE, journal: Any = None,
                   progress: bool = False, **options: Any) -> "HybridRetriever":
        """Encode ``texts`` with every encoder given, store them, return the retriever.

        ``options`` are the retriever's (``dense=``, ``sparse=``, ``k=``, ...);
        ``recreate=True`` drops an existing collection first; ``batch_size``: points per
        request. ``texts`` (and ``ids``, ``metadatas``) may be any iterable, of any length:
        they are read ``chunk_size`` at a time, each chunk written while the next is encoded,
        so memory stays flat (:mod:`~vectorbridge.retrievers.ingest`); ``progress=True``
        shows a bar in documents/s; ``journal=path`` makes a re-run after a crash skip what
        was written. A :class:`~vectorbridge.encoders.BM25Encoder` that needs statistics is
        fitted on the first chunk (at least 50,000 texts). With ``idf="engine"`` (its
        default) IDF follows the collection as it grows: the engine applies it to the
        encoder's term counts where it can (``capabilities.engine_idf``: Qdrant), else the
        engine's own BM25 runs over the raw text (``engine_bm25`` with
        ``bm25_global_stats``: Milvus >= 2.5 servers); elsewhere the encoder is switched to
        ``idf="client"`` and fitted, so its query weights carry IDF: save it
        (``BM25Encoder.save``) to query the collection later. The engine's indexes are built
        at the end (``optimize``).
        """
        r, texts = cls._build(texts, dict(options, connector=connector, collection=collection))
        run(r._write(texts, ids, metadatas, recreate, dict(
            batch_size=batch_size, chunk_size=chunk_size, journal=journal, progress=progress)))
        return r

    @classmethod
    async def afrom_texts(cls, texts: Iterable[str], ids: Iterable[str | None] | None = None,
                          metadatas: Iterable[dict[str, Any] | None] | None = None, *,
                          connector: Connector, collection: str, recreate: bool = False,
                          batch_size: int = 256, chunk_size: int = CHUNK_SIZE,
                          journal: Any = None, progress: bool = False,
                          **options: Any) -> "HybridRetriever":
        """Async :meth:`from_texts`."""
        r, texts = cls._build(texts, dict(options, connector=connector, collection=collection))
        await arun(r._write(texts, ids, metadatas, recreate, dict(
            batch_size=batch_size, chunk_size=chunk_size, journal=journal, progress=progress)))
        return r

    def _write(self, texts: Iterable[str], ids: Any, metadatas: Any, recreate: bool,
               how: dict[str, Any]) -> Flow[None]:
        yield from self._pipeline().add(texts, ids, metadatas, recreate=recreate, **how)
        yield twin(self.connector, "optimize", self.collection)  # a bulk load: index it now

    def add_texts(self, texts: Iterable[str], ids: Iterable[str | None] | None = None,
                  metadatas: Iterable[dict[str, Any] | None] | None = None, *,
                  batch_size: int = 256, chunk_size: int = CHUNK_SIZE, journal: Any = None,
                  progress: bool = False) -> list[str]:
        """Encode ``texts`` (any iterable: read ``chunk_size`` at a time, each chunk written
        while the next is encoded) with this retriever's encoders and upsert them (the
        collection is created if it does not exist; ``None`` ids get a uuid4). Fitted
        encoders are not refitted; a client-side BM25 IDF whose statistics this retriever
        fitted on its first chunk adds these texts to them, so IDF follows the collection
        (earlier documents keep the average length they were encoded with; re-adding an id
        counts it again; docs: Operations). ``journal=path``: a re-run skips the chunks written
        before. Returns the ids."""
        return run(self._pipeline().add(texts, ids, metadatas, batch_size=batch_size,
                                        chunk_size=chunk_size, journal=journal,
                                        progress=progress))

    async def aadd_texts(self, texts: Iterable[str], ids: Iterable[str | None] | None = None,
                         metadatas: Iterable[dict[str, Any] | None] | None = None, *,
                         batch_size: int = 256, chunk_size: int = CHUNK_SIZE,
                         journal: Any = None, progress: bool = False) -> list[str]:
        """Async :meth:`add_texts`."""
        return await arun(self._pipeline().add(texts, ids, metadatas, batch_size=batch_size,
                                               chunk_size=chunk_size, journal=journal,
                                               progress=progress))

    def delete(self, ids: Sequence[str] | None = None, *, filter: Any = None) -> None:
        """Delete documents by id and / or by filter (a document matching either goes)."""
        run(self._pipeline().delete(ids, filter))

    async def adelete(self, ids: Sequence[str] | None = None, *, filter: Any = None) -> None:
        """Async :meth:`delete`."""
        await arun(self._pipeline().delete(ids, filter))

    # -- reading ----------------------------------------------------------------------------
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, filter: Any = None,
                                **kwargs: Any) -> list[Document]:
        refuse_unknown("HybridRetriever.invoke", kwargs, _CALL_OPTIONS)
        return run(self._pipeline().retrieve(query, k, filter, run_manager.get_child()))

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None, filter: Any = None,
                                       **kwargs: Any) -> list[Document]:
        refuse_unknown("HybridRetriever.ainvoke", kwargs, _CALL_OPTIONS)
        return await arun(self._pipeline().retrieve(query, k, filter, run_manager.get_child()))


__all__ = ["HybridRetriever", "SCORE_KEY"]
