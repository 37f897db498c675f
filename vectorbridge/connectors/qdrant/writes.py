"""Safe writes on Qdrant: write modes, the points an operation selects, payload patches."""

from __future__ import annotations

from typing import Any


from vectorbridge.connectors.calls import Op, call
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.qdrant.convert import ORIGINAL_ID_KEY, _split_payload, point_id
from vectorbridge.connectors.qdrant.filter import to_qdrant
from vectorbridge.connectors.spec import CollectionSpec
from vectorbridge.connectors.validation import Rows
from vectorbridge.extras import requires

with requires("qdrant", "QdrantConnector"):
    from qdrant_client import models


class QdrantWrites:
    """The safe-write operations of :class:`~vectorbridge.connectors.qdrant.QdrantEngine` (a
    mixin: it uses the engine's ``op_upsert`` and ``op_ids``). Qdrant applies the write modes
    itself and updates payloads in place, counting neither: counts are taken just before."""

    op_upsert: Any
    op_ids: Any

    #: qdrant-client's ``upsert(update_mode=...)``: INSERT_ONLY / UPDATE_ONLY, applied by a
    #: server, by Qdrant Edge (``qdrant_edge.UpdateMode``) and by the local mode alike.
    write_modes = frozenset({"insert", "update"})

    def op_write(self, spec: CollectionSpec, rows: Rows, mode: str) -> Op[None]:
        yield from self.op_upsert(spec, rows, update_mode=_UPDATE_MODES[mode])

    def op_selected_ids(self, spec: CollectionSpec, ids: list[str] | None,
                        flt: Filter | None) -> Op[list[str]]:
        out: list[str] = []
        for start in range(0, len(ids or ()), 4096):  # ids only: no payload crosses the wire
            part = ids[start:start + 4096]  # type: ignore[index]
            points = yield call("retrieve", spec.name, ids=[point_id(i) for i in part],
                                with_payload=[ORIGINAL_ID_KEY], with_vectors=False)
            found = {_split_payload(p)[0] for p in points}
            out += [i for i in part if i in found]
        if flt is not None:
            seen = set(out)
            out += [i for i in sorted((yield from self.op_ids(spec, flt))) if i not in seen]
        return out

    def op_count_selected(self, spec: CollectionSpec, ids: list[str] | None,
                          flt: Filter | None) -> Op[int]:
        res = yield call("count", spec.name, count_filter=_selection(ids, flt), exact=True)
        return int(res.count)

    def op_update_payload(self, spec: CollectionSpec, ids: list[str] | None, flt: Filter | None,
                          patch: dict[str, Any]) -> Op[int]:
        """Qdrant's ``set_payload`` (keys replaced, others kept) on the points the ids or
        the filter select, counted just before: a point written by someone else between the
        count and the update can be updated without being counted."""
        n = yield from self.op_count_selected(spec, ids, flt)
        if n:
            yield call("set_payload", spec.name, payload=patch, points=models.FilterSelector(
                filter=_selection(ids, flt)), wait=True)
        return n


_UPDATE_MODES = {"insert": models.UpdateMode.INSERT_ONLY, "update": models.UpdateMode.UPDATE_ONLY}


def _selection(ids: list[str] | None, flt: Filter | None) -> models.Filter:
    """A Qdrant filter of the points among ``ids`` or matching ``flt``."""
    conds: list[Any] = []
    if ids:
        conds.append(models.HasIdCondition(has_id=[point_id(i) for i in ids]))
    if flt is not None:
        conds.append(to_qdrant(flt))
    return models.Filter(should=conds)


__all__ = ["QdrantWrites"]
