"""The connector contract: one small base class, engine logic in thin subclasses.

:class:`Connector` holds everything that does not talk to a database (spec bookkeeping,
validation, batching, id handling, client-side fusion, result types) and calls a handful of
``_op_*`` hooks that each engine implements. Hooks are generators of client calls
(:mod:`vectorbridge.connectors.calls`), so each public method has a sync form on the engine's
blocking client and an ``a``-prefixed async twin on its async client over the same code.
"""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence, get_args

import numpy as np

from vectorbridge.connectors.calls import Op, run_async, run_sync
from vectorbridge.connectors.engine import Capabilities
from vectorbridge.connectors.filters import Filter, as_filter
from vectorbridge.connectors.fusion import Fusion, as_fusion, fuse
from vectorbridge.connectors.journal import IngestJournal, as_journal, batch_digest
from vectorbridge.connectors.retry import RetryPolicy
from vectorbridge.connectors.spec import (
    BinaryField, CollectionSpec, DenseField, FieldType, Metric, MultiVectorField, SparseField,
    check_name,
)
from vectorbridge.connectors.validation import Rows, check_ids, check_k, check_query, prepare_rows
from vectorbridge.encoders.scoring import maxsim
from vectorbridge.encoders.types import SparseVector
from vectorbridge.errors import CollectionNotFoundError, InvalidInputError, \
    ServerUnavailableError, SpecMismatchError, UnsupportedFeatureError

#: Candidates per hybrid branch (and for a rerank stage) unless the call says otherwise.
DEFAULT_PREFETCH_K = 100


def rank_key(hit: "Hit") -> tuple[float, str]:
    """The order of every result list: higher score first; equal scores by id (the original
    string id, ascending). Engines order exact ties arbitrarily, and differently from call to
    call (RRF with a small k ties by construction); this rule makes the same query on an
    unchanged collection return the same ids in the same order, on every engine, sync or
    async."""
    return -hit.score, hit.id


