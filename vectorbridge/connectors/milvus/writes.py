"""Safe writes on Milvus: the points an operation selects, counted deletes, payload patches
(Milvus has no write modes of its own: the connector checks them)."""

from __future__ import annotations

import re
from typing import Any

from vectorbridge.connectors.calls import Op, call
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.milvus.convert import (
    payload_columns, read_stored, stored_column, to_entities,
)
from vectorbridge.connectors.milvus.filter import PAYLOAD_FIELD, ids_expr
from vectorbridge.connectors.milvus.schema import in_companion
from vectorbridge.connectors.results import chunks
from vectorbridge.connectors.spec import CollectionSpec
from vectorbridge.connectors.writes import GRPC_WIRE, MILVUS_MAX_REQUEST_BYTES, merged_payload, \
    plan_requests, rows_of


class MilvusWrites:
    """The safe-write operations of :class:`~vectorbridge.connectors.milvus.MilvusEngine` (a
    mixin: it uses the engine's version, filter resolution and the Engine defaults)."""

    name: str
    is_lite: bool
    server_version: str
    _matching_ids: Any
    _expr: Any

    #: Milvus' proxy takes gRPC messages up to 64 MiB by default (Milvus Lite's server 256
    #: MiB: a file or a Lite server splits as a server would).
    max_request_bytes = MILVUS_MAX_REQUEST_BYTES
    wire = GRPC_WIRE
    #: ``upsert(partial_update=True)`` rewrites only the payload columns (Milvus Lite 3.2 and
    #: Milvus >= 2.6); ``None``: decided from the server's version. Else whole rows are read
    #: and written back.
    partial_update: bool | None = None

    def _partial_update(self) -> bool:
        if self.partial_update is not None:
            return self.partial_update
        m = re.match(r"v?(\d+)\.(\d+)", self.server_version)
        return self.is_lite or (m is not None and (int(m.group(1)), int(m.group(2))) >= (2, 6))

    def op_selected_ids(self, spec: CollectionSpec, ids: list[str] | None,
                        flt: Filter | None) -> Op[list[str]]:
        out: list[str] = []
        for part in chunks(ids or [], 1024):
            part = list(part)
            rows = yield call("query", spec.name, filter=ids_expr("id", part),
                              output_fields=["id"], limit=len(part))
            found = {r["id"] for r in rows}
            out += [i for i in part if i in found]
        if flt is not None:
            seen = set(out)
            out += [i for i in sorted((yield from self._matching_ids(spec, flt))) if i not in seen]
        return out

    def op_count_selected(self, spec: CollectionSpec, ids: list[str] | None,
                          flt: Filter | None) -> Op[int]:
        if flt is None:  # ids only: no payload crosses the wire
            return len((yield from self.op_selected_ids(spec, ids, None)))
        return (yield from super().op_count_selected(spec, ids, flt))  # type: ignore[misc]

    def op_delete_counted(self, spec: CollectionSpec, ids: list[str] | None,
                          flt: Filter | None) -> Op[int]:
        """A filter alone: one delete, counted by Milvus (``delete_count``, or the deleted
        primary keys from Milvus Lite). With ids, Milvus counts the ids asked for, stored or
        not: the points are counted just before instead."""
        if ids or flt is None or spec.multivector:
            return (yield from super().op_delete_counted(spec, ids, flt))
        res = yield call("delete", spec.name, filter=self._expr(spec, flt))
        return len(res) if isinstance(res, list) else int((res or {}).get("delete_count", 0))

    def op_update_payload(self, spec: CollectionSpec, ids: list[str] | None, flt: Filter | None,
                          patch: dict[str, Any]) -> Op[int]:
        """The stored payloads are read, merged and checked (64 KiB) before anything is
        written; then ``partial_update`` writes the payload columns only, or (Milvus 2.3 -
        2.5) each point's row is read whole (the raw text of an engine-BM25 field included)
        and written back. Token rows of multi-vector fields are left as they are. A change
        another writer makes to a point between the read and the write is lost."""
        targets = yield from self.op_selected_ids(spec, ids, flt)
        merged: dict[str, dict[str, Any]] = {}
        for part in chunks(targets, 256):  # 256 payloads of <= 64 KiB: a 16 MiB answer
            part = list(part)
            for r in (yield call("query", spec.name, filter=ids_expr("id", part),
                                 output_fields=["id", PAYLOAD_FIELD], limit=len(part))):
                merged[r["id"]] = merged_payload(r["id"], dict(r.get(PAYLOAD_FIELD) or {}), patch)
        order = list(merged)
        if self._partial_update():
            for part in chunks(order, 256):  # payload + its key copies: <= 32 MiB a request
                yield call("upsert", spec.name, [{"id": pid, **payload_columns(spec, merged[pid])}
                                                 for pid in part], partial_update=True)
            return len(order)
        fields = {n: f for n, f in spec.fields.items() if not in_companion(f)}
        stored = [stored_column(n, f) for n, f in fields.items()]
        done = 0
        for part in chunks(order, 128):
            part = list(part)
            res = yield call("query", spec.name, filter=ids_expr("id", part),
                             output_fields=["id", *stored], limit=len(part))
            if not res:
                continue
            vectors = [{n: read_stored(f, r, n) if n in fields else None
                        for n, f in spec.fields.items()} for r in res]
            rows = rows_of(spec, [r["id"] for r in res], vectors, [merged[r["id"]] for r in res])
            for a, b in plan_requests(spec, rows, len(rows), self.wire, self.max_request_bytes,
                                      self.name):
                yield call("upsert", spec.name, to_entities(spec, rows.slice(a, b)))
            done += len(res)
        return done


__all__ = ["MilvusWrites"]
