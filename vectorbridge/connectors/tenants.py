"""Tenants: one collection, many tenants, a handle that cannot leak.

A collection whose spec names a ``tenant_key`` (``CollectionSpec(..., tenant_key="tenant")``)
serves many tenants, and a plain connector refuses to read or write it: every call goes
through a handle. ``connector.tenant("acme")`` is a connector confined to one tenant, with
the same methods (and so usable wherever a connector is: ``HybridRetriever``,
``VectorBridgeStore``, ``copy_collection``):

- every read is one more condition of the engine's own query (``tenant_key == "acme"``, in
  every branch and prefetch of a hybrid search, in grouping, formulas, MMR, rescoring, counts
  and id lists), so whatever a stage does runs on the tenant's points only; and every result
  is checked again on the way out (a point of another tenant is dropped, never returned);
- ids are namespaced: the stored id is ``"<len>:<tenant>:<id>"``, so the same original id in
  two tenants is two points, and ``get`` / ``delete`` / ``update_payload`` of an id reach the
  handle's own point only; reads give the original ids back;
- writes stamp the tenant into each payload; a payload or patch naming another tenant is
  refused before anything is written;
- dropping, recreating or aliasing the collection is an admin job: refused on a tenant
  handle. ``connector.all_tenants()`` is the explicit unscoped handle for such jobs (a copy
  of the whole collection: its reads show the stored ids).

The engine keeps tenants apart natively as well, through the partition key the tenant key
is (Milvus partition-key field, Qdrant ``is_tenant`` keyword index and, with
``sharding="custom"``, a shard key per tenant). Tenant values are data throughout: the
filter compilers quote them, so quotes, backslashes or filter syntax in a tenant name match
that name only (tests/test_tenants.py).

Example:
    >>> from vectorbridge.connectors import CollectionSpec, ReferenceConnector
    >>> conn = ReferenceConnector()
    >>> _ = conn.create_collection(CollectionSpec("docs", dense={"v": 2}, tenant_key="t"))
    >>> for tenant, vec in (("acme", [1.0, 0.0]), ("globex", [0.0, 1.0])):
    ...     _ = conn.tenant(tenant).upsert("docs", ["d1"], {"v": [vec]}, [{"n": tenant}])
    >>> [(h.id, h.payload["n"]) for h in conn.tenant("globex").search("docs", "v", [1.0, 0.0])]
    [('d1', 'globex')]
    >>> conn.count("docs")
    Traceback (most recent call last):
    ...
    vectorbridge.errors.TenantScopeError: collection 'docs' is shared by tenants ...
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from vectorbridge.connectors.async_twins import twin
from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.calls import Op
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.results import WriteReport
from vectorbridge.connectors.validation import check_ids
from vectorbridge.errors import InvalidInputError, TenantScopeError

#: The tenant key of a collection a retriever or store creates through a tenant handle.
DEFAULT_TENANT_KEY = "tenant"
#: Longest tenant value (what is left of an id's 512 characters goes to the original id).
MAX_TENANT_LENGTH = 128

AnyFilter = Filter | Mapping[str, Any] | None


def check_tenant(tenant: Any) -> str:
    """``tenant`` if it is a usable tenant value (any non-empty text up to 128 characters)."""
    if not isinstance(tenant, str) or not tenant or len(tenant) > MAX_TENANT_LENGTH:
        raise InvalidInputError(f"a tenant is a non-empty str of at most {MAX_TENANT_LENGTH} "
                                f"characters, got {tenant!r}.")
    try:
        tenant.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"tenant {tenant!r} is not valid Unicode text (a lone "
                                "surrogate): the engines store UTF-8.") from None
    if "\0" in tenant:
        raise InvalidInputError(f"tenant {tenant!r} holds a NUL character, which the engines "
                                "do not store.")
    return tenant


def _view(cls: type, parent: Connector) -> Any:
    """A connector of class ``cls`` over ``parent``'s engine, specs and index counts."""
    if isinstance(parent, _View):
        raise TenantScopeError(f"{parent!r} is already a scoped handle: take tenant() or "
                               "all_tenants() from the connector itself.")
    view = object.__new__(cls)
    object.__setattr__(view, "backend", parent.backend)
    view.__dict__.update(_specs=parent._specs, _index_schedules=parent._index_schedules,
                         retry=parent.retry, parent=parent)
    return view


