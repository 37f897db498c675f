"""``HybridRetriever``: dense + sparse (+ multi-vector) retrieval fused in the engine.

One query becomes one branch per encoder (a dense vector, a sparse vector); the connector
runs the branches with the filter and fuses them where the engine can (Qdrant ``query_points``
with prefetches and RRF/DBSF, Milvus ``hybrid_search`` with ``RRFRanker``/``WeightedRanker``),
so one round trip returns the fused top k. Everything else is a stage object in
``stages=[...]`` (:mod:`~vectorbridge.retrievers.stages`): MaxSim over a multi-vector field,
compressed first stages, feedback, grouping, score formulas, MMR, calibration, reranking.
"""

from __future__ import annotations

import copy
from itertools import chain
from typing import Any, Iterable, Mapping, Protocol, Sequence, Sized, runtime_checkable

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, \
    CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr, ValidationError

from vectorbridge.connectors.base import DEFAULT_PREFETCH_K, Connector
from vectorbridge.connectors.filters import Filter, as_filter
from vectorbridge.connectors.fusion import FUSION_KINDS, Fusion
from vectorbridge.connectors.spec import check_name
from vectorbridge.connectors.tenants import scoped, tenant_of
from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError
from vectorbridge.options import describe_validation_error, refuse_unknown
from vectorbridge.retrievers.documents import TEXT_KEY
from vectorbridge.retrievers.flat_options import FLAT_OPTIONS, copy_update, flat_value, \
    from_flat
from vectorbridge.retrievers.ingest import CHUNK_SIZE
from vectorbridge.retrievers.layout import FieldNames, Layout
from vectorbridge.retrievers.pipeline import RRF_K, SCORE_KEY, Pipeline
from vectorbridge.retrievers.stages.base import Stage, check_stages, encoder_traits
from vectorbridge.retrievers.stages.candidates import Memo, Scope
from vectorbridge.retrievers.twins import Flow, arun, run, twin

_NONE = object()  # the end of an empty stream

#: What ``invoke(query, ...)`` takes besides the query.
_CALL_OPTIONS = ("k", "filter", "tenant")


@runtime_checkable
class SparseEncoder(Protocol):
    """What ``sparse=`` takes: a :class:`~vectorbridge.encoders.BM25Encoder`, a
    :class:`~vectorbridge.encoders.SpladeEncoder`, or anything with these two methods."""

    def encode_queries(self, texts: Sequence[str]) -> Any: ...

    def encode_documents(self, texts: Sequence[str]) -> Any: ...


@runtime_checkable
class DenseEmbedder(Protocol):
    """What ``dense=`` takes: a :class:`~vectorbridge.encoders.DenseEncoder`, any LangChain
    ``Embeddings``, or anything with these two methods (a duck-typed embedder)."""

    def embed_query(self, text: str) -> list[float]: ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...


def _normalised(options: dict[str, Any]) -> dict[str, Any]:
    """The options' shorthands in their one form, each checked with a message naming the
    option and the fix (before pydantic, whose union messages name neither)."""
    fusion = options.get("fusion")
    if isinstance(fusion, str):
        if fusion not in FUSION_KINDS:
            raise InvalidInputError(f"fusion={fusion!r}: use 'rrf', 'dbsf' or 'weighted', "
                                    "or a Fusion(kind, k=, weights=).")
        options["fusion"] = Fusion(fusion, RRF_K)
    elif isinstance(fusion, Mapping):  # a kind alone takes the retriever's RRF k, as above
        try:
            options["fusion"] = Fusion(**{"k": RRF_K, **fusion})
        except TypeError as e:
            raise InvalidInputError(f"fusion={dict(fusion)!r}: {e}; give Fusion(kind, k=, "
                                    "weights=) or its dict.") from None
    elif fusion is not None and not isinstance(fusion, Fusion):
        raise InvalidInputError(f"fusion= takes 'rrf', 'dbsf', 'weighted' or a Fusion(...), "
                                f"got {type(fusion).__name__}.")
    for name, kind in (("dense", DenseEmbedder), ("sparse", SparseEncoder)):
        value = options.get(name)
        if value is not None and not isinstance(value, kind):
            need = "embed_query and embed_documents" if kind is DenseEmbedder else \
                "encode_queries and encode_documents"
            raise InvalidInputError(f"{name}= needs {need} methods (a {kind.__name__}), got "
                                    f"{type(value).__name__}.")
    if options.get("filter") is not None:
        options["filter"] = as_filter(options["filter"])  # its own message, naming the key
    if isinstance(options.get("stages"), list):
        options["stages"] = tuple(options["stages"])
    return options


