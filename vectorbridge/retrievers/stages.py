"""The stages of one retrieval, each one idea, each a flow (:mod:`~vectorbridge.retrievers.twins`).

A query goes through: :func:`plan_query` (which fields, which queries, how deep each stage
looks), optionally :func:`feedback` (pseudo-relevance feedback rewrites the queries),
:func:`candidates` (one engine search, a fused hybrid search in the engine, or client-side
ADC over PQ codes, always with the filter), optionally :func:`decoded_maxsim` (exact MaxSim
over residual token codes), :func:`calibrate` (relevance probabilities and a threshold) and
:func:`rerank` (any LangChain document compressor). The order and the options live in
:class:`~vectorbridge.retrievers.pipeline.Pipeline`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from langchain_core.documents import Document

from vectorbridge.connectors.base import Connector, Hit, RescoreMode, rank_key
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.connectors.results import unit_rows
from vectorbridge.connectors.spec import CollectionSpec
from vectorbridge.retrievers.documents import to_document
from vectorbridge.retrievers.layout import Layout
from vectorbridge.retrievers.twins import Flow, twin


@dataclass(frozen=True)
class Scope:
    """Where and how a retrieval searches: the collection, its layout, the fusion."""

    connector: Connector
    layout: Layout
    fusion: Fusion
    prefetch_k: int

    @property
    def collection(self) -> str:
        return self.layout.collection


@dataclass
class QueryPlan:
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
    group_by: str | None = None  # k counts groups of this payload key, group_size hits each
    group_size: int = 1
    formula: Any = None  # a ScoreFormula over the first stage


def plan_query(layout: Layout, spec: CollectionSpec, query: str, dense_q: Any, *, k: int,
               first_k: int, flt: Any, rerank_k: int, maxsim: RescoreMode | None) -> QueryPlan:
    """The fields to search, their queries, and how many candidates each stage sees (an
    engine-BM25 field of ``spec`` is queried with the text itself)."""
    n, queries = layout.names, {}
    plan = QueryPlan(queries, first_k, k, flt)
    if dense_q is not None:
        q = np.asarray(dense_q, dtype=np.float32)
        if layout.reducer is not None:  # the reduced field finds candidates, full vectors rank
            queries[n.reduced] = layout.reducer.transform(unit_rows(q[None]))[0]
            if layout.full_vectors:
                plan.rescore = (n.dense, q)
                plan.rescore_k = int(np.ceil(layout.oversample * first_k))
                # alone it is replaced; beside sparse, the full-vector ranking joins the fusion
                plan.rescore_mode = "fuse" if layout.sparse is not None else "replace"
        elif layout.quantizer is None or layout.engine_quantized:
            queries[n.dense] = q  # engine quantization rescores by itself
        elif layout.client_pq:  # client-side ADC over the codes finds candidates
            plan.pq, plan.rescore_k = q, int(np.ceil(layout.oversample * first_k))
        else:  # codes find candidates in the engine, the float vectors rank them
            queries[n.codes] = layout.quantizer.encode(q[None])[0]
            plan.rescore = (n.dense, q)
            plan.rescore_k = int(np.ceil(layout.oversample * first_k))
    if layout.sparse is not None:
        engine_bm25 = getattr(spec.fields.get(n.sparse), "from_text", False)
        queries[n.sparse] = query if engine_bm25 else layout.sparse.encode_queries([query])[0]
    if layout.multivector is not None:
        tokens = layout.multivector.encode_queries([query])[0]
        if layout.fde is not None:
            queries[n.fde] = layout.fde.encode_queries([tokens])[0]
        if layout.token_codec is not None:  # codes: fetched, decoded, MaxSim client-side
            plan.decode, plan.decode_k = tokens, first_k
            plan.k = max(rerank_k, first_k)
            return plan
        plan.rescore = (n.multivector, tokens)
        plan.rescore_k = max(rerank_k, first_k)
        plan.rescore_mode = maxsim or ("replace" if layout.fde is not None else "fuse")
    return plan


# -- candidates -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeTable:
    """Ids and their stored PQ codes as one uint8 matrix, for client-side ADC; ``row`` maps an
    id to its row (to restrict the search to the ids a filter keeps)."""

    ids: list[str]
    codes: np.ndarray
    row: dict[str, int]

    @classmethod
    def of(cls, records: list[Any], field_name: str) -> "CodeTable":
        ids = [r.id for r in records]
        codes = np.stack([r.vectors[field_name] for r in records]) if records else \
            np.zeros((0, 0), np.uint8)
        return cls(ids, codes, {d: i for i, d in enumerate(ids)})


class Memo:
    """What a retriever remembers between queries: the collection's PQ codes (loaded on
    first use) and the spec its encoders were last checked against. :meth:`clear` after the
    collection changes."""

    def __init__(self) -> None:
        self.codes: CodeTable | None = None
        self.codes_of: str | None = None  # the collection the codes were read from
        self.checked: tuple[Any, ...] | None = None

    def clear(self) -> None:
        self.codes = self.checked = None

    def check(self, layout: Layout, spec: Any) -> None:
        """``layout.check(spec)``, once per (spec, encoder objects)."""
        key = layout.identity(spec)
        if self.checked is None or not all(a is b for a, b in zip(key, self.checked)):
            layout.check(spec)
            if self.checked is not None:  # another collection (an alias moved): its codes
                self.codes = None
            self.checked = key

    def load_codes(self, scope: Scope) -> Flow[CodeTable]:
        """The codes of ``scope.collection`` (the collection an alias named for this query:
        a table loaded for another one is never used for it)."""
        codes = self.codes
        if codes is None or self.codes_of != scope.collection:
            ids = yield twin(scope.connector, "ids", scope.collection)
            records = yield twin(scope.connector, "get", scope.collection, ids,
                                 with_vectors=[scope.layout.names.codes])
            codes = CodeTable.of(records, scope.layout.names.codes)
            self.codes, self.codes_of = codes, scope.collection
        return codes


def _adc_candidates(layout: Layout, table: CodeTable, plan: QueryPlan,
                    allowed: list[str] | None) -> list[str]:
    """Top ``rescore_k`` ids by ADC over the codes; with a filter, over the codes of the ids
    the engine says match it only (so a selective filter still yields min(k, matching))."""
    if allowed is None:
        ids, codes = table.ids, table.codes
    else:
        rows = [table.row[d] for d in allowed if d in table.row]
        ids, codes = [table.ids[i] for i in rows], table.codes[rows]
    if not ids:
        return []
    _, idx = layout.quantizer.search(codes, plan.pq[None], min(len(ids), plan.rescore_k))
    return [ids[i] for i in idx[0] if i >= 0]


def candidates(scope: Scope, plan: QueryPlan, memo: Memo) -> Flow[list[Hit]]:
    """The first stage: client-side ADC + exact rescoring, one plain search, or a hybrid
    search fused (and rescored) in the engine where it can; the filter applies throughout."""
    conn, name = scope.connector, scope.collection
    if plan.pq is not None:
        table = yield from memo.load_codes(scope)
        allowed = None if plan.filter is None else \
            (yield twin(conn, "ids", name, filter=plan.filter))
        cand = _adc_candidates(scope.layout, table, plan, allowed)
        if not cand:
            return []
        return (yield twin(conn, "rescore", name, scope.layout.names.dense, plan.pq, cand,
                           plan.k, filter=plan.filter))
    extra = {"group_by": plan.group_by, "group_size": plan.group_size} if plan.group_by else {}
    if plan.formula is not None:
        extra["formula"] = plan.formula
    if len(plan.queries) == 1 and plan.rescore is None:  # no fusion needed
        field_name, q = next(iter(plan.queries.items()))
        return (yield twin(conn, "search", name, field_name, q, plan.k, filter=plan.filter,
                           **extra))
    return (yield twin(conn, "hybrid_search", name, plan.queries, k=plan.k, filter=plan.filter,
                       prefetch_k=scope.prefetch_k, fusion=scope.fusion, rescore=plan.rescore,
                       rescore_k=plan.rescore_k, rescore_mode=plan.rescore_mode, **extra))


def decoded_maxsim(scope: Scope, plan: QueryPlan, hits: list[Hit]) -> Flow[list[Hit]]:
    """The first stage's hits re-ranked by exact MaxSim over their decoded token codes."""
    from vectorbridge.encoders.scoring import maxsim

    field_name, codec = scope.layout.names.multivector, scope.layout.token_codec
    records = yield twin(scope.connector, "get", scope.collection, [h.id for h in hits],
                         with_vectors=[field_name])
    codes = {r.id: r.vectors.get(field_name) for r in records}
    scored = [replace(h, score=maxsim(plan.decode, codec.from_bytes(codes[h.id])))
              for h in hits if codes.get(h.id) is not None and len(codes[h.id])]
    scored.sort(key=rank_key)  # the connectors' order: ties by id
    return scored[: plan.decode_k]


