"""Multi-vector fields on Milvus: a companion collection ``<name>__<field>`` per field, one
row per token (``doc_id``, ``pos``, ``vec``), because neither Milvus Lite nor Milvus 2.3
stores a matrix per row. Search is the gather-and-rerank of late-interaction systems: each
query token fetches its ``multivector_candidates`` nearest tokens, and the union of their
documents is rescored with exact MaxSim on their full token matrices."""

from __future__ import annotations

from typing import Any

import numpy as np

from vectorbridge.connectors.calls import Call, Op, call
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.milvus.convert import to_token_rows
from vectorbridge.connectors.milvus.filter import ids_expr
from vectorbridge.connectors.milvus.schema import _MAX_QUERY_ROWS, _METRIC, companion
from vectorbridge.connectors.results import Hit, Rescore, chunks
from vectorbridge.connectors.spec import CollectionSpec, MultiVectorField
from vectorbridge.connectors.validation import Rows


#: Document ids per token search under a filter (``doc_id in [...]`` stays bounded).
FILTER_PAGE = 4096


class TokenCollections:
    """The token-collection operations of :class:`MilvusEngine` (a mixin: it uses the
    engine's retry guard, filter evaluation and rescoring)."""

    multivector_candidates: int
    remote: bool
    _guard: Any
    transient: Any
    _matching_ids: Any
    op_rescore: Any

    def _replace_tokens(self, spec: CollectionSpec, rows: Rows, name: str) -> Op[None]:
        """Token counts can change between versions of a document: replace, don't merge. An
        insert that fails mid-way may have landed: it is not retried alone (that could
        duplicate tokens); the whole delete-then-insert step is replayed."""
        tokens = companion(spec.name, name)
        attempts = self._guard.retry.attempts
        for attempt in range(1, attempts + 1):
            try:
                yield call("delete", tokens, filter=ids_expr("doc_id", rows.ids))
                for part in chunks(to_token_rows(rows, name), 4096):
                    yield Call("insert", (tokens, list(part)), idempotent=False)
                break
            except Exception as e:
                if not (self.remote and self.transient(e) and attempt < attempts):
                    raise

    def _token_matrices(self, spec: CollectionSpec, field_name: str,
                        ids: list[str]) -> Op[dict[str, np.ndarray]]:
        out: dict[str, list[tuple[int, list[float]]]] = {}
        pending = [list(part) for part in chunks(ids, 32)]
        while pending:
            part = pending.pop()
            rows = yield call("query", companion(spec.name, field_name),
                              filter=ids_expr("doc_id", part),
                              output_fields=["doc_id", "pos", "vec"], limit=_MAX_QUERY_ROWS)
            if len(rows) == _MAX_QUERY_ROWS and len(part) > 1:  # may be cut: ask in halves
                pending += [part[: len(part) // 2], part[len(part) // 2:]]
                continue
            for r in rows:
                out.setdefault(r["doc_id"], []).append((int(r["pos"]), r["vec"]))
        return {d: np.asarray([v for _, v in sorted(toks, key=lambda t: t[0])], dtype=np.float32)
                for d, toks in out.items()}

    def _maxsim_search(self, spec: CollectionSpec, field_name: str, f: MultiVectorField,
                       query: np.ndarray, k: int, flt: Filter | None) -> Op[list[Hit]]:
        """Token rows carry no payload, so a filter is first resolved to the documents it
        keeps; their ids go into the token searches :data:`FILTER_PAGE` at a time (an
        expression of every id would grow with the collection), and each query token keeps
        its nearest ``multivector_candidates`` over all pages, as one search would."""
        pages = [""]
        if flt is not None:
            allowed = yield from self._matching_ids(spec, flt)
            if not allowed:
                return []
            pages = [ids_expr("doc_id", list(p)) for p in chunks(allowed, FILTER_PAGE)]
        limit = self.multivector_candidates
        nearest: list[list[tuple[float, str]]] = [[] for _ in range(len(query))]
        for expr in pages:
            res = yield call("search", companion(spec.name, field_name), data=query.tolist(),
                             anns_field="vec", limit=limit, filter=expr,
                             output_fields=["doc_id"],
                             search_params={"metric_type": _METRIC[f.metric]})
            for kept, per_token in zip(nearest, res):  # similarities: higher is nearer
                kept.extend((h["distance"], h["entity"]["doc_id"]) for h in per_token)
        candidates = sorted({d for kept in nearest
                             for _, d in sorted(kept, key=lambda t: -t[0])[:limit]})
        rescore = Rescore(field_name, f, query, len(candidates))
        return (yield from self.op_rescore(spec, rescore, candidates, k))


__all__ = ["FILTER_PAGE", "TokenCollections"]