class HybridRetriever(BaseRetriever):
    """Hybrid retrieval over a vectorbridge collection, as a LangChain retriever.

    Attributes:
        connector: The Qdrant or Milvus connector.
        collection: Collection name (or an alias).
        dense: A :class:`~vectorbridge.encoders.DenseEncoder` or any LangChain ``Embeddings``.
        sparse: A :class:`~vectorbridge.encoders.BM25Encoder` or
            :class:`~vectorbridge.encoders.SpladeEncoder`.
        fusion: A :class:`~vectorbridge.connectors.Fusion` (``Fusion("rrf", k=60)``,
            ``Fusion("weighted", weights=(0.7, 0.3))``) or its kind (``"rrf"``, ``"dbsf"``,
            ``"weighted"``; a kind alone takes RRF k=2, the best on SciFact); default: the
            engine's default (DBSF).
        prefetch_k: Candidates each branch contributes to the fusion.
        stages: The stages after the branches, in any order (each runs at its own place:
            docs, Retrievers, *Stages*): :class:`~vectorbridge.retrievers.stages.MaxSim`,
            :class:`~vectorbridge.retrievers.stages.Quantized`,
            :class:`~vectorbridge.retrievers.stages.Reduction`,
            :class:`~vectorbridge.retrievers.stages.AdaptQuery`,
            :class:`~vectorbridge.retrievers.PseudoRelevanceFeedback`,
            :class:`~vectorbridge.retrievers.stages.Grouping`,
            :class:`~vectorbridge.retrievers.stages.Formula`,
            :class:`~vectorbridge.retrievers.MMR`,
            :class:`~vectorbridge.retrievers.stages.Calibrate`,
            :class:`~vectorbridge.retrievers.stages.Rerank`. What each needs and cannot run
            with is checked here, before any collection is touched.
        k: Documents returned (groups, with ``Grouping``).
        filter: A vectorbridge filter (or filter dict) applied wherever candidates are chosen.
        fields: The collection's field names (:class:`~vectorbridge.retrievers.layout.FieldNames`).
        text_key: Payload key of the text; default: the collection spec's.
        score_key: Metadata key of the first-stage score.

    The flat options of earlier releases (``multivector=``, ``rerank=``, ``rerank_k=``,
    ``group_by=``, ``rrf_k=``, ``dense_field=``...) still work for one release: they are
    mapped onto these stages with a ``DeprecationWarning`` naming the new form
    (:mod:`~vectorbridge.retrievers.flat_options`).

    Examples:
        >>> retriever = HybridRetriever.from_texts(  # doctest: +SKIP
        ...     texts, ids=ids, connector=QdrantConnector(path="./q"), collection="docs",
        ...     dense=DenseEncoder("all-MiniLM-L6-v2"), sparse=BM25Encoder(),
        ...     stages=[Rerank(CrossEncoderReranker("model"), k=50)], k=10)
        >>> retriever.invoke("what causes scurvy?", k=3)  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")
    # PQ codes loaded from the collection, and the spec the encoders were checked against
    _memo: Memo = PrivateAttr(default_factory=Memo)

    connector: Connector
    collection: str
    dense: DenseEmbedder | None = None
    sparse: SparseEncoder | None = None
    fusion: Fusion | None = None
    prefetch_k: int = DEFAULT_PREFETCH_K
    stages: tuple[Stage, ...] = ()
    k: int = 10
    filter: Filter | Mapping[str, Any] | None = None
    fields: FieldNames = FieldNames()
    text_key: str | None = Field(default=None, description="payload key of the text; "
                                 "default: the collection spec's text_key")
    score_key: str = SCORE_KEY

    def __init__(self, **options: Any) -> None:
        """Every option is checked here, before any collection is touched: unknown names
        (with the nearest valid one) and bad values raise :class:`InvalidInputError`."""
        refuse_unknown(type(self).__name__, options,
                       [*type(self).model_fields, *FLAT_OPTIONS, "tenant"])
        options = _normalised(from_flat(options))
        tenant = options.pop("tenant", None)
        if tenant is not None and isinstance(options.get("connector"), Connector):
            options["connector"] = scoped(options["connector"], tenant)
        try:
            super().__init__(**options)
        except ValidationError as e:
            raise describe_validation_error(type(self).__name__, e) from None

    def model_post_init(self, __context: Any) -> None:
        check_k(self.k), check_k(self.prefetch_k)
        check_name(self.collection, "collection")
        for name in vars(self.fields).values():
            check_name(name, "field")
        stages = check_stages(self.stages, encoder_traits(self.dense, self.sparse))
        object.__setattr__(self, "stages", stages)  # in run order
        if self.dense is None and self.sparse is None and self._layout().multivector is None:
            raise InvalidInputError("HybridRetriever needs at least one of dense=, sparse=, or "
                                    "a MaxSim(...) stage.")

    def __getattr__(self, name: str) -> Any:
        if name in FLAT_OPTIONS:  # an option of earlier releases, read from its stage
            return flat_value(self.stages, self.fields, self.fusion, name)
        return super().__getattr__(name)

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> "HybridRetriever":
        """A copy with ``update`` applied, built and checked like a new retriever (its stages
        against its encoders); a flat option of earlier releases in ``update`` changes the one
        stage it belongs to (:func:`~vectorbridge.retrievers.flat_options.copy_update`).
        ``deep``: the options are deep-copied, the connector shared."""
        update = dict(update or {})
        refuse_unknown(type(self).__name__, update,
                       [*type(self).model_fields, *FLAT_OPTIONS, "tenant"])
        update = copy_update(update.get("stages", self.stages), self.fields, self.fusion, update)
        options = {name: getattr(self, name) for name in type(self).model_fields}
        if "tenant" in update and "connector" not in update:  # another tenant, by your code
            options["connector"] = getattr(self.connector, "parent", self.connector)
        if deep:
            options = {name: value if name == "connector" else copy.deepcopy(value)
                       for name, value in options.items()}
        return type(self)(**{**options, **update})

    # -- the pipeline --------------------------------------------------------------------
    def _layout(self) -> Layout:
        return Layout.of(self.collection, self.fields, self.dense, self.sparse, self.stages,
                         text_key=self.text_key)

    @property
    def tenant(self) -> str | None:
        """The tenant this retriever is confined to (``tenant=``), or ``None``."""
        return tenant_of(self.connector)

    def _pipeline(self, tenant: str | None = None) -> Pipeline:
        """The pipeline of these options (built per call: a copy of the retriever with other
        options gets its own); ``tenant``: this call's tenant."""
        conn = self.connector if tenant is None else scoped(self.connector, tenant)
        scope = Scope(conn, self._layout(), self._fusion, self.prefetch_k)
        return Pipeline(scope, self._memo, self.stages, k=self.k, filter=self.filter,
                        score_key=self.score_key)

    @property
    def _fusion(self) -> Fusion:
        """The fusion asked for, or the engine's default when none was."""
        return self.fusion if self.fusion is not None else self.connector.default_fusion

    def refresh(self) -> None:
        """Forget what was loaded from the collection (PQ codes, the checked spec): call it
        after the collection was changed by anything but this retriever."""
        self._memo.clear()

    # -- writing ----------------------------------------------------------------------------
    @classmethod
    def _build(cls, texts: Iterable[str], options: dict[str, Any]) -> tuple["HybridRetriever", Iterable[str]]:
        """The retriever first: every option is checked before anything is encoded or written."""
        refuse_unknown(f"{cls.__name__}.from_texts", options,
                       [*cls.model_fields, *FLAT_OPTIONS, "tenant"])
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
        # a bulk load: index what is left now (the engine's policy: connectors/indexing.py)
        yield twin(self.connector.index_schedule(self.collection), "finish")

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
        return run(self._append(texts, ids, metadatas, dict(
            batch_size=batch_size, chunk_size=chunk_size, journal=journal, progress=progress)))

    async def aadd_texts(self, texts: Iterable[str], ids: Iterable[str | None] | None = None,
                         metadatas: Iterable[dict[str, Any] | None] | None = None, *,
                         batch_size: int = 256, chunk_size: int = CHUNK_SIZE,
                         journal: Any = None, progress: bool = False) -> list[str]:
        """Async :meth:`add_texts`."""
        return await arun(self._append(texts, ids, metadatas, dict(
            batch_size=batch_size, chunk_size=chunk_size, journal=journal, progress=progress)))

    def _append(self, texts: Iterable[str], ids: Any, metadatas: Any,
                how: dict[str, Any]) -> Flow[list[str]]:
        """``add_texts``: the engine's policy indexes during the call, and at its end a
        tail of ``REST_LIMIT`` (1,000) or more unindexed points (docs: Operations)."""
        out = yield from self._pipeline().add(texts, ids, metadatas, **how)
        if out:
            yield twin(self.connector.index_schedule(self.collection), "settle")
        return out

    def delete(self, ids: Sequence[str] | None = None, *, filter: Any = None) -> None:
        """Delete documents by id and / or by filter (a document matching either goes)."""
        run(self._pipeline().delete(ids, filter))

    async def adelete(self, ids: Sequence[str] | None = None, *, filter: Any = None) -> None:
        """Async :meth:`delete`."""
        await arun(self._pipeline().delete(ids, filter))

    # -- reading ----------------------------------------------------------------------------
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, filter: Any = None,
                                tenant: str | None = None, **kwargs: Any) -> list[Document]:
        refuse_unknown("HybridRetriever.invoke", kwargs, _CALL_OPTIONS)
        return run(self._pipeline(tenant).retrieve(query, k, filter, run_manager.get_child()))

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None, filter: Any = None,
                                       tenant: str | None = None,
                                       **kwargs: Any) -> list[Document]:
        refuse_unknown("HybridRetriever.ainvoke", kwargs, _CALL_OPTIONS)
        return await arun(self._pipeline(tenant).retrieve(query, k, filter,
                                                          run_manager.get_child()))


__all__ = ["HybridRetriever", "SCORE_KEY", "SparseEncoder"]
