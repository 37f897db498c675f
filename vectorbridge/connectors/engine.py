"""An engine: what it can do, as data (:class:`Capabilities`), and the small protocol a
:class:`~vectorbridge.connectors.base.Connector` drives (:class:`Engine`).

A connector *composes* an engine (as httpx's ``Client(transport=...)`` composes a transport):
the connector owns everything that does not talk to a database (validation before any
write, spec bookkeeping, batching, the journal, retries, the tie-safe order, client-side
fusion and rescoring, the sync and async public API); the engine owns the clients and turns
each operation into client calls. Engine operations are generators of client calls
(:mod:`vectorbridge.connectors.calls`), so one body serves both the blocking and the async
client. The registry (:mod:`vectorbridge.connectors.registry`) holds each known engine's
capabilities, so tests, the bench, the demo and the docs ask the same value instead of
re-deriving it from engine names.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from bisect import bisect_right
from typing import TYPE_CHECKING, Any

from vectorbridge.connectors.capabilities import (  # their home before capabilities.py
    ENGINE_VALUES, WITHOUT, Capabilities, capability_gaps,
)
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.connectors.writes import JSON_WIRE, QDRANT_MAX_REQUEST_BYTES, Wire

if TYPE_CHECKING:
    from vectorbridge.connectors.calls import Op
    from vectorbridge.connectors.filters import Filter
    from vectorbridge.connectors.milvus.capabilities import MILVUS  # noqa: F401
    from vectorbridge.connectors.qdrant.capabilities import (  # noqa: F401
        QDRANT, QDRANT_EDGE, QDRANT_LOCAL,
    )
    from vectorbridge.connectors.results import Branch, Hit, Record, Rescore
    from vectorbridge.connectors.retry import Guard
    from vectorbridge.connectors.scoring import ScoreFormula
    from vectorbridge.connectors.spec import CollectionSpec, FieldType
    from vectorbridge.connectors.validation import Rows


class Engine(ABC):
    """The protocol an engine implements for a connector: a few attributes, fault hooks, and
    one generator of client calls per operation (``op_*``). Inputs arrive validated; ids are
    the original strings; results are :class:`~vectorbridge.connectors.results.Hit` /
    ``Record`` in higher-is-better scores. Only the abstract methods are required."""

    #: Short name used in messages ("qdrant-edge", "milvus-lite", ...).
    name: str = "?"
    #: Calls cross a network, so transient failures are retried (embedded engines: False).
    remote: bool = False
    #: What ``hybrid_search`` and ``HybridRetriever`` fuse with when not told, the same on
    #: every engine so a collection copied to another engine answers the same retriever the
    #: same way: DBSF, at or above every RRF setting on SciFact with no constant tuned on the
    #: data; in the engine where it runs DBSF (Qdrant), else fused by the connector over
    #: per-branch searches (docs: Retrievers, *Fusion defaults*; Operations).
    default_fusion: Fusion = Fusion("dbsf")
    #: What this engine holds and runs natively.
    capabilities: Capabilities
    #: The blocking client the sync driver calls (``QdrantClient``, ``MilvusClient``, ...).
    client: Any
    #: Where it runs, for ``repr`` (never a credential).
    where: str = ""
    #: Largest write request the engine takes, in bytes (``None``: no limit): ``upsert``
    #: splits batches to stay under it (:func:`~vectorbridge.connectors.writes.plan_requests`).
    #: Embedded engines take their server family's, so code tried embedded splits alike.
    max_request_bytes: int | None = QDRANT_MAX_REQUEST_BYTES
    #: How a row is serialised in a write request, for that estimate.
    wire: Wire = JSON_WIRE
    #: Write modes (``upsert(mode=...)``) the engine enforces itself in :meth:`op_write`;
    #: others are checked by the connector just before each batch (a race window).
    write_modes: frozenset[str] = frozenset()

    def open(self, guard: "Guard") -> None:
        """Connect, once the connector exists: ``guard`` (the connector) retries a remote
        server that is still starting, under its retry policy."""

    @abstractmethod
    def async_client(self) -> Any:
        """The engine's async client (same method names as ``client``), made on first use."""

    def transient(self, exc: BaseException) -> bool:
        """Whether a client error may pass by itself; engines with a network override."""
        return False

    def recovery(self, exc: BaseException, method: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
        """A client call to make before the next try (e.g. reload what a restart released)."""
        return None

    def secrets(self) -> tuple[str, ...]:
        """Credentials this engine holds, scrubbed from any text the connector produces."""
        return ()

    def unsupported(self, spec: "CollectionSpec") -> list[str]:
        """Reasons this engine cannot hold ``spec`` (empty when it can), each naming the
        alternatives: the text of ``create_collection``'s refusal."""
        return []

    def optimize(self, spec: "CollectionSpec") -> None:
        """Build deferred indexes now (a blocking call; the connector runs it in a thread
        for the async API)."""

    def close(self) -> None:
        """Release the clients (files are flushed for embedded engines)."""

    async def aclose(self) -> None:
        """Release the async client, then the sync one."""
        self.close()

    # -- operations: generators of client calls -------------------------------------------
    @abstractmethod
    def op_exists(self, name: str) -> "Op[bool]": ...

    @abstractmethod
    def op_spec(self, name: str) -> "Op[CollectionSpec]":
        """The spec stored with an existing collection."""

    @abstractmethod
    def op_create(self, spec: "CollectionSpec") -> "Op[None]": ...

    @abstractmethod
    def op_drop(self, name: str) -> "Op[None]": ...

    @abstractmethod
    def op_upsert(self, spec: "CollectionSpec", rows: "Rows") -> "Op[None]": ...

    def op_check_no_moves(self, spec: "CollectionSpec", rows: "Rows") -> "Op[None]":
        """With ``sharding="custom"`` a point lives in its partition value's shards: an
        upsert giving a stored point another value would leave its old copy behind. Refused
        before the first batch is written, on every engine (so code tried embedded behaves
        as it will on the cluster)."""
        from vectorbridge.errors import InvalidInputError

        pk = spec.partition_key
        new = {pid: pl[pk] for pid, pl in zip(rows.ids, rows.payloads)}
        for start in range(0, len(rows.ids), 1024):
            for r in (yield from self.op_get(spec, rows.ids[start:start + 1024], False)):
                if r.payload.get(pk) != new[r.id]:
                    raise InvalidInputError(
                        f"point {r.id!r} is stored under {pk}={r.payload.get(pk)!r} and this "
                        f"upsert gives {pk}={new[r.id]!r}; with sharding='custom' each value "
                        "has its own shards, so a point cannot move by re-upsert: delete it, "
                        "then upsert it. Nothing was written.")

    @abstractmethod
    def op_get(self, spec: "CollectionSpec", ids: list[str],
               with_vectors: bool | list[str]) -> "Op[list[Record]]": ...

    @abstractmethod
    def op_delete(self, spec: "CollectionSpec", ids: list[str] | None,
                  flt: "Filter | None") -> "Op[None]": ...

    # -- safe writes: modes, counted deletes, payload patches ------------------------------
    def op_write(self, spec: "CollectionSpec", rows: "Rows", mode: str) -> "Op[None]":
        """Write ``rows`` in ``mode`` (one of :attr:`write_modes`), the engine refusing
        itself to overwrite (``"insert"``) or to create (``"update"``) a point."""
        raise NotImplementedError(f"{self.name} has no write mode {mode!r} of its own")
        yield  # pragma: no cover - a generator that makes no call

    def op_selected_ids(self, spec: "CollectionSpec", ids: list[str] | None,
                        flt: "Filter | None") -> "Op[list[str]]":
        """The stored points among ``ids`` (in their order), then the other points matching
        ``flt`` (sorted). Default: ``op_get`` without vectors, and ``op_ids``."""
        out: list[str] = []
        for start in range(0, len(ids or ()), 1024):
            part = ids[start:start + 1024]  # type: ignore[index]
            found = {r.id for r in (yield from self.op_get(spec, part, False))}
            out += [i for i in part if i in found]
        if flt is not None:
            seen = set(out)
            out += [i for i in sorted((yield from self.op_ids(spec, flt))) if i not in seen]
        return out

    def op_count_selected(self, spec: "CollectionSpec", ids: list[str] | None,
                          flt: "Filter | None") -> "Op[int]":
        """The number of points among ``ids`` or matching ``flt`` (each once). Default: the
        engine's count of ``flt``, plus the stored ``ids`` its filter (evaluated here on
        their payloads) does not match."""
        n = (yield from self.op_count(spec, flt)) if flt is not None else 0
        for start in range(0, len(ids or ()), 1024):
            for r in (yield from self.op_get(spec, ids[start:start + 1024], False)):  # type: ignore[index]
                if flt is None or not flt.matches(r.payload):  # else counted with the filter
                    n += 1
        return n

    def op_delete_counted(self, spec: "CollectionSpec", ids: list[str] | None,
                          flt: "Filter | None") -> "Op[int]":
        """:meth:`op_delete`, returning how many points went. Default: counted just before
        (:meth:`op_count_selected`), so a concurrent writer between the two calls can make
        the count differ from what the delete removed."""
        n = yield from self.op_count_selected(spec, ids, flt)
        yield from self.op_delete(spec, ids, flt)
        return n

    def op_update_payload(self, spec: "CollectionSpec", ids: list[str] | None,
                          flt: "Filter | None", patch: dict[str, Any]) -> "Op[int]":
        """Set ``patch``'s keys on the points among ``ids`` or matching ``flt`` (other keys
        kept) and return how many were updated. Default, for engines without a payload
        update: read each point whole (vectors too), write it back with the merged payload.
        Every merged payload is checked before the first write; a point written by someone
        else between the read and the write loses that write."""
        from vectorbridge.connectors.writes import merged_payload, plan_requests, rows_of

        targets = yield from self.op_selected_ids(spec, ids, flt)
        merged: dict[str, dict[str, Any]] = {}
        for start in range(0, len(targets), 256):
            for r in (yield from self.op_get(spec, targets[start:start + 256], False)):
                merged[r.id] = merged_payload(r.id, r.payload, patch)
        done = 0
        order = list(merged)
        for start in range(0, len(order), 256):
            records = yield from self.op_get(spec, order[start:start + 256], True)
            if not records:
                continue
            rows = rows_of(spec, [r.id for r in records], [r.vectors for r in records],
                           [merged[r.id] for r in records])
            for a, b in plan_requests(spec, rows, len(rows), self.wire, self.max_request_bytes,
                                      self.name):
                yield from self.op_upsert(spec, rows.slice(a, b))
            done += len(records)
        return done

    @abstractmethod
    def op_count(self, spec: "CollectionSpec", flt: "Filter | None") -> "Op[int]": ...

    @abstractmethod
    def op_ids(self, spec: "CollectionSpec", flt: "Filter | None") -> "Op[list[str]]":
        """Every original id in the collection that matches ``flt`` (paged through the
        engine, which evaluates the filter)."""

    @abstractmethod
    def op_search(self, spec: "CollectionSpec", field_name: str, f: "FieldType", query: Any,
                  k: int, flt: "Filter | None", with_vectors: bool) -> "Op[list[Hit]]": ...

    def op_hybrid(self, spec: "CollectionSpec", branches: "list[Branch]", fusion: Fusion, k: int,
                  flt: "Filter | None", rescore: "Rescore | None") -> "Op[list[Hit] | None]":
        """Fused (and rescored) search in the engine, or ``None`` where the engine cannot run
        this combination; the connector then fuses per-branch results client-side."""
        return None
        yield  # pragma: no cover - a generator that makes no call

    def op_group_search(self, spec: "CollectionSpec", field_name: str, f: "FieldType", query: Any,
                        k: int, flt: "Filter | None", key: str,
                        size: int) -> "Op[list[Hit] | None]":
        """The best ``k`` groups by payload ``key``, ``size`` hits each, flattened group by
        group, in one engine request; ``None`` where the engine has no grouping (the connector
        then pages :meth:`op_search`)."""
        return None
        yield  # pragma: no cover - a generator that makes no call

    def op_formula(self, spec: "CollectionSpec", field_name: str, f: "FieldType", query: Any,
                   k: int, flt: "Filter | None", formula: "ScoreFormula") -> "Op[list[Hit] | None]":
        """The top ``k`` of ``formula`` over the field's best ``formula.depth`` candidates,
        in the engine; ``None`` where it cannot (the connector applies it)."""
        return None
        yield  # pragma: no cover - a generator that makes no call

    def op_mmr(self, spec: "CollectionSpec", field_name: str, f: "FieldType", query: Any, k: int,
               fetch_k: int, lambda_mult: float, flt: "Filter | None") -> "Op[list[Hit]]":
        """MMR in the engine (engines with ``native_mmr`` override this)."""
        raise NotImplementedError
        yield  # pragma: no cover - a generator that makes no call

    def op_rescore(self, spec: "CollectionSpec", rescore: "Rescore", ids: list[str],
                   k: int) -> "Op[list[Hit]]":
        """Exact scores of ``ids`` on ``rescore.name``, top ``k``. Default: fetch the stored
        vectors and score them here (engines that rescore natively override this)."""
        from vectorbridge.connectors.results import Hit, exact_score

        records = yield from self.op_get(spec, ids, True)
        scored = sorted(((exact_score(rescore.field, rescore.query, r.vectors[rescore.name]), r)
                         for r in records), key=lambda t: (-t[0], t[1].id))[:k]
        return [Hit(id=r.id, score=s, payload=r.payload) for s, r in scored]


    # -- paging and aliases (copy, versions behind an alias) ---------------------------------
    def op_scroll(self, spec: "CollectionSpec", cursor: str | None, limit: int,
                  flt: "Filter | None",
                  with_vectors: bool | list[str]) -> "Op[tuple[list[Record], str | None]]":
        """One page of at most ``limit`` points matching ``flt``, in the engine's own order,
        starting at ``cursor`` (``None``: the first page), and the cursor of the next page
        (``None`` after the last). A cursor is a string that stays valid across connectors
        and processes, so a journal can keep it (:func:`~vectorbridge.connectors.copying.
        copy_collection`). Default: the sorted ids, paged here (engines with a scroll API
        override this to keep memory flat in the collection's size)."""
        ids = sorted((yield from self.op_ids(spec, flt)))
        start = 0 if cursor is None else bisect_right(ids, cursor)
        page = ids[start:start + limit]
        records = (yield from self.op_get(spec, page, with_vectors)) if page else []
        order = {pid: i for i, pid in enumerate(page)}
        records.sort(key=lambda r: order[r.id])
        return records, (page[-1] if start + limit < len(ids) else None)

    def op_aliases(self) -> "Op[dict[str, str]]":
        """Every alias of this engine -> the collection it names (none by default)."""
        return {}
        yield  # pragma: no cover - a generator that makes no call

    def op_alias_target(self, alias: str) -> "Op[str | None]":
        """The collection ``alias`` names, or ``None`` when no alias has that name."""
        return (yield from self.op_aliases()).get(alias)

    def op_set_alias(self, alias: str, collection: str, current: str | None) -> "Op[None]":
        """Point ``alias`` at ``collection`` in one atomic step (``current``: its target
        now, ``None`` when it is new): a reader sees the old or the new target, never none."""
        from vectorbridge.errors import UnsupportedFeatureError

        raise UnsupportedFeatureError(f"{self.name} has no aliases; address collections by name.")
        yield  # pragma: no cover - a generator that makes no call

    def op_drop_alias(self, alias: str) -> "Op[None]":
        """Remove ``alias`` (its collection stays)."""
        from vectorbridge.errors import UnsupportedFeatureError

        raise UnsupportedFeatureError(f"{self.name} has no aliases; address collections by name.")
        yield  # pragma: no cover - a generator that makes no call


def __getattr__(name: str) -> Any:
    """``QDRANT``, ``QDRANT_EDGE``, ``QDRANT_LOCAL`` and ``MILVUS`` (importable from here
    before each engine's package held its own) on first use: the protocol imports no engine."""
    if name in ENGINE_VALUES:
        value = getattr(importlib.import_module(ENGINE_VALUES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Capabilities", "Engine", "capability_gaps", "QDRANT", "QDRANT_EDGE", "QDRANT_LOCAL",
           "MILVUS", "WITHOUT"]
