"""A retrieval = a layout + an ordered list of stages, written once for sync and async.

:class:`Pipeline` is what ``HybridRetriever`` runs: its methods are flows
(:mod:`~vectorbridge.retrievers.twins`) that ``invoke`` drives with :func:`run` and
``ainvoke`` with :func:`arun`, so the two paths cannot drift apart. It is built from the
retriever's options on each call (a few references, no I/O); what must survive between calls
lives in the retriever's :class:`~vectorbridge.retrievers.stages.Memo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from langchain_core.documents import Document

from vectorbridge.connectors.base import RescoreMode
from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.diversity import client_mmr, native_mmr
from vectorbridge.retrievers.documents import fill_ids, to_payloads
from vectorbridge.retrievers.stages import Memo, Scope, calibrate, candidates, decoded_maxsim, \
    feedback, plan_query, rerank, to_documents
from vectorbridge.retrievers.twins import Flow, twin


@dataclass(frozen=True)
class Pipeline:
    """The stages of ``HybridRetriever`` and their settings (its attributes say what each
    option does)."""

    scope: Scope
    memo: Memo
    k: int = 10
    filter: Any = None
    maxsim: RescoreMode | None = None
    prf: Any = None
    rerank: Any = None
    rerank_k: int = 100
    calibrator: Any = None
    score_threshold: float | None = None
    relevance_key: str = "relevance"
    score_key: str = "score"
    group_by: str | None = None
    group_size: int = 1
    formula: Any = None
    mmr: Any = None

    def _first_k(self, k: int) -> int:
        first_k = max(self.rerank_k, k) if self.rerank is not None else k
        if self.mmr is not None:  # MMR picks k of the first stage's fetch_k
            first_k = max(first_k, self.mmr.fetch_k)
        if self.calibrator is not None:  # its input includes the query's top scores
            first_k = max(first_k, self.calibrator.score_features)
        return first_k

    def retrieve(self, query: str, k: int | None, flt: Any, callbacks: Any) -> Flow[list[Document]]:
        """The documents for ``query``: plan, feedback, candidates, decoding, MMR,
        calibration, reranking, in that order (each only where its option is set)."""
        scope, layout, conn = self.scope, self.scope.layout, self.scope.connector
        spec = yield twin(conn, "spec", scope.collection)
        self.memo.check(layout, spec)
        dense_q = (yield twin(layout.dense, "embed_query", query)) if layout.dense is not None else None
        k = check_k(self.k if k is None else k)
        plan = plan_query(layout, spec, query, dense_q, k=k, first_k=self._first_k(k),
                          flt=self.filter if flt is None else flt, rerank_k=self.rerank_k,
                          maxsim=self.maxsim)
        plan.formula = self.formula
        if self.group_by is not None:  # k documents of group_size chunks each
            plan.group_by, plan.group_size = self.group_by, self.group_size
            plan.final_k = k * self.group_size
        text_key = layout.read_key(spec)
        if self.prf is not None:
            yield from feedback(scope, self.prf, query, plan, text_key)
        hits = None
        if self.mmr is not None:
            hits = yield from native_mmr(conn, scope.collection, layout.names.dense,
                                         plan.queries, k, self.mmr, plan.filter)
        if hits is None:
            hits = yield from candidates(scope, plan, self.memo)
            if plan.decode is not None and hits:
                hits = yield from decoded_maxsim(scope, plan, hits)
            if self.mmr is not None:
                hits = yield from client_mmr(conn, scope.collection, layout.names.dense,
                                             dense_q, hits, k, self.mmr)
        docs = to_documents(hits, text_key, self.score_key)
        if self.calibrator is not None:
            docs = calibrate(self.calibrator, self.score_threshold, self.relevance_key, docs,
                             hits, dense_q)
        if self.rerank is not None:
            docs = yield from rerank(self.rerank, docs, query, callbacks)
        return docs[: plan.final_k]

    def add(self, texts: Sequence[str], ids: Sequence[str | None] | None,
            metadatas: Sequence[dict[str, Any] | None] | None, *, batch_size: int,
            recreate: bool = False) -> Flow[list[str]]:
        """Encode ``texts`` with the layout's encoders and upsert them, creating the
        collection on first use (an existing one must have the fields these encoders fill)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
        if not isinstance(recreate, bool):
            raise InvalidInputError(f"recreate must be True or False, got {recreate!r}.")
        texts = list(texts)
        if not texts:
            return []
        layout, conn = self.scope.layout, self.scope.connector
        id_list = fill_ids(ids, len(texts))
        payloads = to_payloads(texts, metadatas, layout.write_key())
        spec, vectors = yield from layout.encode(texts, conn.capabilities)
        yield twin(conn, "create_collection", spec, recreate=recreate)
        yield twin(conn, "upsert", spec.name, id_list, vectors, payloads, batch_size=batch_size)
        self.memo.clear()
        return id_list

    def delete(self, ids: Sequence[str] | None, flt: Any) -> Flow[None]:
        """Delete points by id and / or filter."""
        yield twin(self.scope.connector, "delete", self.scope.collection, ids, filter=flt)
        self.memo.clear()


__all__ = ["Pipeline"]
