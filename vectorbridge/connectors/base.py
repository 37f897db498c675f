"""The connector: one public API, sync and async, over any engine.

:class:`Connector` composes an :class:`~vectorbridge.connectors.engine.Engine`: the engine
holds the clients and turns operations into client calls; the connector validates each call
completely before anything is written, keeps the specs, retries a server that drops out,
orders every result list the same way and fuses or rescores client-side where the engine
cannot (:mod:`~vectorbridge.connectors.operations`). Each public method has an ``a``-prefixed
async twin that runs the same operation on the engine's async client.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable, Mapping, Sequence

from vectorbridge import tracing
from vectorbridge.connectors.aliases import AliasOperations
from vectorbridge.connectors.async_twins import twin
from vectorbridge.connectors.calls import Op, run_async, run_sync
from vectorbridge.connectors.engine import Capabilities, Engine, capability_gaps
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.connectors.indexing import IndexSchedule
from vectorbridge.connectors.operations import Operations
from vectorbridge.connectors.results import (  # re-exported: their home before results.py
    DEFAULT_PREFETCH_K, MAX_TIE_WIDENING, RESCORE_MODES, Branch, Hit, Page, Record, Rescore,
    RescoreMode, chunks, exact_score, rank_key, tie_margin, unit_rows,
)
from vectorbridge.connectors.retry import RetryPolicy
from vectorbridge.connectors.scoring import ScoreFormula
from vectorbridge.connectors.spec import CollectionSpec
from vectorbridge.connectors.writing import WriteOperations
from vectorbridge.errors import InvalidInputError, ServerUnavailableError


class Connector(Operations, WriteOperations, AliasOperations):
    """A vectorbridge connector over an engine: :class:`QdrantConnector`,
    :class:`MilvusConnector` and :class:`ReferenceConnector` build their engine and pass it
    here; ``Connector(MyEngine(...))`` works for any other.

    Public methods validate their whole input first and only then call the engine, so a bad
    call never writes anything. Each has an async twin (``aupsert``, ``asearch``, ...) that
    runs the same operation on the engine's async client. Attributes of the engine
    (``client``, ``is_lite``, ``consistency_level``, ...) read and write through the
    connector.

    Args:
        engine: The engine to drive.
        retry: Retries of a server that does not answer; default ``RetryPolicy()``.
    """

    def __init__(self, engine: Engine, retry: RetryPolicy | None = None) -> None:
        if not isinstance(engine, Engine):
            raise InvalidInputError(f"Connector needs an Engine, got {type(engine).__name__}.")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidInputError(f"retry= takes a RetryPolicy(...), got {type(retry).__name__}.")
        object.__setattr__(self, "backend", engine)
        self._specs: dict[str, CollectionSpec] = {}
        self._index_schedules: dict[str, IndexSchedule] = {}
        self.retry = retry or RetryPolicy()
        engine.open(self)

    # -- the engine, seen through the connector -------------------------------------------
    @property
    def engine(self) -> str:
        """Short engine name used in messages ("qdrant-edge", "milvus-lite", ...)."""
        return self.backend.name

    @property
    def capabilities(self) -> Capabilities:
        """What this engine holds and runs natively."""
        return self.backend.capabilities

    @property
    def default_fusion(self) -> Fusion:
        """What ``hybrid_search`` and ``HybridRetriever`` fuse with when not told."""
        return self.backend.default_fusion

    @property
    def remote(self) -> bool:
        """Calls cross a network, so transient failures are retried."""
        return self.backend.remote

    @remote.setter
    def remote(self, value: bool) -> None:
        self.backend.remote = value

    @property
    def client(self) -> Any:
        """The engine's blocking client."""
        return self.backend.client

    @client.setter
    def client(self, value: Any) -> None:
        self.backend.client = value

    def unsupported(self, spec: CollectionSpec) -> list[str]:
        """Reasons this engine cannot hold ``spec`` (empty when it can)."""
        return capability_gaps(spec, self.capabilities, self.engine) + self.backend.unsupported(spec)

    def __getattr__(self, name: str) -> Any:
        if name == "backend":  # not set yet: no engine to ask
            raise AttributeError(name)
        return getattr(self.backend, name)

    def __setattr__(self, name: str, value: Any) -> None:
        backend = self.__dict__.get("backend")
        if backend is not None and name not in self.__dict__ \
                and not hasattr(type(self), name) and hasattr(backend, name):
            setattr(backend, name, value)  # an engine attribute, e.g. consistency_level
        else:
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:  # the engine's place, never a credential
        return f"{type(self).__name__}({self.backend.where!r})"

    # -- drivers --------------------------------------------------------------------------
    def _guard(self) -> "Connector | None":
        return self if self.remote and self.retry.attempts > 1 else None

    def _run(self, op: Op[Any]) -> Any:
        """Run ``op`` for the public method that called this, in that method's span (its
        name and arguments are the caller's frame: every public operation ends in
        ``return self._run(self._do_<operation>(...))``)."""
        caller = sys._getframe(1)
        with tracing.operation_span(self, caller.f_code.co_name, lambda: caller.f_locals) as s:
            out = run_sync(op, self.client, self._guard())
            tracing.note_result(s, out)
        return out

    async def _arun(self, op: Op[Any], operation: str = "operation",
                    arguments: Callable[[], Mapping[str, Any]] = dict) -> Any:
        with tracing.operation_span(self, operation, arguments) as s:
            out = await run_async(op, self._async_client(), self.client, self._guard())
            tracing.note_result(s, out)
        return out

    def _async_client(self) -> Any:
        return self.backend.async_client()

    # -- fault handling (the Guard of vectorbridge.connectors.retry) ------------------------
    def _transient(self, exc: BaseException) -> bool:
        return self.backend.transient(exc)

    def _recovery(self, exc: BaseException, method: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
        return self.backend.recovery(exc, method, args, kwargs)

    def _scrub(self, text: str) -> str:
        for secret in self.backend.secrets():
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

    # -- collections ----------------------------------------------------------------------
    def has_collection(self, name: str) -> bool:
        """Whether the collection exists."""
        return self._run(self._do_has(name))

    ahas_collection = twin(has_collection)

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

    acreate_collection = twin(create_collection)

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its data (no-op if it does not exist). Refused for an
        alias, and for a collection an alias names (move or drop the alias first)."""
        return self._run(self._do_drop(name))

    adrop_collection = twin(drop_collection)

    def spec(self, name: str) -> CollectionSpec:
        """The spec of an existing collection (cached after the first look-up)."""
        return self._run(self._do_spec(name))

    aspec = twin(spec)

    # -- points ---------------------------------------------------------------------------
    def get(self, collection: str, ids: Sequence[str], *,
            with_vectors: bool | Sequence[str] = False) -> list[Record]:
        """Stored points for ``ids`` in the order asked; ids not found are left out.
        ``with_vectors``: all vector fields (True), none, or the named ones only."""
        return self._run(self._do_get(collection, ids, with_vectors))

    aget = twin(get)

    def count(self, collection: str, *, filter: Filter | Mapping[str, Any] | None = None) -> int:
        """Exact number of points (matching ``filter`` if given)."""
        return self._run(self._do_count(collection, filter))

    acount = twin(count)

    def ids(self, collection: str, *,
            filter: Filter | Mapping[str, Any] | None = None) -> list[str]:
        """Every id in the collection (matching ``filter`` if given, evaluated by the
        engine), sorted: the candidate set of client-side indexes such as PQ codes."""
        return self._run(self._do_ids(collection, filter))

    aids = twin(ids)

    def scroll(self, collection: str, cursor: str | None = None, *, limit: int = 256,
               filter: Filter | Mapping[str, Any] | None = None,
               with_vectors: bool | Sequence[str] = False) -> Page:
        """One page of the collection's points in the engine's own order (Qdrant's scroll,
        Milvus' primary key), from ``cursor`` (``None``: the start); pass the page's
        ``next_cursor`` for the next one. Memory stays flat in the collection's size.

        Args:
            collection: Collection name or alias.
            cursor: Where to start: ``None`` or a ``next_cursor`` (also from another process).
            limit: Points per page.
            filter: Only points it matches (evaluated by the engine).
            with_vectors: All stored vector fields (True), none, or the named ones. An
                engine-BM25 field holds no vector of its own to read: its text is in the payload.
        """
        return self._run(self._do_scroll(collection, cursor, limit, filter, with_vectors))

    ascroll = twin(scroll)

    def rescore(self, collection: str, field: str, query: Any, ids: Sequence[str], k: int = 10,
                *, filter: Filter | Mapping[str, Any] | None = None) -> list[Hit]:
        """Exact top ``k`` of the given ``ids`` on ``field`` (candidates found elsewhere, e.g.
        by client-side PQ codes), best first; ``filter`` drops candidates it rejects."""
        return self._run(self._do_rescore(collection, field, query, ids, k, filter))

    arescore = twin(rescore)

    def search(
        self,
        collection: str,
        field: str,
        query: Any,
        k: int = 10,
        *,
        filter: Filter | Mapping[str, Any] | None = None,
        with_vectors: bool = False,
        group_by: str | None = None,
        group_size: int = 1,
        formula: ScoreFormula | None = None,
    ) -> list[Hit]:
        """Top ``k`` points by similarity on one field, best first; with ``group_by``, the
        top ``k`` groups of points sharing that payload value (:mod:`.grouping`); with
        ``formula``, scores boosted / decayed by payload values (:mod:`.scoring`).

        Args:
            collection: Collection name.
            field: The vector field to search; the query's type follows the field's kind
                (a ``(dim,)`` array, a SparseVector, a ``(n_tokens, dim)`` array, packed bits).
            query: The query vector.
            k: Number of hits.
            filter: A :class:`~vectorbridge.connectors.filters.Filter` or a filter dict.
            with_vectors: Also return each hit's stored vector of ``field`` (for MMR).
            group_by: A payload key (``"doc_id"`` of chunks): ``k`` counts groups, hits come
                group by group, best first.
            group_size: Hits kept per group.
            formula: A :class:`~vectorbridge.connectors.scoring.ScoreFormula`.
        """
        return self._run(self._do_search(collection, field, query, k, filter, with_vectors,
                                         group_by, group_size, formula))

    asearch = twin(search)

    def mmr_search(self, collection: str, field: str, query: Any, k: int = 10, *,
                   fetch_k: int = 20, lambda_mult: float = 0.5,
                   filter: Filter | Mapping[str, Any] | None = None) -> list[Hit]:
        """Maximal marginal relevance in the engine (``capabilities.native_mmr``: Qdrant;
        refused elsewhere, where the store selects client-side): ``k`` of the ``fetch_k``
        nearest on a dense field, in the order chosen (scores: similarity to the query).

        Args:
            collection: Collection name.
            field: A dense vector field.
            query: The query vector.
            k: Number of hits.
            fetch_k: Candidates MMR chooses from.
            lambda_mult: LangChain's meaning: 1 = pure relevance, 0 = maximum diversity.
            filter: Applies to the candidates.
        """
        return self._run(self._do_mmr(collection, field, query, k, fetch_k, lambda_mult, filter))

    ammr_search = twin(mmr_search)

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
        group_by: str | None = None,
        group_size: int = 1,
        formula: ScoreFormula | None = None,
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
            group_by: Groups of the fused ranking, as in :meth:`search`.
            group_size: Hits kept per group.
            formula: Boosts / decays over the fused scores (client-side).
        """
        return self._run(self._do_hybrid(collection, queries, k, fusion, prefetch_k, filter,
                                         rescore, rescore_k, rescore_mode, group_by, group_size,
                                         formula))

    ahybrid_search = twin(hybrid_search)

    def optimize(self, collection: str) -> None:
        """Build the collection's indexes now, after a bulk load, where the engine defers
        them (Qdrant Edge: HNSW and quantized copies; Milvus: seals segments so indexes are
        built). Searches are correct without it; with it they use the indexes."""
        with tracing.operation_span(self, "optimize", lambda: {"collection": collection}):
            self.backend.optimize(self.spec(collection))

    async def aoptimize(self, collection: str) -> None:
        """Async :meth:`optimize` (the engines' index builds are blocking calls: run in a
        worker thread so the event loop keeps serving)."""
        await self.aspec(collection)
        await asyncio.to_thread(self.optimize, collection)

    def index_schedule(self, collection: str) -> IndexSchedule:
        """When ``collection``'s written points get indexed, by the engine's policy
        (``capabilities.index_every``): one count per collection on this connector, shared
        by every write path that uses it (the store, the retriever's ingest, copy, reindex;
        :mod:`~vectorbridge.connectors.indexing`)."""
        if collection not in self._index_schedules:
            self._index_schedules.setdefault(collection, IndexSchedule(self, collection))
        return self._index_schedules[collection]

    # -- tenants (connectors/tenants.py) ----------------------------------------------------
    def tenant(self, tenant: str) -> "Connector":
        """A connector confined to ``tenant`` of collections with a ``tenant_key``: every
        read, search and write of it sees and changes that tenant's points only
        (:mod:`~vectorbridge.connectors.tenants`). Cheap: it shares this connector's
        clients."""
        from vectorbridge.connectors.tenant_handle import TenantConnector
        from vectorbridge.connectors.tenants import _view, check_tenant

        view = _view(TenantConnector, self)
        view.__dict__["tenant_id"] = check_tenant(tenant)
        return view

    def all_tenants(self) -> "Connector":
        """The explicit unscoped handle of tenant collections, for admin jobs over every
        tenant (a copy of the whole collection): reads show the stored, namespaced ids."""
        from vectorbridge.connectors.tenants import AllTenants, _view

        return _view(AllTenants, self)

    def close(self) -> None:
        """Release the clients (files are flushed for embedded engines)."""
        self.backend.close()

    async def aclose(self) -> None:
        """Release the async client (and the sync one)."""
        await self.backend.aclose()

    def __enter__(self) -> "Connector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Connector", "twin", "DEFAULT_PREFETCH_K", "MAX_TIE_WIDENING", "RESCORE_MODES", "Branch",
           "Hit", "Record", "Rescore", "RescoreMode", "chunks", "exact_score", "rank_key",
           "tie_margin", "unit_rows"]