# -- pseudo-relevance feedback (the methods: retrievers/feedback.py) -------------------------
def feedback(scope: Scope, prf: Any, query: str, plan: QueryPlan, text_key: str) -> Flow[None]:
    """One feedback round: search, fetch the feedback documents, rewrite ``plan.queries``
    (Rocchio or the engine's feedback query on the dense query, RM3 on the BM25 query)."""
    from vectorbridge.retrievers.feedback import expand_queries, feedback_rounds

    conn, name, n = scope.connector, scope.collection, scope.layout.names
    rounds = feedback_rounds(prf, plan.queries, n.dense, n.sparse)
    results = []
    for r in rounds:
        if len(r.queries) == 1:
            field_name, q = next(iter(r.queries.items()))
            hits = yield twin(conn, "search", name, field_name, q, r.depth, filter=plan.filter)
        else:
            hits = yield twin(conn, "hybrid_search", name, r.queries, k=r.depth,
                              filter=plan.filter, prefetch_k=max(scope.prefetch_k, r.depth),
                              fusion=scope.fusion)
        results.append(hits)
    ids = list(dict.fromkeys(h.id for hits in results for h in hits))
    fields = [n.dense] if any(n.dense in r.fed for r in rounds) else False
    records = (yield twin(conn, "get", name, ids, with_vectors=fields)) if ids else []
    expand_queries(prf, query, plan.queries, rounds, results, records, dense_field=n.dense,
                   sparse_field=n.sparse, sparse=scope.layout.sparse, text_key=text_key,
                   engine_feedback=conn.capabilities.native_feedback)


