"""``HybridRetriever``: dense + sparse (+ multi-vector) retrieval fused in the engine.

One query becomes one branch per encoder (a dense vector, a sparse vector); the connector
runs the branches with the filter and fuses them where the engine can (Qdrant ``query_points``
with prefetches and RRF/DBSF, Milvus ``hybrid_search`` with ``RRFRanker``/``WeightedRanker``),
so one round trip returns the fused top k. Optional second stages: MaxSim over a
multi-vector field (in Qdrant's engine; on Milvus over the stored token vectors) and any
LangChain ``BaseDocumentCompressor`` (a cross-encoder, :class:`MaxSimReranker`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, \
    CallbackManagerForRetrieverRun
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr, ValidationError

from vectorbridge.connectors.base import DEFAULT_PREFETCH_K, Connector, Hit, RescoreMode, \
    rank_key
from vectorbridge.connectors.fusion import Fusion, FusionKind
from vectorbridge.connectors.spec import (
    ENGINE_QUANTIZATIONS, BinaryField, CollectionSpec, DenseField, Metric, MultiVectorField,
    SparseField, check_name,
)
from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError, SpecMismatchError, UnsupportedFeatureError
from vectorbridge.options import describe_validation_error, refuse_unknown
from vectorbridge.retrievers.documents import TEXT_KEY, embed_texts, fill_ids, to_document, to_payloads

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
            the fusion as one more branch (SciFact train, MiniLM tokens: 0.735 nDCG@10);
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
            Queries are not pooled. Measured in ``benchmarks/multivector_compression.py``.
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
            branch's own. Measured in ``benchmarks/prf.py``.
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
            ``default_fusion``, the best fusion its engine runs natively, chosen on SciFact
            train (README, *Fusion defaults*): DBSF on Qdrant, RRF with k=2 on Milvus. RRF
            when ``rrf_k`` or ``weights`` is given.
        rrf_k: RRF rank constant; small values trust each branch's top ranks.
        weights: Branch weights, ``(dense, sparse)`` order (then MaxSim with ``maxsim="fuse"``);
            ``None`` = equal.
        prefetch_k: Candidates each branch contributes to the fusion (at least ``k``).
        rerank: A ``BaseDocumentCompressor`` applied to the top ``rerank_k`` documents.
        rerank_k: Candidates the second stage(s) see.
        filter: A vectorbridge filter applied to every branch (``invoke(..., filter=)`` too).
        score_key: Metadata key of the first-stage score.

    Example:
        >>> retriever = HybridRetriever.from_texts(  # doctest: +SKIP
        ...     texts, ids=ids, connector=QdrantConnector(path="./q"), collection="docs",
        ...     dense=DenseEncoder("all-MiniLM-L6-v2"), sparse=BM25Encoder(), k=10)
        >>> retriever.invoke("what causes scurvy?", k=3)  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")
    _codes: "_CodeTable | None" = PrivateAttr(default=None)
    # (spec, encoder ids) whose encodings matched: a model_copy with another encoder re-checks
    _checked: tuple[Any, ...] | None = PrivateAttr(default=None)

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
    dense_field: str = "dense"
    sparse_field: str = "sparse"
    multivector_field: str = "tokens"
    codes_field: str = "codes"
    fde_field: str = "fde"
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
                     self.codes_field, self.fde_field):
            check_name(name, "field")
        if isinstance(self.oversample, bool) or not self.oversample >= 1:
            raise InvalidInputError(f"oversample must be a number >= 1, got {self.oversample!r}.")
        _ = self._fusion  # validates early
        if isinstance(self.quantizer, str):
            if self.quantizer not in ENGINE_QUANTIZATIONS:
                raise InvalidInputError(f"quantizer={self.quantizer!r}: an engine quantization is "
                                        f"one of {ENGINE_QUANTIZATIONS}.")
            if self.dense is None:
                raise InvalidInputError("an engine quantizer= compresses the dense branch: give dense=.")
        elif self.quantizer is not None:
            from vectorbridge.encoders.binary import BinaryQuantizer
            from vectorbridge.encoders.pq import ProductQuantizer

            if not isinstance(self.quantizer, (BinaryQuantizer, ProductQuantizer)):
                raise UnsupportedFeatureError(
                    f"quantizer={type(self.quantizer).__name__}: use a BinaryQuantizer or a "
                    "ProductQuantizer."
                )
            if self.dense is None or self.sparse is not None or self.multivector is not None:
                raise InvalidInputError("quantizer= compresses the dense branch and is used with "
                                        "dense= alone (no sparse= or multivector=).")
        if self.fde_quantization is not None and (
                self.fde is None or self.fde_quantization not in ENGINE_QUANTIZATIONS):
            raise InvalidInputError(f"fde_quantization={self.fde_quantization!r}: an engine "
                                    f"quantization of the FDE field, one of {ENGINE_QUANTIZATIONS}, "
                                    "with fde= given.")
        if self.fde is not None and self.multivector is None:
            raise InvalidInputError("fde= encodes token vectors: give multivector=TokenEncoder(...).")
        _check_pooling(self.pooling, self.multivector)
        _check_codec(self.token_codec, self.multivector, self.fde, self.dense, self.sparse)
        self._check_prf()
        self._check_calibration()

    def _check_calibration(self) -> None:
        from vectorbridge.retrievers.calibration import ScoreCalibrator

        if self.calibrator is not None:
            if not isinstance(self.calibrator, ScoreCalibrator):
                raise InvalidInputError(f"calibrator= takes a fitted ScoreCalibrator, got "
                                        f"{type(self.calibrator).__name__}.")
            self.calibrator._check_fitted()
            if self.dense is None:
                raise InvalidInputError("calibrator= maps scores by the query embedding: give dense=.")
        if self.score_threshold is not None:
            if self.calibrator is None:
                raise InvalidInputError("score_threshold= applies to calibrated scores: give "
                                        "calibrator=ScoreCalibrator(...).fit(...) too.")
            t = self.score_threshold
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0:
                raise InvalidInputError(f"score_threshold must be a probability in [0, 1], got {t!r}.")

    def _check_prf(self) -> None:
        from vectorbridge.encoders.bm25 import BM25Encoder
        from vectorbridge.retrievers.feedback import PseudoRelevanceFeedback

        prf = self.prf
        if prf is None:
            return
        if not isinstance(prf, PseudoRelevanceFeedback):
            raise InvalidInputError(f"prf= takes a PseudoRelevanceFeedback(...), got {type(prf).__name__}.")
        if prf.dense_docs and self.dense is None:
            raise InvalidInputError("prf.dense_docs > 0 moves the dense query: give dense=, or "
                                    "set dense_docs=0.")
        if prf.sparse_docs and not isinstance(self.sparse, BM25Encoder):
            raise InvalidInputError("prf.sparse_docs > 0 expands BM25 queries by RM3: give "
                                    "sparse=BM25Encoder(...), or set sparse_docs=0 (SPLADE and "
                                    "other learned sparse models are not expanded).")
        if self.quantizer is not None and not isinstance(self.quantizer, str):
            raise UnsupportedFeatureError("prf= with a client-side quantizer object is not "
                                          "supported; use an engine quantization (a string).")

    # -- building a collection ------------------------------------------------------------
    @classmethod
    def from_texts(
        cls,
        texts: Sequence[str],
        ids: Sequence[str | None] | None = None,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        *,
        connector: Connector,
        collection: str,
        dense: Any = None,
        sparse: Any = None,
        multivector: Any = None,
        k: int = 10,
        recreate: bool = False,
        batch_size: int = 256,
        text_key: str = TEXT_KEY,
        **kwargs: Any,
    ) -> "HybridRetriever":
        """Encode ``texts`` with every encoder given, store them, return the retriever.

        A :class:`~vectorbridge.encoders.BM25Encoder` is fitted on ``texts`` when it needs
        statistics. Its IDF runs in the engine where the engine has it (Qdrant); otherwise
        (Milvus) the encoder is switched to ``idf="client"`` and fitted, so its query
        weights carry IDF: save it (``BM25Encoder.save``) to query the collection later.
        """
        # The retriever first: every option is checked before anything is encoded or written.
        refuse_unknown(f"{cls.__name__}.from_texts", kwargs,
                       [*cls.model_fields, "ids", "metadatas", "recreate", "batch_size"])
        r = cls(connector=connector, collection=collection, dense=dense, sparse=sparse,
                multivector=multivector, k=k, text_key=text_key, **kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
        if not isinstance(recreate, bool):
            raise InvalidInputError(f"recreate must be True or False, got {recreate!r}.")
        texts = list(texts)
        if not texts:
            raise InvalidInputError("from_texts needs at least one text.")
        names = {"dense": r.dense_field, "sparse": r.sparse_field, "multivector": r.multivector_field,
                 "codes": r.codes_field, "fde": r.fde_field}
        quantizer, fde, codec = r.quantizer, r.fde, r.token_codec
        id_list = fill_ids(ids, len(texts))
        payloads = to_payloads(texts, metadatas, text_key)
        dense_spec, sparse_spec, mv_spec, bin_spec, vectors = {}, {}, {}, {}, {}
        if dense is not None:
            vectors[names["dense"]] = X = embed_texts(dense, texts)
            dense_spec[names["dense"]] = DenseField(X.shape[1])
            if isinstance(quantizer, str):  # the engine compresses and rescores
                dense_spec[names["dense"]] = DenseField(
                    X.shape[1], quantization=quantizer, oversampling=float(r.oversample))
            elif quantizer is not None:
                if not _is_fitted(quantizer):
                    quantizer.fit(X)
                vectors[names["codes"]] = codes = quantizer.encode(X)
                bin_spec[names["codes"]] = BinaryField(codes.shape[1] * 8,
                                                       encoding=quantizer.fingerprint())
        if sparse is not None:
            idf = _prepare_sparse(sparse, texts, connector, collection, names["sparse"])
            sparse_spec[names["sparse"]] = SparseField(idf=idf)
            vectors[names["sparse"]] = sparse.encode_documents(texts)
        if multivector is not None:
            toks = multivector.encode_documents(texts)
            if r.pooling is not None:
                toks = r.pooling.pool(toks)
            if fde is not None:  # from the float tokens, before any compression
                vectors[names["fde"]] = F = fde.encode_documents(toks)
                dense_spec[names["fde"]] = DenseField(
                    F.shape[1], Metric.DOT, encoding=fde.to_json(),
                    quantization=r.fde_quantization, oversampling=float(r.oversample))
            if codec is not None:
                if codec.centroids is None:
                    codec.fit(toks)
                vectors[names["multivector"]] = [codec.to_bytes(t) for t in toks]
                mv_spec[names["multivector"]] = MultiVectorField(
                    codec.bytes_per_token, dtype="uint8", encoding=codec.fingerprint())
            else:
                vectors[names["multivector"]] = toks
                mv_spec[names["multivector"]] = MultiVectorField(toks[0].shape[1])
        spec = CollectionSpec(name=collection, dense=dense_spec, sparse=sparse_spec,
                              multivector=mv_spec, binary=bin_spec, text_key=text_key)
        connector.create_collection(spec, recreate=recreate)
        connector.upsert(collection, id_list, vectors, payloads, batch_size=batch_size)
        connector.optimize(collection)  # a bulk load: build the engine's indexes now
        return r

    def _check_encodings(self, spec: CollectionSpec) -> None:
        """Refuse a quantizer or FDE configuration other than the one the collection holds
        (once per spec: fingerprints hash the codebooks, too slow to repeat per query)."""
        key = (spec, id(self.quantizer), id(self.fde), id(self.token_codec))
        if self._checked is not None and all(a is b for a, b in zip(key, self._checked)):
            return
        if isinstance(self.quantizer, str):
            stored = getattr(spec.field(self.dense_field), "quantization", None)
            if stored != self.quantizer:
                raise SpecMismatchError(
                    f"collection {spec.name!r} field {self.dense_field!r} has engine quantization "
                    f"{stored!r}, not {self.quantizer!r}; rebuild it (recreate=True) to change it."
                )
        for name, enc, what in ((self.codes_field, self.quantizer, "quantizer"),
                                (self.fde_field, self.fde, "fde"),
                                (self.multivector_field, self.token_codec, "token_codec")):
            if enc is None or isinstance(enc, str):
                continue
            if what == "token_codec" and not getattr(spec.field(name), "codes", False):
                raise SpecMismatchError(f"collection {spec.name!r} field {name!r} holds float "
                                        "tokens, not codes: query it without token_codec=.")
            mine = enc.to_json() if what == "fde" else enc.fingerprint()
            stored = getattr(spec.field(name), "encoding", None)
            if stored != mine:
                raise SpecMismatchError(
                    f"collection {spec.name!r} field {name!r} was encoded by {stored}, not by this "
                    f"{what} ({mine}); codes from different configurations are not comparable. "
                    "Load the quantizer / FDE config the collection was built with."
                )
        self._checked = key

    # -- querying -------------------------------------------------------------------------
    def _plan(self, query: str, dense_q: Any, k: int | None, flt: Any) -> "_Plan":
        """The connector call for ``query``: fields, queries and stage sizes."""
        k = check_k(self.k if k is None else k)
        first_k = max(self.rerank_k, k) if self.rerank is not None else k
        if self.calibrator is not None:  # its input includes the query's top scores
            first_k = max(first_k, self.calibrator.score_features)
        queries: dict[str, Any] = {}
        plan = _Plan(queries, first_k, k, self.filter if flt is None else flt)
        if dense_q is not None:
            q = np.asarray(dense_q, dtype=np.float32)
            if self.quantizer is None or isinstance(self.quantizer, str):
                queries[self.dense_field] = q  # engine quantization rescores by itself
            elif self._pq:  # client-side ADC over the codes finds candidates
                plan.pq, plan.rescore_k = q, int(np.ceil(self.oversample * first_k))
            else:  # codes find candidates in the engine, the float vectors rank them
                queries[self.codes_field] = self.quantizer.encode(q[None])[0]
                plan.rescore = (self.dense_field, q)
                plan.rescore_k = int(np.ceil(self.oversample * first_k))
        if self.sparse is not None:
            queries[self.sparse_field] = self.sparse.encode_queries([query])[0]
        if self.multivector is not None:
            tokens = self.multivector.encode_queries([query])[0]
            if self.fde is not None:
                queries[self.fde_field] = self.fde.encode_queries([tokens])[0]
            if self.token_codec is not None:  # codes: fetched, decoded, MaxSim client-side
                plan.decode, plan.decode_k = tokens, first_k
                plan.k = max(self.rerank_k, first_k)
                return plan
            plan.rescore = (self.multivector_field, tokens)
            plan.rescore_k = max(self.rerank_k, first_k)
            plan.rescore_mode = self.maxsim or ("replace" if self.fde is not None else "fuse")
        return plan

    def _call_kwargs(self, plan: "_Plan") -> dict[str, Any]:
        return dict(k=plan.k, filter=plan.filter, prefetch_k=self.prefetch_k,
                    fusion=self._fusion, rescore=plan.rescore,
                    rescore_k=plan.rescore_k, rescore_mode=plan.rescore_mode)

    @property
    def _fusion(self) -> Fusion:
        """The fusion asked for, or the engine's default when none was."""
        if self.fusion is not None:
            return Fusion(self.fusion, self.rrf_k, self.weights)
        if self.weights is not None or "rrf_k" in self.model_fields_set:
            return Fusion("rrf", self.rrf_k, self.weights)
        return self.connector.default_fusion

    @property
    def _pq(self) -> bool:
        return hasattr(self.quantizer, "centroids")

    def refresh(self) -> None:
        """Forget the PQ codes loaded from the collection (after it changed)."""
        self._codes = None
        self._checked = None

    def _pq_candidates(self, plan: "_Plan", allowed: list[str] | None) -> list[str]:
        """Top ``rescore_k`` ids by ADC over the cached codes; with a filter, over the codes
        of the ids the engine says match it only (candidates are chosen filtered, so a
        selective filter still yields min(k, matching) results)."""
        table = self._codes
        assert table is not None
        if allowed is None:
            ids, codes = table.ids, table.codes
        else:
            rows = [table.row[d] for d in allowed if d in table.row]
            ids, codes = [table.ids[i] for i in rows], table.codes[rows]
        if not ids:
            return []
        _, idx = self.quantizer.search(codes, plan.pq[None], min(len(ids), plan.rescore_k))
        return [ids[i] for i in idx[0] if i >= 0]

    def _pq_hits(self, plan: "_Plan") -> list[Hit]:
        if self._codes is None:
            records = self.connector.get(self.collection, self.connector.ids(self.collection),
                                         with_vectors=[self.codes_field])
            self._codes = _CodeTable.of(records, self.codes_field)
        allowed = None if plan.filter is None else \
            self.connector.ids(self.collection, filter=plan.filter)
        cand = self._pq_candidates(plan, allowed)
        if not cand:
            return []
        return self.connector.rescore(self.collection, self.dense_field, plan.pq, cand,
                                      plan.k, filter=plan.filter)

    async def _apq_hits(self, plan: "_Plan") -> list[Hit]:
        if self._codes is None:
            ids = await self.connector.aids(self.collection)
            records = await self.connector.aget(self.collection, ids,
                                                with_vectors=[self.codes_field])
            self._codes = _CodeTable.of(records, self.codes_field)
        allowed = None if plan.filter is None else \
            await self.connector.aids(self.collection, filter=plan.filter)
        cand = self._pq_candidates(plan, allowed)
        if not cand:
            return []
        return await self.connector.arescore(self.collection, self.dense_field, plan.pq, cand,
                                             plan.k, filter=plan.filter)

    # -- compressed tokens ------------------------------------------------------------------
    def _decoded_maxsim(self, plan: "_Plan", hits: list[Hit], records: list[Any]) -> list[Hit]:
        """The first stage's hits re-ranked by exact MaxSim over their decoded token codes."""
        from vectorbridge.encoders.scoring import maxsim

        codes = {r.id: r.vectors.get(self.multivector_field) for r in records}
        scored = [replace(h, score=maxsim(plan.decode, self.token_codec.from_bytes(codes[h.id])))
                  for h in hits if codes.get(h.id) is not None and len(codes[h.id])]
        scored.sort(key=rank_key)  # the connectors' order: ties by id
        return scored[: plan.decode_k]

    # -- pseudo-relevance feedback (the methods: retrievers/feedback.py) ---------------------
    def _feedback_plan(self, plan: "_Plan") -> tuple[list[Any], list[str] | bool]:
        from vectorbridge.retrievers.feedback import feedback_rounds

        rounds = feedback_rounds(self.prf, plan.queries, self.dense_field, self.sparse_field)
        fields = [self.dense_field] if any(self.dense_field in r.fed for r in rounds) else False
        return rounds, fields

    def _feedback_kwargs(self, plan: "_Plan", k: int) -> dict[str, Any]:
        return dict(k=k, filter=plan.filter, prefetch_k=max(self.prefetch_k, k),
                    fusion=self._fusion)

    def _expand(self, query: str, plan: "_Plan", rounds: list[Any], results: list[list[Hit]],
                records: list[Any], spec: CollectionSpec) -> None:
        from vectorbridge.retrievers.feedback import expand_queries

        expand_queries(self.prf, query, plan.queries, rounds, results, records,
                       dense_field=self.dense_field, sparse_field=self.sparse_field,
                       sparse=self.sparse, text_key=self._text_key(spec))

    def _feedback(self, query: str, plan: "_Plan", spec: CollectionSpec) -> None:
        rounds, fields = self._feedback_plan(plan)
        results = [self.connector.search(self.collection, *next(iter(r.queries.items())), r.depth,
                                         filter=plan.filter)
                   if len(r.queries) == 1 else
                   self.connector.hybrid_search(self.collection, r.queries,
                                                **self._feedback_kwargs(plan, r.depth))
                   for r in rounds]
        ids = list(dict.fromkeys(h.id for hits in results for h in hits))
        records = self.connector.get(self.collection, ids, with_vectors=fields) if ids else []
        self._expand(query, plan, rounds, results, records, spec)

    async def _afeedback(self, query: str, plan: "_Plan", spec: CollectionSpec) -> None:
        rounds, fields = self._feedback_plan(plan)
        results = [await self.connector.asearch(self.collection, *next(iter(r.queries.items())),
                                                r.depth, filter=plan.filter)
                   if len(r.queries) == 1 else
                   await self.connector.ahybrid_search(self.collection, r.queries,
                                                       **self._feedback_kwargs(plan, r.depth))
                   for r in rounds]
        ids = list(dict.fromkeys(h.id for hits in results for h in hits))
        records = await self.connector.aget(self.collection, ids, with_vectors=fields) if ids else []
        self._expand(query, plan, rounds, results, records, spec)

    def _single(self, plan: "_Plan") -> tuple[str, Any] | None:
        """The one branch to search plainly (no fusion needed), or None."""
        if len(plan.queries) == 1 and plan.rescore is None:
            return next(iter(plan.queries.items()))
        return None

    def _text_key(self, spec: CollectionSpec) -> str:
        return self.text_key or spec.text_key or TEXT_KEY

    def _documents(self, hits: list[Hit], spec: CollectionSpec, dense_q: Any) -> list[Document]:
        key = self._text_key(spec)
        docs = [to_document(h.id, h.payload, key, {self.score_key: h.score}) for h in hits]
        if self.calibrator is None or not hits:
            return docs
        scores = [h.score for h in hits]
        scores += scores[-1:] * (self.calibrator.score_features - len(scores))  # few hits: pad
        rel = self.calibrator.calibrate(np.asarray(dense_q, np.float32)[None],
                                        np.asarray(scores)[None])[0]
        for d, p in zip(docs, rel):
            d.metadata[self.relevance_key] = float(p)
        if self.score_threshold is None:
            return docs
        return [d for d, p in zip(docs, rel) if p >= self.score_threshold]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, filter: Any = None,
                                **kwargs: Any) -> list[Document]:
        refuse_unknown("HybridRetriever.invoke", kwargs, _CALL_OPTIONS)
        spec = self.connector.spec(self.collection)
        self._check_encodings(spec)
        dense_q = self.dense.embed_query(query) if self.dense is not None else None
        plan = self._plan(query, dense_q, k, filter)
        if self.prf is not None:
            self._feedback(query, plan, spec)
        single = self._single(plan)
        if plan.pq is not None:
            hits = self._pq_hits(plan)
        elif single is not None:
            hits = self.connector.search(self.collection, single[0], single[1], plan.k,
                                         filter=plan.filter)
        else:
            hits = self.connector.hybrid_search(self.collection, plan.queries,
                                                **self._call_kwargs(plan))
        if plan.decode is not None and hits:
            records = self.connector.get(self.collection, [h.id for h in hits],
                                         with_vectors=[self.multivector_field])
            hits = self._decoded_maxsim(plan, hits, records)
        docs = self._documents(hits, spec, dense_q)
        if self.rerank is not None and docs:
            docs = list(self.rerank.compress_documents(docs, query,
                                                       callbacks=run_manager.get_child()))
        return docs[: plan.final_k]

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None, filter: Any = None,
                                       **kwargs: Any) -> list[Document]:
        refuse_unknown("HybridRetriever.ainvoke", kwargs, _CALL_OPTIONS)
        spec = await self.connector.aspec(self.collection)
        self._check_encodings(spec)
        dense_q = await self.dense.aembed_query(query) if self.dense is not None else None
        plan = self._plan(query, dense_q, k, filter)
        if self.prf is not None:
            await self._afeedback(query, plan, spec)
        single = self._single(plan)
        if plan.pq is not None:
            hits = await self._apq_hits(plan)
        elif single is not None:
            hits = await self.connector.asearch(self.collection, single[0], single[1], plan.k,
                                                filter=plan.filter)
        else:
            hits = await self.connector.ahybrid_search(self.collection, plan.queries,
                                                       **self._call_kwargs(plan))
        if plan.decode is not None and hits:
            records = await self.connector.aget(self.collection, [h.id for h in hits],
                                                with_vectors=[self.multivector_field])
            hits = self._decoded_maxsim(plan, hits, records)
        docs = self._documents(hits, spec, dense_q)
        if self.rerank is not None and docs:
            docs = list(await self.rerank.acompress_documents(docs, query,
                                                              callbacks=run_manager.get_child()))
        return docs[: plan.final_k]


