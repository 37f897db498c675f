"""The reference engine: exact search over numpy arrays in memory.

Two uses. It is the oracle the property tests compare every engine against (brute force:
no index, no approximation, the filter evaluated by :meth:`Filter.matches`), and it shows
what a new engine costs: this module (a store with a handful of methods, and the
:class:`~vectorbridge.connectors.engine.Engine` whose operations call it) plus one line in
:mod:`vectorbridge.connectors.registry`. Everything else (validation, batching, fusion,
rescoring, the async twins) comes from the :class:`~vectorbridge.connectors.base.Connector`
that drives it.

Not for production data: nothing is persisted, and every search scores every point.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.calls import Op, call
from vectorbridge.connectors.engine import Capabilities, Engine
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.qdrant.capabilities import QDRANT
from vectorbridge.connectors.results import Hit, Record, exact_score
from vectorbridge.connectors.spec import CollectionSpec, FieldType
from vectorbridge.connectors.validation import Rows

#: Everything a spec can describe, held exactly: fusion always client-side (the reference
#: formulas), quantization configs stored but searched exactly, no engine IDF or BM25.
REFERENCE = replace(QDRANT, engine_idf=False, engine_bm25=False, bm25_global_stats=False,
                    native_grouping=False,
                    native_mmr=False, native_feedback=False, native_formula=False,
                    acorn=False, native_maxsim=False, hybrid_search=False,
                    native_fusion=frozenset(), weighted_fusion=frozenset(), quantization=False)


class ReferenceStore:
    """Collections as dicts ``{id: (payload, {field: vector})}``; the "client" of
    :class:`ReferenceConnector`, whose calls name these methods."""

    def __init__(self) -> None:
        self.collections: dict[str, tuple[CollectionSpec, dict[str, tuple[dict, dict]]]] = {}
        self.aliases: dict[str, str] = {}

    def exists(self, name: str) -> bool:
        return name in self.collections

    def spec(self, name: str) -> CollectionSpec:
        return self.collections[name][0]

    def create(self, spec: CollectionSpec) -> None:
        self.collections[spec.name] = (spec, {})

    def drop(self, name: str) -> None:
        self.collections.pop(name, None)

    def get_aliases(self) -> dict[str, str]:
        return dict(self.aliases)

    def set_alias(self, alias: str, collection: str) -> None:
        self.aliases[alias] = collection  # one dict store: atomic for readers

    def drop_alias(self, alias: str) -> None:
        self.aliases.pop(alias, None)

    def upsert(self, name: str, rows: Rows) -> None:
        points = self.collections[name][1]
        for i, pid in enumerate(rows.ids):
            points[pid] = (copy.deepcopy(rows.payloads[i]),
                           {f: v[i] for f, v in rows.vectors.items()})

    def points(self, name: str, flt: Filter | None = None) -> list[tuple[str, dict, dict]]:
        return [(pid, payload, vectors) for pid, (payload, vectors)
                in self.collections[name][1].items() if flt is None or flt.matches(payload)]

    def get(self, name: str, ids: list[str]) -> list[tuple[str, dict, dict]]:
        points = self.collections[name][1]
        return [(pid, *points[pid]) for pid in ids if pid in points]

    def delete(self, name: str, ids: list[str] | None, flt: Filter | None) -> int:
        """Delete; returns the number of points removed."""
        points = self.collections[name][1]
        gone = set(ids or []) | {pid for pid, payload, _ in self.points(name, flt)} \
            if flt is not None else set(ids or [])
        return sum(points.pop(pid, None) is not None for pid in gone)

    def set_payload(self, name: str, ids: list[str] | None, flt: Filter | None,
                    patch: dict) -> int:
        """Merge ``patch`` into the payloads of the points among ``ids`` or matching ``flt``;
        returns their number."""
        points = self.collections[name][1]
        chosen = {pid for pid in ids or [] if pid in points}
        if flt is not None:
            chosen |= {pid for pid, _, _ in self.points(name, flt)}
        for pid in chosen:
            payload, vectors = points[pid]
            points[pid] = ({**payload, **copy.deepcopy(patch)}, vectors)
        return len(chosen)


class AsyncReferenceStore:
    """The same store behind coroutines: what the async driver awaits."""

    def __init__(self, store: ReferenceStore) -> None:
        self._store = store

    def __getattr__(self, method: str) -> Any:
        fn = getattr(self._store, method)

        async def run(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return run


class ReferenceEngine(Engine):
    """Exact, in-memory, every field kind; see the module docstring."""

    name = "reference"
    where = "memory"
    capabilities: Capabilities = REFERENCE

    def __init__(self) -> None:
        self.client = ReferenceStore()
        self._aclient = AsyncReferenceStore(self.client)

    def async_client(self) -> Any:
        return self._aclient

    def unsupported(self, spec: CollectionSpec) -> list[str]:
        return [f"field {name!r}: the reference engine applies no IDF of its own; use "
                "SparseField(idf=False) with BM25Encoder(idf='client')"
                for name, f in spec.fields.items() if getattr(f, "idf", False)]

    def op_exists(self, name: str) -> Op[bool]:
        return (yield call("exists", name))

    def op_spec(self, name: str) -> Op[CollectionSpec]:
        return (yield call("spec", name))

    def op_create(self, spec: CollectionSpec) -> Op[None]:
        yield call("create", spec)

    def op_drop(self, name: str) -> Op[None]:
        yield call("drop", name)

    def op_upsert(self, spec: CollectionSpec, rows: Rows) -> Op[None]:
        yield call("upsert", spec.name, rows)

    def op_aliases(self) -> Op[dict[str, str]]:
        return (yield call("get_aliases"))

    def op_set_alias(self, alias: str, collection: str, current: str | None) -> Op[None]:
        yield call("set_alias", alias, collection)

    def op_drop_alias(self, alias: str) -> Op[None]:
        yield call("drop_alias", alias)

    def op_get(self, spec: CollectionSpec, ids: list[str],
                with_vectors: bool | list[str]) -> Op[list[Record]]:
        found = yield call("get", spec.name, ids)
        return [Record(pid, copy.deepcopy(payload), _selected(vectors, with_vectors))
                for pid, payload, vectors in found]

    def op_delete(self, spec: CollectionSpec, ids: list[str] | None,
                   flt: Filter | None) -> Op[None]:
        yield call("delete", spec.name, ids, flt)

    def op_delete_counted(self, spec: CollectionSpec, ids: list[str] | None,
                          flt: Filter | None) -> Op[int]:
        return (yield call("delete", spec.name, ids, flt))

    def op_update_payload(self, spec: CollectionSpec, ids: list[str] | None,
                          flt: Filter | None, patch: dict[str, Any]) -> Op[int]:
        return (yield call("set_payload", spec.name, ids, flt, patch))

    def op_count(self, spec: CollectionSpec, flt: Filter | None) -> Op[int]:
        return len((yield call("points", spec.name, flt)))

    def op_ids(self, spec: CollectionSpec, flt: Filter | None) -> Op[list[str]]:
        return [pid for pid, _, _ in (yield call("points", spec.name, flt))]

    def op_search(self, spec: CollectionSpec, field_name: str, f: FieldType, query: Any,
                   k: int, flt: Filter | None, with_vectors: bool) -> Op[list[Hit]]:
        scored = [(exact_score(f, query, vectors[field_name]), pid, payload, vectors)
                  for pid, payload, vectors in (yield call("points", spec.name, flt))
                  if field_name in vectors and f.reachable(query, vectors[field_name])]
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [Hit(pid, score, copy.deepcopy(payload),
                    {field_name: vectors[field_name]} if with_vectors else {})
                for score, pid, payload, vectors in scored[:k]]



class ReferenceConnector(Connector):
    """A connector on a new :class:`ReferenceEngine`.

    Examples:
        >>> import numpy as np
        >>> ref = ReferenceConnector()
        >>> _ = ref.create_collection(CollectionSpec(name="docs", dense={"v": 2}))
        >>> ref.upsert("docs", ["a", "b"], {"v": np.array([[1, 0], [0, 1]], np.float32)})
        2
        >>> [h.id for h in ref.search("docs", "v", np.array([0.9, 0.1], np.float32), k=2)]
        ['a', 'b']
    """

    def __init__(self) -> None:
        super().__init__(ReferenceEngine())

def _selected(vectors: dict[str, Any], with_vectors: bool | list[str]) -> dict[str, Any]:
    if with_vectors is True:
        return dict(vectors)
    if not with_vectors:
        return {}
    return {f: v for f, v in vectors.items() if f in with_vectors}


__all__ = ["ReferenceEngine", "ReferenceConnector", "ReferenceStore", "REFERENCE"]
