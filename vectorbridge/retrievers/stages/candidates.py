"""The candidate query: where a retrieval searches, what it asks the engine, and the one
search (or client-side ADC) that finds the candidates, with the filter throughout.

:func:`query_vectors` encodes the query for every field the layout fills (run off the event
loop by the pipeline); :func:`plan_query` builds the plain candidate query from them, and the
stages' ``plan`` hooks reshape it (a compressed field, a rescoring, grouping);
:func:`candidates` runs it. The stages that change it live beside this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.documents import Document

from vectorbridge.connectors.base import Connector, Hit, RescoreMode
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.connectors.spec import CollectionSpec
from vectorbridge.retrievers.documents import to_document
from vectorbridge.retrievers.layout import Layout
from vectorbridge.retrievers.twins import Flow, blocking, twin


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


def query_vectors(layout: Layout, spec: CollectionSpec, text: str) -> dict[str, Any]:
    """The query's vectors for the layout's non-dense fields: ``"sparse"`` (the text itself
    for an engine-BM25 field of ``spec``), ``"tokens"`` and ``"fde"``. CPU work: the
    pipeline runs it off the event loop under ``ainvoke``."""
    out: dict[str, Any] = {}
    if layout.sparse is not None:
        engine_bm25 = getattr(spec.fields.get(layout.names.sparse), "from_text", False)
        out["sparse"] = text if engine_bm25 else layout.sparse.encode_queries([text])[0]
    if layout.multivector is not None:
        out["tokens"] = tokens = layout.multivector.encode_queries([text])[0]
        if layout.fde is not None:
            out["fde"] = layout.fde.encode_queries([tokens])[0]
    return out


def plan_query(layout: Layout, dense_q: Any, vectors: dict[str, Any], *, k: int, first_k: int,
               flt: Any) -> QueryPlan:
    """The plain candidate query: the dense and sparse branches, ``first_k`` deep, filtered;
    the stages' ``plan`` hooks then reshape it."""
    n, queries = layout.names, {}
    if dense_q is not None:
        queries[n.dense] = dense_q
    if "sparse" in vectors:
        queries[n.sparse] = vectors["sparse"]
    return QueryPlan(queries, first_k, k, flt)


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


#: Code tables a retriever keeps (one per collection and tenant read).
MAX_CODE_TABLES = 64


class Memo:
    """What a retriever remembers between queries: the collection's PQ codes (loaded on
    first use) and the spec its encoders were last checked against. :meth:`clear` after the
    collection changes."""

    def __init__(self) -> None:
        # PQ codes by (collection, tenant): a table read for one collection or tenant is
        # never used for another (an alias moved, a per-call tenant)
        self.codes: dict[tuple[str, str | None], CodeTable] = {}
        self.checked: tuple[Any, ...] | None = None

    def clear(self) -> None:
        self.codes, self.checked = {}, None

    def check(self, layout: Layout, spec: Any) -> None:
        """``layout.check(spec)``, once per (spec, encoder objects)."""
        key = layout.identity(spec)
        if self.checked is None or not all(a is b for a, b in zip(key, self.checked)):
            layout.check(spec)
            if self.checked is not None:  # another collection (an alias moved): its codes
                self.codes = {}
            self.checked = key

    def load_codes(self, scope: Scope) -> Flow[CodeTable]:
        """The codes of ``scope.collection`` (the collection an alias named for this query:
        a table loaded for another one is never used for it)."""
        key = (scope.collection, getattr(scope.connector, "tenant_id", None))
        codes = self.codes.get(key)
        if codes is None:
            ids = yield twin(scope.connector, "ids", scope.collection)
            records = yield twin(scope.connector, "get", scope.collection, ids,
                                 with_vectors=[scope.layout.names.codes])
            codes = self.codes[key] = yield blocking(CodeTable.of, records,
                                                     scope.layout.names.codes)
            if len(self.codes) > MAX_CODE_TABLES:  # many per-call tenants: the oldest goes
                self.codes.pop(next(iter(self.codes)))
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
        cand = yield blocking(_adc_candidates, scope.layout, table, plan, allowed)
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


def to_documents(hits: list[Hit], text_key: str, score_key: str) -> list[Document]:
    return [to_document(h.id, h.payload, text_key, {score_key: h.score}) for h in hits]


__all__ = ["Scope", "QueryPlan", "query_vectors", "plan_query", "CodeTable", "Memo",
           "candidates", "to_documents"]