@dataclass
class _Plan:
    """One query's connector call: branches, stage sizes, and the candidate source."""

    queries: dict[str, Any]
    k: int  # first-stage results (rerank_k when a compressor follows)
    final_k: int
    filter: Any
    rescore: tuple[str, Any] | None = None
    rescore_k: int | None = None
    rescore_mode: RescoreMode = "replace"
    pq: np.ndarray | None = None  # a float query whose candidates come from client-side ADC
    decode: np.ndarray | None = None  # query tokens for MaxSim over decoded token codes
    decode_k: int = 0  # candidates kept after that MaxSim


def _is_fitted(quantizer: Any) -> bool:
    return getattr(quantizer, "thresholds", None) is not None or \
        getattr(quantizer, "centroids", None) is not None


@dataclass(frozen=True)
class _CodeTable:
    """Ids and their stored PQ codes as one uint8 matrix, for client-side ADC; ``row`` maps an
    id to its row (to restrict the search to the ids a filter keeps)."""

    ids: list[str]
    codes: np.ndarray
    row: dict[str, int]

    @classmethod
    def of(cls, records: list[Any], field_name: str) -> "_CodeTable":
        ids = [r.id for r in records]
        codes = np.stack([r.vectors[field_name] for r in records]) if records else \
            np.zeros((0, 0), np.uint8)
        return cls(ids, codes, {d: i for i, d in enumerate(ids)})