# -- documents ---------------------------------------------------------------------------------
def to_documents(hits: list[Hit], text_key: str, score_key: str) -> list[Document]:
    return [to_document(h.id, h.payload, text_key, {score_key: h.score}) for h in hits]


def calibrate(calibrator: Any, threshold: float | None, relevance_key: str,
              docs: list[Document], hits: list[Hit], dense_q: Any) -> list[Document]:
    """Each document's calibrated relevance in its metadata; with ``threshold``, only the
    documents at least that relevant (a per-query cutoff instead of a fixed k)."""
    if not hits:
        return docs
    scores = [h.score for h in hits]
    scores += scores[-1:] * (calibrator.score_features - len(scores))  # few hits: pad
    rel = calibrator.calibrate(np.asarray(dense_q, np.float32)[None], np.asarray(scores)[None])[0]
    for d, p in zip(docs, rel):
        d.metadata[relevance_key] = float(p)
    if threshold is None:
        return docs
    return [d for d, p in zip(docs, rel) if p >= threshold]


def rerank(compressor: Any, docs: list[Document], query: str, callbacks: Any) -> Flow[list[Document]]:
    """A LangChain ``BaseDocumentCompressor`` over the first stage's documents."""
    if not docs:
        return docs
    return list((yield twin(compressor, "compress_documents", docs, query, callbacks=callbacks)))


__all__ = ["Scope", "QueryPlan", "plan_query", "CodeTable", "Memo", "candidates",
           "decoded_maxsim", "feedback", "to_documents", "calibrate", "rerank"]