class _View(Connector):
    """A handle over a parent connector: it shares the parent's clients, which the parent
    closes (``close`` on a handle does nothing)."""

    _tenant_aware = True
    parent: Connector

    def close(self) -> None:
        """Nothing: the parent connector owns the clients."""

    async def aclose(self) -> None:
        """Nothing: the parent connector owns the clients."""


def prefix_of(tenant: Any) -> str:
    """The stored-id prefix of ``tenant``'s points: ``"<len>:<tenant>:"``."""
    return f"{len(tenant)}:{tenant}:" if isinstance(tenant, str) else "\0"


class AllTenants(_View):
    """The explicit unscoped handle of a tenant collection (``connector.all_tenants()``):
    every point of every tenant, with its stored (namespaced) id. For admin jobs: a copy of
    the whole collection, a migration, an audit, dropping the collection. Its writes keep
    what the tenant handles rely on: each stored id begins with its payload tenant's prefix,
    and no patch moves a point to another tenant."""

    def __repr__(self) -> str:
        return f"{self.parent!r}.all_tenants()"

    def upsert(self, collection: str, ids: Sequence[str], vectors: Mapping[str, Any],
               payloads: Sequence[Mapping[str, Any] | None] | None = None, *,
               batch_size: int = 256, journal: Any = None, mode: Any = "upsert") -> WriteReport:
        """:meth:`Connector.upsert` of stored points (ids as ``all_tenants()`` reads them)."""
        return self._run(self._upsert(collection, ids, vectors, payloads, batch_size, journal,
                                      mode))

    aupsert = twin(upsert)

    def _upsert(self, collection: str, ids: Sequence[str], vectors: Any, payloads: Any,
                batch_size: int, journal: Any, mode: Any) -> Op[WriteReport]:
        spec = yield from self._do_spec(collection)
        if spec.tenant_key is not None:
            rows = [None] * len(check_ids(ids)) if payloads is None else list(payloads)
            for i, p in zip(check_ids(ids), rows):
                tenant = (p or {}).get(spec.tenant_key)
                if not i.startswith(prefix_of(tenant)):
                    raise TenantScopeError(
                        f"id {i[:60]!r} is not a stored id of tenant {tenant!r} (they begin "
                        f"with {prefix_of(tenant)!r}): nothing was written. all_tenants() "
                        "writes points as it reads them; write a tenant's documents through "
                        f"connector.tenant({tenant!r}).")
        return (yield from self._do_upsert(collection, ids, vectors, payloads, batch_size,
                                           journal, mode))

    def update_payload(self, collection: str, ids: Sequence[str] | None = None, *,
                       filter: AnyFilter = None, patch: Mapping[str, Any]) -> int:
        """:meth:`Connector.update_payload`, which never moves a point between tenants."""
        return self._run(self._update(collection, ids, filter, patch))

    aupdate_payload = twin(update_payload)

    def _update(self, collection: str, ids: Any, filter: AnyFilter, patch: Any) -> Op[int]:
        spec = yield from self._do_spec(collection)
        if spec.tenant_key is not None and isinstance(patch, Mapping) \
                and spec.tenant_key in patch:
            raise TenantScopeError(f"patch sets {spec.tenant_key!r}: a point cannot move "
                                   "between tenants (delete it, write it anew).")
        return (yield from self._do_update_payload(collection, ids, filter, patch))


def tenant_of(connector: Any) -> str | None:
    """The tenant a connector is confined to, or ``None``."""
    return getattr(connector, "tenant_id", None)


def __getattr__(name: str) -> Any:
    if name == "TenantConnector":  # its home is tenant_handle.py (which imports this module)
        from vectorbridge.connectors.tenant_handle import TenantConnector

        return TenantConnector
    raise AttributeError(name)


def scoped(connector: Connector, tenant: str) -> Connector:
    """``connector`` confined to ``tenant`` (the retrievers' ``tenant=``, per object or per
    call): a handle already confined to that tenant as it is, to another one refused (a
    handle never widens or changes its scope)."""
    current = tenant_of(connector)
    if current is None:
        return connector.tenant(tenant)
    if current != check_tenant(tenant):
        raise TenantScopeError(f"{connector!r} is confined to tenant {current!r}: it cannot "
                               f"serve tenant {tenant!r}. Give the retriever the unscoped "
                               "connector to choose the tenant per call.")
    return connector


__all__ = ["AllTenants", "prefix_of", "DEFAULT_TENANT_KEY", "MAX_TENANT_LENGTH", "check_tenant", "tenant_of", "scoped"]
