"""The tenant handle: a connector confined to one tenant (``connector.tenant("acme")``).

What it guarantees and how is :mod:`vectorbridge.connectors.tenants`: every read is the
engine's query plus the tenant condition and is checked again on the way out; ids are
namespaced by :func:`~vectorbridge.connectors.tenants.prefix_of`; writes stamp the tenant,
and a write by id first looks the ids up within the tenant.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

from vectorbridge.connectors.async_twins import twin
from vectorbridge.connectors.base import DEFAULT_PREFETCH_K
from vectorbridge.connectors.calls import Op
from vectorbridge.connectors.filters import Eq, Filter, as_filter
from vectorbridge.connectors.results import Hit, Page, Record, RescoreMode, WriteReport
from vectorbridge.connectors.scoring import ScoreFormula
from vectorbridge.connectors.spec import CollectionSpec
from vectorbridge.connectors.tenants import AnyFilter, _View, prefix_of
from vectorbridge.connectors.validation import MAX_ID_LENGTH, check_ids
from vectorbridge.errors import InvalidInputError, TenantScopeError


class TenantConnector(_View):
    """A connector confined to one tenant of collections with a ``tenant_key``
    (:mod:`~vectorbridge.connectors.tenants` says what is guaranteed and how)."""

    tenant_id: str

    def __repr__(self) -> str:
        return f"{self.parent!r}.tenant({self.tenant_id!r})"

    # -- the scope --------------------------------------------------------------------------
    @property
    def _prefix(self) -> str:
        return prefix_of(self.tenant_id)

    def _scope(self, collection: str, filter: AnyFilter) -> Op[tuple[CollectionSpec, Filter]]:
        spec = yield from self._do_spec(collection)
        if spec.tenant_key is None:
            raise TenantScopeError(
                f"collection {spec.name!r} has no tenant_key: a tenant handle reads and writes "
                "tenant collections only (CollectionSpec(..., tenant_key='tenant')); use the "
                "connector itself for this one.")
        mine = Eq(spec.tenant_key, self.tenant_id)
        flt = as_filter(filter)
        return spec, mine if flt is None else mine & flt

    def _inside(self, ids: Sequence[str]) -> list[str]:
        """Original ids -> the stored ids of this tenant's points."""
        out = [self._prefix + i for i in check_ids(ids)]
        long = [i for i in out if len(i) > MAX_ID_LENGTH]
        if long:
            raise InvalidInputError(
                f"id {long[0][len(self._prefix):][:40]!r}... is too long in tenant "
                f"{self.tenant_id!r}: ids and the tenant take {MAX_ID_LENGTH} characters at "
                f"most together ({MAX_ID_LENGTH - len(self._prefix)} left for the id).")
        return out

    def _outside(self, stored: str) -> str | None:
        """A stored id -> the original id, or ``None`` for a point of another tenant."""
        return stored[len(self._prefix):] if stored.startswith(self._prefix) else None

    def _own(self, spec: CollectionSpec, items: Sequence[Any]) -> list[Any]:
        """Hits or records of this tenant, with their original ids (the rest dropped: a
        second check behind the engine's filter)."""
        out = []
        for item in items:
            original = self._outside(item.id)
            if original is not None and item.payload.get(spec.tenant_key) == self.tenant_id:
                out.append(dataclasses.replace(item, id=original))
        return out

    def _stamped(self, spec: CollectionSpec, payloads: Any, n: int) -> list[dict[str, Any]]:
        rows = [None] * n if payloads is None else list(payloads)
        out = []
        for p in rows:
            p = dict(p or {})
            if p.setdefault(spec.tenant_key, self.tenant_id) != self.tenant_id:
                raise TenantScopeError(
                    f"a payload names tenant {p[spec.tenant_key]!r} under "
                    f"{spec.tenant_key!r}, but this handle writes for tenant "
                    f"{self.tenant_id!r}: nothing was written. Write through "
                    f"connector.tenant({p[spec.tenant_key]!r}), or drop the key.")
            out.append(p)
        return out

    def _hits(self, collection: str, filter: AnyFilter,
              op: Callable[[Filter], Op[list[Hit]]]) -> Op[list[Hit]]:
        spec, flt = yield from self._scope(collection, filter)
        return self._own(spec, (yield from op(flt)))

    # -- collections: create is shared, the rest is an admin job -----------------------------
    def create_collection(self, spec: CollectionSpec, recreate: bool = False) -> CollectionSpec:
        """Create a tenant collection, or check an existing one (``recreate=True`` would drop
        every tenant's data: an admin job, refused here)."""
        if isinstance(spec, CollectionSpec) and spec.tenant_key is None:
            raise TenantScopeError(f"a tenant handle creates tenant collections only: give "
                                   f"CollectionSpec({spec.name!r}, ..., tenant_key='tenant').")
        if recreate:
            raise TenantScopeError("recreate=True drops every tenant's data: do it through "
                                   "connector.all_tenants(), not a tenant handle.")
        return self._run(self._do_create(spec, False))

    acreate_collection = twin(create_collection)

    def _admin(self, what: str) -> TenantScopeError:
        return TenantScopeError(f"{what} changes the collection of every tenant: an admin job "
                                f"for connector.all_tenants(), not {self!r}.")

    def drop_collection(self, name: str) -> None:
        raise self._admin(f"drop_collection({name!r})")

    async def adrop_collection(self, name: str) -> None:
        raise self._admin(f"drop_collection({name!r})")

    def set_alias(self, alias: str, collection: str) -> None:
        raise self._admin(f"set_alias({alias!r}, {collection!r})")

    async def aset_alias(self, alias: str, collection: str) -> None:
        raise self._admin(f"set_alias({alias!r}, {collection!r})")

    def drop_alias(self, alias: str) -> None:
        raise self._admin(f"drop_alias({alias!r})")

    async def adrop_alias(self, alias: str) -> None:
        raise self._admin(f"drop_alias({alias!r})")

    # -- reads --------------------------------------------------------------------------------
    def get(self, collection: str, ids: Sequence[str], *,
            with_vectors: bool | Sequence[str] = False) -> list[Record]:
        """:meth:`Connector.get` of this tenant's points (another tenant's id: not found)."""
        return self._run(self._get(collection, ids, with_vectors))

    aget = twin(get)

    def _get(self, collection: str, ids: Sequence[str], with_vectors: Any) -> Op[list[Record]]:
        spec, _ = yield from self._scope(collection, None)
        return self._own(spec, (yield from self._do_get(collection, self._inside(ids),
                                                        with_vectors)))

    def count(self, collection: str, *, filter: AnyFilter = None) -> int:
        """:meth:`Connector.count` of this tenant's points."""
        return self._run(self._count(collection, filter))

    acount = twin(count)

    def _count(self, collection: str, filter: AnyFilter) -> Op[int]:
        _, flt = yield from self._scope(collection, filter)
        return (yield from self._do_count(collection, flt))

    def ids(self, collection: str, *, filter: AnyFilter = None) -> list[str]:
        """:meth:`Connector.ids` of this tenant's points (original ids, sorted)."""
        return self._run(self._ids(collection, filter))

    aids = twin(ids)

    def _ids(self, collection: str, filter: AnyFilter) -> Op[list[str]]:
        _, flt = yield from self._scope(collection, filter)
        stored = yield from self._do_ids(collection, flt)
        return [i for i in map(self._outside, stored) if i is not None]

    def scroll(self, collection: str, cursor: str | None = None, *, limit: int = 256,
               filter: AnyFilter = None, with_vectors: bool | Sequence[str] = False) -> Page:
        """:meth:`Connector.scroll` over this tenant's points."""
        return self._run(self._scroll(collection, cursor, limit, filter, with_vectors))

    ascroll = twin(scroll)

    def _scroll(self, collection: str, cursor: str | None, limit: int, filter: AnyFilter,
                with_vectors: Any) -> Op[Page]:
        spec, flt = yield from self._scope(collection, filter)
        page = yield from self._do_scroll(collection, cursor, limit, flt, with_vectors)
        return Page(self._own(spec, page.records), page.next_cursor)

    def rescore(self, collection: str, field: str, query: Any, ids: Sequence[str], k: int = 10,
                *, filter: AnyFilter = None) -> list[Hit]:
        """:meth:`Connector.rescore` of this tenant's ``ids``."""
        return self._run(self._hits(collection, filter, lambda flt: self._do_rescore(
            collection, field, query, self._inside(ids), k, flt)))

    arescore = twin(rescore)

    def search(self, collection: str, field: str, query: Any, k: int = 10, *,
               filter: AnyFilter = None, with_vectors: bool = False, group_by: str | None = None,
               group_size: int = 1, formula: ScoreFormula | None = None) -> list[Hit]:
        """:meth:`Connector.search` within this tenant (grouping and formulas included)."""
        return self._run(self._hits(collection, filter, lambda flt: self._do_search(
            collection, field, query, k, flt, with_vectors, group_by, group_size, formula)))

    asearch = twin(search)

    def mmr_search(self, collection: str, field: str, query: Any, k: int = 10, *,
                   fetch_k: int = 20, lambda_mult: float = 0.5,
                   filter: AnyFilter = None) -> list[Hit]:
        """:meth:`Connector.mmr_search` among this tenant's points."""
        return self._run(self._hits(collection, filter, lambda flt: self._do_mmr(
            collection, field, query, k, fetch_k, lambda_mult, flt)))

    ammr_search = twin(mmr_search)

    def hybrid_search(self, collection: str, queries: Mapping[str, Any], k: int = 10, *,
                      fusion: Any = None, prefetch_k: int | Mapping[str, int] = DEFAULT_PREFETCH_K,
                      filter: AnyFilter = None, rescore: tuple[str, Any] | None = None,
                      rescore_k: int | None = None, rescore_mode: RescoreMode = "replace",
                      group_by: str | None = None, group_size: int = 1,
                      formula: ScoreFormula | None = None) -> list[Hit]:
        """:meth:`Connector.hybrid_search` within this tenant: the tenant is a condition of
        every branch and prefetch, and of the rescoring stage."""
        return self._run(self._hits(collection, filter, lambda flt: self._do_hybrid(
            collection, queries, k, fusion, prefetch_k, flt, rescore, rescore_k, rescore_mode,
            group_by, group_size, formula)))

    ahybrid_search = twin(hybrid_search)

    # -- writes -------------------------------------------------------------------------------
    def upsert(self, collection: str, ids: Sequence[str], vectors: Mapping[str, Any],
               payloads: Sequence[Mapping[str, Any] | None] | None = None, *,
               batch_size: int = 256, journal: Any = None, mode: Any = "upsert") -> WriteReport:
        """:meth:`Connector.upsert` of this tenant's points: ids namespaced, payloads stamped
        with the tenant (one naming another tenant refuses the call before any write)."""
        return self._run(self._upsert(collection, ids, vectors, payloads, batch_size, journal,
                                      mode))

    aupsert = twin(upsert)

    def _upsert(self, collection: str, ids: Sequence[str], vectors: Any, payloads: Any,
                batch_size: int, journal: Any, mode: Any) -> Op[WriteReport]:
        spec, _ = yield from self._scope(collection, None)
        inside = self._inside(ids)
        stamped = self._stamped(spec, payloads, len(inside))
        report = yield from self._do_upsert(collection, inside, vectors, stamped, batch_size,
                                            journal, mode)
        return WriteReport(int(report), report.written,
                           [i for i in map(self._outside, report.refused) if i is not None])

    def delete(self, collection: str, ids: Sequence[str] | None = None, *,
               filter: AnyFilter = None) -> int:
        """:meth:`Connector.delete` of this tenant's points (ids of another tenant: none)."""
        return self._run(self._delete(collection, ids, filter))

    adelete = twin(delete)

    def _mine(self, collection: str, spec: CollectionSpec, ids: Sequence[str]) -> Op[list[str]]:
        """The stored ids among ``ids`` that are this tenant's points (looked up: a write by
        id never trusts the id alone)."""
        records = yield from self._do_get(collection, self._inside(ids), False)
        return [self._prefix + r.id for r in self._own(spec, records)]

    def _delete(self, collection: str, ids: Sequence[str] | None, filter: AnyFilter) -> Op[int]:
        spec, flt = yield from self._scope(collection, filter)
        if ids is None and filter is None:
            raise InvalidInputError("delete needs ids=[...] or filter=... (a point matching "
                                    "either goes).")
        mine = None if ids is None else (yield from self._mine(collection, spec, ids))
        if mine == [] and filter is None:
            return 0
        return (yield from self._do_delete(collection, mine or None,
                                           None if filter is None else flt))

    def update_payload(self, collection: str, ids: Sequence[str] | None = None, *,
                       filter: AnyFilter = None, patch: Mapping[str, Any]) -> int:
        """:meth:`Connector.update_payload` of this tenant's points; a patch cannot move a
        point to another tenant."""
        return self._run(self._update(collection, ids, filter, patch))

    aupdate_payload = twin(update_payload)

    def _update(self, collection: str, ids: Sequence[str] | None, filter: AnyFilter,
                patch: Any) -> Op[int]:
        spec, flt = yield from self._scope(collection, filter)
        if isinstance(patch, Mapping) and patch.get(spec.tenant_key, self.tenant_id) \
                != self.tenant_id:
            raise TenantScopeError(f"patch sets {spec.tenant_key!r} to another tenant: a point "
                                   "cannot move between tenants (delete it, write it anew).")
        if ids is None and filter is None:
            raise InvalidInputError("update_payload needs ids=[...] or filter=... (a point "
                                    "matching either is updated).")
        mine = None if ids is None else (yield from self._mine(collection, spec, ids))
        if mine == [] and filter is None:
            return 0
        return (yield from self._do_update_payload(collection, mine or None,
                                                   None if filter is None else flt, patch))


__all__ = ["TenantConnector"]