def _check_pooling(pooling: Any, multivector: Any) -> None:
    from vectorbridge.encoders.pooling import TokenPooler

    if pooling is not None and (not isinstance(pooling, TokenPooler) or multivector is None):
        raise InvalidInputError("pooling= takes a TokenPooler(...) and pools token vectors: "
                                "give multivector=TokenEncoder(...) too.")


def _check_codec(codec: Any, multivector: Any, fde: Any, dense: Any, sparse: Any) -> None:
    from vectorbridge.encoders.residual import ResidualCodec

    if codec is None:
        return
    if not isinstance(codec, ResidualCodec):
        raise InvalidInputError(f"token_codec= takes a ResidualCodec(...), got {type(codec).__name__}.")
    if multivector is None:
        raise InvalidInputError("token_codec= compresses token vectors: give multivector=TokenEncoder(...).")
    if fde is None and dense is None and sparse is None:
        raise InvalidInputError("the engine cannot search token codes: with token_codec= give a "
                                "first stage, fde=FDEEncoder() (or dense= / sparse=).")


def _prepare_sparse(sparse: Any, texts: list[str], connector: Connector, collection: str,
                    field_name: str) -> bool:
    """Fit a BM25 encoder as the engine needs; returns whether the engine applies IDF."""
    from vectorbridge.encoders.bm25 import BM25Encoder  # keeps torch-free imports light

    if not isinstance(sparse, BM25Encoder):
        return False  # learned sparse models (SPLADE) carry their own term weights
    if sparse.idf == "engine":
        probe = CollectionSpec(name=collection, sparse={field_name: SparseField(idf=True)})
        if not connector.unsupported(probe):
            return True
        sparse.idf = "client"  # this engine has no IDF for client vectors: put it in queries
    if not sparse.n_docs:
        sparse.fit(texts)
    return False


__all__ = ["HybridRetriever", "SCORE_KEY"]