def tie_margin(k: int) -> int:
    """Results asked beyond ``k`` so that a tie at the k-th score is usually seen whole."""
    return max(4, k // 2)


#: How far :meth:`Connector._tie_safe` widens a request (times ``k + tie_margin(k)``) while
#: the k-th score still ties with the last result returned.
MAX_TIE_WIDENING = 8


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is higher-is-better on every metric (distances negated);
    ``vectors`` holds the stored vectors when the search asked for them."""

    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)
    vectors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One stored point as returned by ``get``: the original id, payload and (optionally)
    vectors in the canonical types of :class:`~vectorbridge.connectors.validation.Rows`."""

    id: str
    payload: dict[str, Any]
    vectors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Branch:
    """One validated branch of a hybrid search: a field, its query and its candidate depth."""

    name: str
    field: FieldType
    query: Any
    depth: int


#: How an exact second stage uses its scores: ``"replace"`` re-sorts the fused top
#: ``rescore_k`` by them; ``"fuse"`` ranks the union of the branches' candidates by them and
#: adds that ranking to the fusion as one more branch.
RescoreMode = Literal["replace", "fuse"]
RESCORE_MODES: tuple[str, ...] = get_args(RescoreMode)


@dataclass(frozen=True)
class Rescore:
    """A second stage scored exactly on ``name`` with ``query``, over ``depth`` candidates."""

    name: str
    field: FieldType
    query: Any
    depth: int
    mode: RescoreMode = "replace"


class Connector(ABC):
    """Base of :class:`QdrantConnector` and :class:`MilvusConnector`.

    Public methods validate their whole input first and only then call the engine hooks, so
    a bad call never writes anything. Each has an async twin (``aupsert``, ``asearch``, ...)
    that runs the same operation on the engine's async client.
    """

    #: Short engine name used in messages ("qdrant", "milvus-lite", ...).
    engine: str = "?"
    #: Calls cross a network, so transient failures are retried (embedded engines: False).
    remote: bool = False
    #: What ``hybrid_search`` and ``HybridRetriever`` fuse with when not told: the best fusion
    #: the engine runs natively on SciFact train (docs: Retrievers, *Fusion defaults*; engines override).
    default_fusion: Fusion = Fusion("rrf", k=2)
    #: What this engine holds and runs natively (set by each engine's connector).
    capabilities: Capabilities

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self._specs: dict[str, CollectionSpec] = {}
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidInputError(f"retry= takes a RetryPolicy(...), got {type(retry).__name__}.")
        self.retry = retry or RetryPolicy()

    # -- drivers --------------------------------------------------------------------------
    client: Any

    def _guard(self) -> "Connector | None":
        return self if self.remote and self.retry.attempts > 1 else None

    def _run(self, op: Op[Any]) -> Any:
        return run_sync(op, self.client, self._guard())

    async def _arun(self, op: Op[Any]) -> Any:
        return await run_async(op, self._async_client(), self.client, self._guard())

    # -- fault handling (see vectorbridge.connectors.retry) --------------------------------
    def _transient(self, exc: BaseException) -> bool:
        """Whether a client error may pass by itself; engines with a network override."""
        return False

    def _recovery(self, exc: BaseException, method: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
        """A client call to make before the next try (e.g. reload what a restart released)."""
        return None

    def _secrets(self) -> tuple[str, ...]:
        """Credentials this connector holds, scrubbed from any text it produces."""
        return ()

    def _scrub(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "***")
        return text

    def _unavailable(self, exc: BaseException, method: str, tries: int,
                     waited: float) -> ServerUnavailableError:
        last = self._scrub(" ".join(str(exc).split()))[:300]
        return ServerUnavailableError(
            f"{self!r} did not answer {method!r} after {tries} attempts over {waited:.1f} s "
            f"(last error: {type(exc).__name__}: {last}). Check that the server is running and "
            "reachable at that address (host, port, firewall), that TLS matches the server "
            "(https:// or secure=True, certificates), and that the API key or token is valid; "
            "to wait out longer outages pass retry=RetryPolicy(attempts=..., max_delay=...)."
        )

    @abstractmethod
    def _async_client(self) -> Any:
        """The engine's async client, created on first use."""

    # -- engine hooks (generators of client calls) -----------------------------------------
    @abstractmethod
    def _op_exists(self, name: str) -> Op[bool]: ...

    @abstractmethod
    def _op_spec(self, name: str) -> Op[CollectionSpec]:
        """The spec stored with an existing collection."""

    @abstractmethod
    def _op_create(self, spec: CollectionSpec) -> Op[None]: ...

    @abstractmethod
    def _op_drop(self, name: str) -> Op[None]: ...

    @abstractmethod
    def _op_upsert(self, spec: CollectionSpec, rows: Rows) -> Op[None]: ...

    def _op_check_no_moves(self, spec: CollectionSpec, rows: Rows) -> Op[None]:
        """With ``sharding="custom"`` a point lives in its partition value's shards: an
        upsert giving a stored point another value would leave its old copy behind. Refused
        before the first batch is written, on every engine (so code tried embedded behaves
        as it will on the cluster)."""
        pk = spec.partition_key
        new = {pid: pl[pk] for pid, pl in zip(rows.ids, rows.payloads)}
        for start in range(0, len(rows.ids), 1024):
            for r in (yield from self._op_get(spec, rows.ids[start:start + 1024], False)):
                if r.payload.get(pk) != new[r.id]:
                    raise InvalidInputError(
                        f"point {r.id!r} is stored under {pk}={r.payload.get(pk)!r} and this "
                        f"upsert gives {pk}={new[r.id]!r}; with sharding='custom' each value "
                        "has its own shards, so a point cannot move by re-upsert: delete it, "
                        "then upsert it. Nothing was written.")

    @abstractmethod
    def _op_get(self, spec: CollectionSpec, ids: list[str], with_vectors: bool) -> Op[list[Record]]: ...

    @abstractmethod
    def _op_delete(self, spec: CollectionSpec, ids: list[str] | None, flt: Filter | None) -> Op[None]: ...

    @abstractmethod
    def _op_count(self, spec: CollectionSpec, flt: Filter | None) -> Op[int]: ...

    @abstractmethod
    def _op_ids(self, spec: CollectionSpec, flt: Filter | None) -> Op[list[str]]:
        """Every original id in the collection that matches ``flt`` (paged through the
        engine, which evaluates the filter)."""

    @abstractmethod
    def _op_search(self, spec: CollectionSpec, field_name: str, f: FieldType, query: Any,
                   k: int, flt: Filter | None, with_vectors: bool) -> Op[list[Hit]]: ...

    def _op_hybrid(self, spec: CollectionSpec, branches: list[Branch], fusion: Fusion, k: int,
                   flt: Filter | None, rescore: Rescore | None) -> Op[list[Hit] | None]:
        """Fused (and rescored) search in the engine, or ``None`` where the engine cannot run
        this combination; the base class then fuses per-branch results client-side."""
        return None
        yield  # pragma: no cover - a generator that makes no call

    def _op_rescore(self, spec: CollectionSpec, rescore: Rescore, ids: list[str],
                    k: int) -> Op[list[Hit]]:
        """Exact scores of ``ids`` on ``rescore.name``, top ``k``. Default: fetch the stored
        vectors and score them here (engines that rescore natively override this)."""
        records = yield from self._op_get(spec, ids, True)
        scored = sorted(((exact_score(rescore.field, rescore.query, r.vectors[rescore.name]), r)
                         for r in records), key=lambda t: (-t[0], t[1].id))[:k]
        return [Hit(id=r.id, score=s, payload=r.payload) for s, r in scored]

    def unsupported(self, spec: CollectionSpec) -> list[str]:
        """Reasons this engine cannot hold ``spec`` (empty when it can)."""
        return []

    def _tie_safe(self, fetch: Callable[[int], Op[list[Hit] | None]],
                  k: int) -> Op[list[Hit] | None]:
        """The top ``k`` of ``fetch(n)`` in :func:`rank_key` order, deterministic where the
        engine's own order of ties is not.

        The engine is asked for ``n = k + tie_margin(k)`` results; when the last one still
        ties with the k-th, a tied result may have been left out at the engine's cut, so the
        request is doubled (up to ``MAX_TIE_WIDENING`` times the first) until the tie ends
        inside what came back or the engine has no more. ``None`` (the engine cannot run
        the request) is passed through."""
        n = first = k + tie_margin(k)
        while True:
            hits = yield from fetch(n)
            if hits is None:
                return None
            ordered = sorted(hits, key=rank_key)
            if len(hits) < n or len(ordered) <= k or ordered[-1].score < ordered[k - 1].score \
                    or n >= first * MAX_TIE_WIDENING:
                return ordered[:k]
            n *= 2

    # -- operations, written once for both twins ------------------------------------------
    def _do_spec(self, name: str) -> Op[CollectionSpec]:
        cached = self._specs.get(name)
        if cached is not None:
            return cached
        check_name(name, "collection")
        if not (yield from self._op_exists(name)):
            raise CollectionNotFoundError(
                f"collection {name!r} does not exist on {self.engine}; create it with "
                "create_collection(CollectionSpec(...))."
            )
        self._specs[name] = spec = yield from self._op_spec(name)
        return spec

    def _do_has(self, name: str) -> Op[bool]:
        return (yield from self._op_exists(check_name(name, "collection")))

    def _do_create(self, spec: CollectionSpec, recreate: bool) -> Op[CollectionSpec]:
        if not isinstance(spec, CollectionSpec):
            raise InvalidInputError(f"create_collection needs a CollectionSpec, got {type(spec).__name__}.")
        problems = self.unsupported(spec)
        if problems:
            raise UnsupportedFeatureError(f"{self.engine} cannot hold collection {spec.name!r}: "
                                          + "; ".join(problems))
        if (yield from self._op_exists(spec.name)):
            if recreate:
                self._specs.pop(spec.name, None)
                yield from self._op_drop(spec.name)
            else:
                existing = yield from self._op_spec(spec.name)
                if not existing.same_fields(spec):
                    raise SpecMismatchError(
                        f"collection {spec.name!r} already exists on {self.engine} with "
                        f"{existing.to_json()}, which differs from the spec given "
                        f"{spec.to_json()}. Use another name, or recreate=True to drop it "
                        "(its data is lost)."
                    )
                self._specs[spec.name] = existing
                return existing
        yield from self._op_create(spec)
        self._specs[spec.name] = spec
        return spec

    def _do_drop(self, name: str) -> Op[None]:
        check_name(name, "collection")
        self._specs.pop(name, None)
        if (yield from self._op_exists(name)):
            yield from self._op_drop(name)

    def _do_upsert(self, collection: str, ids: Sequence[str], vectors: Mapping[str, Any],
                   payloads: Any, batch_size: int, journal: Any = None) -> Op[int]:
        spec = yield from self._do_spec(collection)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
        rows = prepare_rows(spec, ids, vectors, payloads)
        acked = as_journal(journal)
        if spec.sharding == "custom":
            yield from self._op_check_no_moves(spec, rows)
        for start in range(0, len(rows), batch_size):
            batch = rows.slice(start, start + batch_size)
            if acked is None:
                yield from self._op_upsert(spec, batch)
                continue
            digest = batch_digest(spec.name, batch)
            if digest not in acked:
                yield from self._op_upsert(spec, batch)
                acked.record(digest, len(batch))
        return len(rows)

    def _do_get(self, collection: str, ids: Sequence[str],
                with_vectors: bool | Sequence[str]) -> Op[list[Record]]:
        spec = yield from self._do_spec(collection)
        id_list = check_ids(ids)
        if not isinstance(with_vectors, bool):  # a selection of fields
            with_vectors = [str(n) for n in with_vectors]
            unknown = [n for n in with_vectors if n not in spec.fields]
            if unknown or not with_vectors:
                raise InvalidInputError(f"with_vectors={with_vectors!r}: give True, False or field "
                                        f"names of collection {collection!r} ({sorted(spec.fields)}).")
        if not id_list:
            return []
        found = {r.id: r for r in (yield from self._op_get(spec, id_list, with_vectors))}
        return [found[i] for i in id_list if i in found]

    def _do_delete(self, collection: str, ids: Sequence[str] | None, filter: Any) -> Op[None]:
        spec = yield from self._do_spec(collection)
        if ids is None and filter is None:
            raise InvalidInputError("delete needs ids=[...] or filter=...; to empty a collection, "
                                    "drop and recreate it.")
        id_list = check_ids(ids) if ids is not None else None
        flt = as_filter(filter)
        if id_list == [] and flt is None:
            return
        yield from self._op_delete(spec, id_list or None, flt)

    def _do_ids(self, collection: str, filter: Any) -> Op[list[str]]:
        spec = yield from self._do_spec(collection)
        return sorted((yield from self._op_ids(spec, as_filter(filter))))

    def _do_rescore(self, collection: str, field_name: str, query: Any, ids: Sequence[str],
                    k: int, filter: Any) -> Op[list[Hit]]:
        spec = yield from self._do_spec(collection)
        q = check_query(spec, field_name, query)
        id_list, k, flt = check_ids(ids), check_k(k), as_filter(filter)
        if flt is not None and id_list:  # the portable filter's Python evaluator on payloads
            id_list = [r.id for r in (yield from self._op_get(spec, id_list, False))
                       if flt.matches(r.payload)]
        if not id_list:
            return []
        rescore = Rescore(field_name, spec.field(field_name), q, len(id_list))
        return (yield from self._tie_safe(lambda n: self._op_rescore(spec, rescore, id_list, n), k))

    def _do_count(self, collection: str, filter: Any) -> Op[int]:
        spec = yield from self._do_spec(collection)
        return (yield from self._op_count(spec, as_filter(filter)))

    def _do_search(self, collection: str, field_name: str, query: Any, k: int, filter: Any,
                   with_vectors: bool) -> Op[list[Hit]]:
        spec = yield from self._do_spec(collection)
        f = spec.field(field_name)
        q = check_query(spec, field_name, query)
        k, flt = check_k(k), as_filter(filter)
        if isinstance(q, SparseVector) and not len(q):
            return []  # no term to match: every engine would score all points 0
        return (yield from self._tie_safe(
            lambda n: self._op_search(spec, field_name, f, q, n, flt, with_vectors), k))

    def _do_hybrid(self, collection: str, queries: Mapping[str, Any], k: int, fusion: Any,
                   prefetch_k: int | Mapping[str, int], filter: Any,
                   rescore: tuple[str, Any] | None, rescore_k: int | None,
                   rescore_mode: str) -> Op[list[Hit]]:
        spec = yield from self._do_spec(collection)
        k, flt = check_k(k), as_filter(filter)
        fusion = self.default_fusion if fusion is None else as_fusion(fusion)
        if not isinstance(queries, Mapping) or not queries:
            raise InvalidInputError("queries must be a non-empty dict {field name: query vector}.")
        second = None
        if rescore is not None:
            if not isinstance(rescore, tuple) or len(rescore) != 2:
                raise InvalidInputError("rescore must be a (field name, query) pair.")
            if rescore_mode not in RESCORE_MODES:
                raise InvalidInputError(f"rescore_mode {rescore_mode!r} is not one of {RESCORE_MODES}.")
            rname, rquery = rescore
            depth = check_k(rescore_k) if rescore_k is not None else max(DEFAULT_PREFETCH_K, k)
            second = Rescore(rname, spec.field(rname), check_query(spec, rname, rquery), depth,
                             rescore_mode)  # type: ignore[arg-type]
        fuse_second = second is not None and second.mode == "fuse"
        first_k = second.depth if second and not fuse_second else k
        weights = fusion.weights_for(len(queries) + fuse_second)
        branches, kept = [], []
        for (name, query), w in zip(queries.items(), weights):
            depth = prefetch_k.get(name, DEFAULT_PREFETCH_K) if isinstance(prefetch_k, Mapping) \
                else prefetch_k
            q = check_query(spec, name, query)
            if isinstance(q, SparseVector) and not len(q):
                continue  # a branch without terms adds nothing
            branches.append(Branch(name, spec.field(name), q, max(check_k(depth), first_k)))
            kept.append(w)
        if not branches:
            return []
        kept += weights[len(queries):]  # the rescore branch's weight, in "fuse" mode
        if len(kept) != len(weights):
            fusion = Fusion(fusion.kind, fusion.k, tuple(kept) if fusion.weights else None)
        hits = yield from self._tie_safe(
            lambda n: self._op_hybrid(spec, branches, fusion, n, flt, second), k)
        if hits is not None:
            return hits
        # Client-side fusion over per-branch results: same formulas as the engines.
        ranked, payloads = [], {}
        for b in branches:
            res = yield from self._tie_safe(lambda n, b=b: self._op_search(
                spec, b.name, b.field, b.query, n, flt, False), b.depth)
            ranked.append([(h.id, h.score) for h in res])
            payloads.update((h.id, h.payload) for h in res)
        cosine = [getattr(b.field, "metric", None) is Metric.COSINE for b in branches]
        if second is not None and fuse_second:
            union = list(dict.fromkeys(d for r in ranked for d, _ in r))
            exact = yield from self._tie_safe(
                lambda n: self._op_rescore(spec, second, union, n), second.depth)
            ranked.append([(h.id, h.score) for h in exact])
            cosine.append(False)
        fused = fuse(ranked, fusion, first_k, cosine)
        if second is not None and not fuse_second:
            return (yield from self._op_rescore(spec, second, [d for d, _ in fused], k))
        return [Hit(id=d, score=s, payload=payloads[d]) for d, s in fused]

    # -- collections ----------------------------------------------------------------------
    def has_collection(self, name: str) -> bool:
        """Whether the collection exists."""
        return self._run(self._do_has(name))

    async def ahas_collection(self, name: str) -> bool:
        """Async :meth:`has_collection`."""
        return await self._arun(self._do_has(name))

    def create_collection(self, spec: CollectionSpec, recreate: bool = False) -> CollectionSpec:
        """Create ``spec.name``, or check that the existing collection matches ``spec``.

        Args:
            spec: What the collection holds.
            recreate: Drop an existing collection of that name first (its data is lost).

        Raises:
            UnsupportedFeatureError: The engine lacks a field type the spec needs.
            SpecMismatchError: The collection exists with other fields and ``recreate=False``.
        """
        return self._run(self._do_create(spec, recreate))

    async def acreate_collection(self, spec: CollectionSpec, recreate: bool = False) -> CollectionSpec:
        """Async :meth:`create_collection`."""
        return await self._arun(self._do_create(spec, recreate))

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its data (no-op if it does not exist)."""
        self._run(self._do_drop(name))

    async def adrop_collection(self, name: str) -> None:
        """Async :meth:`drop_collection`."""
        await self._arun(self._do_drop(name))

    def spec(self, name: str) -> CollectionSpec:
        """The spec of an existing collection (cached after the first look-up)."""
        return self._run(self._do_spec(name))

    async def aspec(self, name: str) -> CollectionSpec:
        """Async :meth:`spec`."""
        return await self._arun(self._do_spec(name))

    # -- points ---------------------------------------------------------------------------
    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Mapping[str, Any],
        payloads: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        batch_size: int = 256,
        journal: "str | os.PathLike[str] | IngestJournal | None" = None,
    ) -> int:
        """Insert or replace points, in batches; re-upserting the same ids changes nothing else.

        The whole call is validated before the first batch is written. On a server, calls
        that fail transiently are retried under ``self.retry``.

        Args:
            collection: Collection name.
            ids: Original string ids (any text, up to 512 chars); reads return them as given.
            vectors: ``{field: values}`` for every field of the spec: ``(n, dim)`` arrays for
                dense, lists of :class:`~vectorbridge.encoders.SparseVector` (or ``{index:
                weight}`` dicts) for sparse, lists of ``(n_tokens, dim)`` arrays for
                multi-vector, packed uint8 ``(n, bits // 8)`` for binary.
            payloads: One JSON-serialisable dict per id, or ``None``.
            batch_size: Points per request.
            journal: A file recording acknowledged batches: the same call re-run after a
                crash or a lost server skips them (see :mod:`~vectorbridge.connectors.journal`).
                Keep ``batch_size`` the same between runs.

        Returns:
            The number of points in the call (written now or acknowledged before).
        """
        return self._run(self._do_upsert(collection, ids, vectors, payloads, batch_size, journal))

    async def aupsert(self, collection: str, ids: Sequence[str], vectors: Mapping[str, Any],
                      payloads: Sequence[Mapping[str, Any] | None] | None = None, *,
                      batch_size: int = 256,
                      journal: "str | os.PathLike[str] | IngestJournal | None" = None) -> int:
        """Async :meth:`upsert`."""
        return await self._arun(self._do_upsert(collection, ids, vectors, payloads, batch_size,
                                                journal))

    def get(self, collection: str, ids: Sequence[str], *,
            with_vectors: bool | Sequence[str] = False) -> list[Record]:
        """Stored points for ``ids`` in the order asked; ids not found are left out.
        ``with_vectors``: all vector fields (True), none, or the named ones only."""
        return self._run(self._do_get(collection, ids, with_vectors))

    async def aget(self, collection: str, ids: Sequence[str], *,
                   with_vectors: bool | Sequence[str] = False) -> list[Record]:
        """Async :meth:`get`."""
        return await self._arun(self._do_get(collection, ids, with_vectors))

    def delete(
        self,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | Mapping[str, Any] | None = None,
    ) -> None:
        """Delete points by id, by filter, or both (a point matching either goes)."""
        self._run(self._do_delete(collection, ids, filter))

    async def adelete(self, collection: str, ids: Sequence[str] | None = None, *,
                      filter: Filter | Mapping[str, Any] | None = None) -> None:
        """Async :meth:`delete`."""
        await self._arun(self._do_delete(collection, ids, filter))

    def count(self, collection: str, *, filter: Filter | Mapping[str, Any] | None = None) -> int:
        """Exact number of points (matching ``filter`` if given)."""
        return self._run(self._do_count(collection, filter))

    async def acount(self, collection: str, *,
                     filter: Filter | Mapping[str, Any] | None = None) -> int:
        """Async :meth:`count`."""
        return await self._arun(self._do_count(collection, filter))

    def ids(self, collection: str, *,
            filter: Filter | Mapping[str, Any] | None = None) -> list[str]:
        """Every id in the collection (matching ``filter`` if given, evaluated by the
        engine), sorted: the candidate set of client-side indexes such as PQ codes."""
        return self._run(self._do_ids(collection, filter))

    async def aids(self, collection: str, *,
                   filter: Filter | Mapping[str, Any] | None = None) -> list[str]:
        """Async :meth:`ids`."""
        return await self._arun(self._do_ids(collection, filter))

    def rescore(self, collection: str, field: str, query: Any, ids: Sequence[str], k: int = 10,
                *, filter: Filter | Mapping[str, Any] | None = None) -> list[Hit]:
        """Exact top ``k`` of the given ``ids`` on ``field`` (candidates found elsewhere, e.g.
        by client-side PQ codes), best first; ``filter`` drops candidates it rejects."""
        return self._run(self._do_rescore(collection, field, query, ids, k, filter))

    async def arescore(self, collection: str, field: str, query: Any, ids: Sequence[str],
                       k: int = 10, *, filter: Filter | Mapping[str, Any] | None = None) -> list[Hit]:
        """Async :meth:`rescore`."""
        return await self._arun(self._do_rescore(collection, field, query, ids, k, filter))

    def search(
        self,
        collection: str,
        field: str,
        query: Any,
        k: int = 10,
        *,
        filter: Filter | Mapping[str, Any] | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """Top ``k`` points by similarity on one field, best first.

        Args:
            collection: Collection name.
            field: The vector field to search; the query's type follows the field's kind
                (a ``(dim,)`` array, a SparseVector, a ``(n_tokens, dim)`` array, packed bits).
            query: The query vector.
            k: Number of hits.
            filter: A :class:`~vectorbridge.connectors.filters.Filter` or a filter dict.
            with_vectors: Also return each hit's stored vector of ``field`` (for MMR).
        """
        return self._run(self._do_search(collection, field, query, k, filter, with_vectors))

    async def asearch(self, collection: str, field: str, query: Any, k: int = 10, *,
                      filter: Filter | Mapping[str, Any] | None = None,
                      with_vectors: bool = False) -> list[Hit]:
        """Async :meth:`search`."""
        return await self._arun(self._do_search(collection, field, query, k, filter, with_vectors))

    def hybrid_search(
        self,
        collection: str,
        queries: Mapping[str, Any],
        k: int = 10,
        *,
        fusion: Fusion | str | None = None,
        prefetch_k: int | Mapping[str, int] = DEFAULT_PREFETCH_K,
        filter: Filter | Mapping[str, Any] | None = None,
        rescore: tuple[str, Any] | None = None,
        rescore_k: int | None = None,
        rescore_mode: RescoreMode = "replace",
    ) -> list[Hit]:
        """Search several fields at once and fuse the rankings, in the engine where it can.

        Each branch fetches ``max(prefetch_k, k)`` candidates (``rescore_k`` if larger) with
        ``filter`` applied; the fused list is cut to ``k``. With ``rescore``, a second stage
        scores candidates exactly on that field (e.g. MaxSim on a multi-vector field):
        ``rescore_mode="replace"`` re-sorts the fused top ``rescore_k`` by it;
        ``"fuse"`` ranks the union of the branches' candidates by it (top ``rescore_k``) and
        fuses that ranking with the branches (one more weight, last). Hit scores are the
        fused (or rescored) scores.

        Args:
            collection: Collection name.
            queries: ``{field: query}``, one branch per field, in weight order.
            k: Number of hits.
            fusion: A :class:`~vectorbridge.connectors.fusion.Fusion` or ``"rrf"`` / ``"dbsf"``
                / ``"weighted"`` (a name alone: RRF with k=60); default: ``default_fusion``.
            prefetch_k: Candidates per branch, one number or ``{field: depth}``.
            filter: Applies to every branch.
            rescore: ``(field, query)`` for a second stage over the fused candidates.
            rescore_k: How many candidates the second stage keeps (default 100).
            rescore_mode: ``"replace"`` or ``"fuse"``.
        """
        return self._run(self._do_hybrid(collection, queries, k, fusion, prefetch_k, filter,
                                         rescore, rescore_k, rescore_mode))

    async def ahybrid_search(self, collection: str, queries: Mapping[str, Any], k: int = 10, *,
                             fusion: Fusion | str | None = None,
                             prefetch_k: int | Mapping[str, int] = DEFAULT_PREFETCH_K,
                             filter: Filter | Mapping[str, Any] | None = None,
                             rescore: tuple[str, Any] | None = None,
                             rescore_k: int | None = None,
                             rescore_mode: RescoreMode = "replace") -> list[Hit]:
        """Async :meth:`hybrid_search`."""
        return await self._arun(self._do_hybrid(collection, queries, k, fusion, prefetch_k,
                                                filter, rescore, rescore_k, rescore_mode))

    def optimize(self, collection: str) -> None:
        """Build the collection's indexes now, after a bulk load, where the engine defers
        them (Qdrant Edge: HNSW and quantized copies; Milvus: seals segments so indexes are
        built). Searches are correct without it; with it they use the indexes."""
        self.spec(collection)

    async def aoptimize(self, collection: str) -> None:
        """Async :meth:`optimize` (the engines' index builds are blocking calls: run in a
        worker thread so the event loop keeps serving)."""
        await self.aspec(collection)
        await asyncio.to_thread(self.optimize, collection)

    def close(self) -> None:
        """Release the clients (files are flushed for embedded engines)."""

    async def aclose(self) -> None:
        """Release the async client (and the sync one)."""
        self.close()

    def __enter__(self) -> "Connector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def exact_score(f: FieldType, query: Any, value: Any) -> float:
    """Higher-is-better score of one stored value against a query, as the engine would give."""
    if isinstance(f, MultiVectorField):
        q, d = query, value
        if f.metric is Metric.COSINE:
            q, d = unit_rows(q), unit_rows(d)
        return maxsim(q, d)
    if isinstance(f, SparseField):
        return query.dot(value)
    if isinstance(f, BinaryField):
        return -float(np.bitwise_count(np.bitwise_xor(query, value)).sum())
    if isinstance(f, DenseField) and f.metric is Metric.COSINE:
        return float(unit_rows(query[None])[0] @ unit_rows(value[None])[0])
    if isinstance(f, DenseField) and f.metric is Metric.EUCLID:
        return -float(np.linalg.norm(query - value))
    return float(query @ value)


def unit_rows(m: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def chunks(seq: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``seq`` of at most ``size`` items."""
    for start in range(0, len(seq), size):
        yield seq[start:start + size]
