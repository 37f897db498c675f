"""The connector contract: one small base class, engine logic in thin subclasses.

:class:`Connector` holds everything that does not talk to a database — spec bookkeeping,
validation, batching, id handling, result types — and calls a handful of ``_engine_*``
hooks that each engine implements. Async twins (later) reuse the same non-I/O core.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from vectorbridge.connectors.filters import Filter, as_filter
from vectorbridge.connectors.spec import CollectionSpec, FieldType, check_name
from vectorbridge.connectors.validation import Rows, check_ids, check_k, check_query, prepare_rows
from vectorbridge.encoders.types import SparseVector
from vectorbridge.errors import CollectionNotFoundError, InvalidInputError, SpecMismatchError, \
    UnsupportedFeatureError


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is higher-is-better on every metric (distances negated)."""

    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One stored point as returned by ``get``: the original id, payload and (optionally)
    vectors in the canonical types of :class:`~vectorbridge.connectors.validation.Rows`."""

    id: str
    payload: dict[str, Any]
    vectors: dict[str, Any] = field(default_factory=dict)


class Connector(ABC):
    """Base of :class:`QdrantConnector` and :class:`MilvusConnector`.

    Public methods validate their whole input first and only then call the engine hooks, so
    a bad call never writes anything.
    """

    #: Short engine name used in messages ("qdrant", "milvus-lite", ...).
    engine: str = "?"

    def __init__(self) -> None:
        self._specs: dict[str, CollectionSpec] = {}

    # -- engine hooks ---------------------------------------------------------------------
    @abstractmethod
    def _engine_exists(self, name: str) -> bool: ...

    @abstractmethod
    def _engine_spec(self, name: str) -> CollectionSpec:
        """The spec stored with an existing collection."""

    @abstractmethod
    def _engine_create(self, spec: CollectionSpec) -> None: ...

    @abstractmethod
    def _engine_drop(self, name: str) -> None: ...

    @abstractmethod
    def _engine_upsert(self, spec: CollectionSpec, rows: Rows) -> None: ...

    @abstractmethod
    def _engine_get(self, spec: CollectionSpec, ids: list[str], with_vectors: bool) -> list[Record]: ...

    @abstractmethod
    def _engine_delete(self, spec: CollectionSpec, ids: list[str] | None, flt: Filter | None) -> None: ...

    @abstractmethod
    def _engine_count(self, spec: CollectionSpec, flt: Filter | None) -> int: ...

    @abstractmethod
    def _engine_search(self, spec: CollectionSpec, field_name: str, f: FieldType, query: Any,
                       k: int, flt: Filter | None) -> list[Hit]: ...

    def unsupported(self, spec: CollectionSpec) -> list[str]:
        """Reasons this engine cannot hold ``spec`` (empty when it can)."""
        return []

    # -- collections ----------------------------------------------------------------------
    def has_collection(self, name: str) -> bool:
        """Whether the collection exists."""
        return self._engine_exists(check_name(name, "collection"))

    def create_collection(self, spec: CollectionSpec, recreate: bool = False) -> CollectionSpec:
        """Create ``spec.name``, or check that the existing collection matches ``spec``.

        Args:
            spec: What the collection holds.
            recreate: Drop an existing collection of that name first (its data is lost).

        Raises:
            UnsupportedFeatureError: The engine lacks a field type the spec needs.
            SpecMismatchError: The collection exists with other fields and ``recreate=False``.
        """
        if not isinstance(spec, CollectionSpec):
            raise InvalidInputError(f"create_collection needs a CollectionSpec, got {type(spec).__name__}.")
        problems = self.unsupported(spec)
        if problems:
            raise UnsupportedFeatureError(f"{self.engine} cannot hold collection {spec.name!r}: "
                                          + "; ".join(problems))
        if self._engine_exists(spec.name):
            if recreate:
                self._engine_drop(spec.name)
            else:
                existing = self._engine_spec(spec.name)
                if not existing.same_fields(spec):
                    raise SpecMismatchError(
                        f"collection {spec.name!r} already exists on {self.engine} with "
                        f"{existing.to_json()}, which differs from the spec given "
                        f"{spec.to_json()}. Use another name, or recreate=True to drop it "
                        "(its data is lost)."
                    )
                self._specs[spec.name] = existing
                return existing
        self._engine_create(spec)
        self._specs[spec.name] = spec
        return spec

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its data (no-op if it does not exist)."""
        check_name(name, "collection")
        self._specs.pop(name, None)
        if self._engine_exists(name):
            self._engine_drop(name)

    def spec(self, name: str) -> CollectionSpec:
        """The spec of an existing collection (cached after the first look-up)."""
        cached = self._specs.get(name)
        if cached is not None:
            return cached
        check_name(name, "collection")
        if not self._engine_exists(name):
            raise CollectionNotFoundError(
                f"collection {name!r} does not exist on {self.engine}; create it with "
                "create_collection(CollectionSpec(...))."
            )
        self._specs[name] = spec = self._engine_spec(name)
        return spec

    # -- points ---------------------------------------------------------------------------
    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Mapping[str, Any],
        payloads: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        batch_size: int = 256,
    ) -> int:
        """Insert or replace points, in batches; re-upserting the same ids changes nothing else.

        The whole call is validated before the first batch is written.

        Args:
            collection: Collection name.
            ids: Original string ids (any text, up to 512 chars); reads return them as given.
            vectors: ``{field: values}`` for every field of the spec: ``(n, dim)`` arrays for
                dense, lists of :class:`~vectorbridge.encoders.SparseVector` (or ``{index:
                weight}`` dicts) for sparse, lists of ``(n_tokens, dim)`` arrays for
                multi-vector, packed uint8 ``(n, bits // 8)`` for binary.
            payloads: One JSON-serialisable dict per id, or ``None``.
            batch_size: Points per request.

        Returns:
            The number of points written.
        """
        spec = self.spec(collection)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
        rows = prepare_rows(spec, ids, vectors, payloads)
        for start in range(0, len(rows), batch_size):
            self._engine_upsert(spec, rows.slice(start, start + batch_size))
        return len(rows)

    def get(self, collection: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[Record]:
        """Stored points for ``ids`` in the order asked; ids not found are left out."""
        spec = self.spec(collection)
        id_list = check_ids(ids)
        if not id_list:
            return []
        found = {r.id: r for r in self._engine_get(spec, id_list, with_vectors)}
        return [found[i] for i in id_list if i in found]

    def delete(
        self,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | Mapping[str, Any] | None = None,
    ) -> None:
        """Delete points by id, by filter, or both (a point matching either goes)."""
        spec = self.spec(collection)
        if ids is None and filter is None:
            raise InvalidInputError("delete needs ids=[...] or filter=...; to empty a collection, "
                                    "drop and recreate it.")
        id_list = check_ids(ids) if ids is not None else None
        flt = as_filter(filter)
        if id_list == [] and flt is None:
            return
        self._engine_delete(spec, id_list or None, flt)

    def count(self, collection: str, *, filter: Filter | Mapping[str, Any] | None = None) -> int:
        """Exact number of points (matching ``filter`` if given)."""
        return self._engine_count(self.spec(collection), as_filter(filter))

    def search(
        self,
        collection: str,
        field: str,
        query: Any,
        k: int = 10,
        *,
        filter: Filter | Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Top ``k`` points by similarity on one field, best first.

        Args:
            collection: Collection name.
            field: The vector field to search; the query's type follows the field's kind
                (a ``(dim,)`` array, a SparseVector, a ``(n_tokens, dim)`` array, packed bits).
            query: The query vector.
            k: Number of hits.
            filter: A :class:`~vectorbridge.connectors.filters.Filter` or a filter dict.
        """
        spec = self.spec(collection)
        f = spec.field(field)
        q = check_query(spec, field, query)
        if isinstance(q, SparseVector) and not len(q):
            return []  # no term to match: every engine would score all points 0
        return self._engine_search(spec, field, f, q, check_k(k), as_filter(filter))

    def close(self) -> None:
        """Release the client (files are flushed for embedded engines)."""

    def __enter__(self) -> "Connector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunks(seq: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``seq`` of at most ``size`` items."""
    for start in range(0, len(seq), size):
        yield seq[start:start + size]
