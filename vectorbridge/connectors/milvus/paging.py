"""Milvus pages in primary-key order, whatever order an engine returns a query's rows in.

Milvus Lite returns a query's rows in insertion order and evaluates every filter by a full
scan, whatever the ``limit`` (docs: Operations), and a query returns at most 16,384 rows;
pymilvus' ``query_iterator`` assumes rows ordered by key (and pastes the last key into its
expression unescaped). So pages are cut from *ranges* of ids here:

- a probe (ids above the cursor, up to 16,384) gives a sample of the ids still to come;
- a range ``(cursor, hi)`` whose upper bound is taken from the sorted sample, sized by the
  density learned from the last range, is queried for ids only; an answer under the cap
  holds every id of the range, sorted here and kept (at most 16,384 ids: memory flat);
- pages are served from the kept range, each page's rows read by id (fast: a key look-up).

So a full pass costs about one scan per ``0.7 * 16,384`` ids plus one look-up per page,
instead of two scans per page. The kept range is a cache keyed by collection and filter: any cursor inside
it is served from it, so a resumed scroll or a second reader of the same collection is
correct. A new pass (no cursor), and any write through this engine to the collection, forget
what was learned; points written by others during a scroll may or may not be returned, as
with any scroll.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from vectorbridge.connectors.calls import Op, call
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.milvus.filter import filter_columns, literal, to_milvus
from vectorbridge.connectors.milvus.schema import _MAX_QUERY_ROWS
from vectorbridge.connectors.results import Record
from vectorbridge.connectors.spec import CollectionSpec

#: Share of the per-query row cap a range aims to hold (room for the density estimate's error).
_FILL = 0.7


@dataclass
class _Ranges:
    """What one (collection, filter) scroll has learned: the ids of ``(lo, hi)`` sorted (all
    of them), a sorted sample of the ids above, and how many ids one sample id stands for."""

    lo: str | None = None
    hi: str | None = None
    ids: list[str] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    density: float = 0.0

    def covers(self, cursor: str | None) -> bool:
        """Whether every id above ``cursor`` and under ``hi`` is in ``ids``."""
        if not self.ids and self.hi is None and self.lo is None and not self.sample:
            return False  # nothing learned yet
        if cursor is None:
            return self.lo is None
        return (self.lo is None or cursor >= self.lo) and (self.hi is None or cursor < self.hi)


class MilvusPaging:
    """``op_scroll`` of :class:`~vectorbridge.connectors.milvus.MilvusEngine` (a mixin: the
    rows are read by its ``op_get``, companion token rows included)."""

    op_get: Any
    server_version: str
    _scrolls: dict[tuple[str, str], _Ranges]

    def _expr(self, spec: CollectionSpec, flt: Filter | None) -> str:
        """``flt`` as this server's expression (typed columns where it reads them right)."""
        return to_milvus(flt, filter_columns(spec, self.server_version))

    def op_scroll(self, spec: CollectionSpec, cursor: str | None, limit: int,
                  flt: Filter | None,
                  with_vectors: bool | list[str]) -> Op[tuple[list[Record], str | None]]:
        expr = self._expr(spec, flt) or 'id != ""'
        if not hasattr(self, "_scrolls"):
            self._scrolls = {}
        if cursor is None:  # a new pass learns the ranges anew
            self._scrolls[(spec.name, expr)] = _Ranges()
        ranges = self._scrolls.setdefault((spec.name, expr), _Ranges())
        page: list[str] = []
        if not ranges.covers(cursor):
            yield from self._fill(spec.name, expr, cursor, ranges)
        while True:
            start = 0 if cursor is None else bisect_right(ranges.ids, cursor)
            take = ranges.ids[start:start + limit - len(page)]
            page += take
            cursor = page[-1] if page else cursor
            if len(page) == limit or ranges.hi is None:
                break
            # this range is read to its end: every id above the cursor is at or above hi
            yield from self._fill(spec.name, expr, cursor, ranges)
        more = ranges.hi is not None or bisect_right(ranges.ids, cursor or "") < len(ranges.ids) \
            if page else False
        found = {r.id: r for r in (yield from self.op_get(spec, page, with_vectors))} if page else {}
        return [found[i] for i in page if i in found], (page[-1] if more else None)

    def forget_scrolls(self, name: str) -> None:
        """Drop what scrolls of collection ``name`` learned (this engine wrote to it)."""
        for key in [k for k in getattr(self, "_scrolls", {}) if k[0] == name]:
            del self._scrolls[key]

    def _fill(self, name: str, expr: str, cursor: str | None, ranges: _Ranges) -> Op[None]:
        """Keep every id of a range starting above ``cursor`` (see the module docstring)."""
        above = [expr] + ([f"id > {literal(cursor)}"] if cursor is not None else [])
        sample = [s for s in ranges.sample if cursor is None or s > cursor]
        if len(sample) < 2:  # a new probe: ids above the cursor, as the engine returns them
            got = yield from self._ids(name, above)
            if len(got) < _MAX_QUERY_ROWS:  # all of them
                ranges.lo, ranges.hi, ranges.ids, ranges.sample = cursor, None, sorted(got), []
                return
            sample = sorted(got)
        aim = _FILL * _MAX_QUERY_ROWS
        m = max(1, min(len(sample) - 1, int(aim / ranges.density) if ranges.density else
                       len(sample) // 8))
        density = 0.0
        while True:
            hi = sample[m]
            got = yield from self._ids(name, above + [f"id < {literal(hi)}"])
            if len(got) < _MAX_QUERY_ROWS:
                density = max(len(got), 1) / m if density == 0.0 else 0.0
                break
            # capped: every id of this answer lies in (cursor, hi); its median is a strictly
            # lower bound, so the range shrinks on each round whatever order rows come in
            sample = sorted(got)
            m = len(sample) // 2
            density = -1.0  # the sample changed: the last density no longer applies
        ranges.lo, ranges.hi, ranges.ids = cursor, hi, sorted(got)
        ranges.density = max(density, 0.0)
        ranges.sample = sample[m:]

    def _ids(self, name: str, conds: list[str]) -> Op[list[str]]:
        rows = yield call("query", name, filter=" and ".join(f"({c})" for c in conds),
                          output_fields=["id"], limit=_MAX_QUERY_ROWS)
        return [r["id"] for r in rows]


__all__ = ["MilvusPaging"]
