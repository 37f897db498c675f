"""One collection description that drives every engine: :class:`CollectionSpec`.

A spec names its vector fields by kind — dense, sparse, multi-vector, binary — and says what a
payload must hold. Connectors translate it to Qdrant named vectors / Milvus schema fields,
store it with the collection (so a reopened collection can be checked against the spec it is
opened with), and validate every write against it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Mapping, Sequence

from vectorbridge.connectors.fields import (
    ENGINE_QUANTIZATIONS, FIELD_KINDS, BinaryField, DenseField, FieldKind, FieldType, Metric,
    MultiVectorField, SparseField,
)
from vectorbridge.errors import InvalidInputError


# The field kinds live in :mod:`vectorbridge.connectors.fields`, one module each; re-exported
# here, their home before.
_KINDS = FIELD_KINDS

#: Names of collections and fields: what both engines accept.
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: Field names the connectors use themselves.
RESERVED_NAMES = frozenset({"id", "payload", "doc_id", "pos"})
#: Distribution settings of a spec, stored with it (absent = the engine's default).
_DISTRIBUTION = ("shards", "replicas", "write_consistency", "partition_key", "num_partitions",
                 "sharding", "tenant_key")
#: ``sharding`` values: the engine's automatic placement, or one shard key per partition value.
SHARDING = ("auto", "custom")
#: Payload keys starting with this prefix are reserved for vectorbridge's own bookkeeping.
RESERVED_PREFIX = "_vb"
#: What a payload key can be indexed as (``CollectionSpec(payload_indexes=...)``).
PAYLOAD_INDEX_TYPES = ("keyword", "integer", "float", "bool")


def check_name(name: Any, what: str) -> str:
    """Return ``name`` if it is a valid collection or field name, else raise."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or "__" in name:
        raise InvalidInputError(
            f"{what} name {name!r} is invalid: use 1-63 letters, digits or single underscores, "
            "starting with a letter or underscore (both Qdrant and Milvus accept that)."
        )
    return name


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection holds.

    Args:
        name: Collection name.
        dense: ``{field: dim}`` or ``{field: DenseField(dim, metric)}``.
        sparse: ``["bm25"]`` or ``{field: SparseField(idf=True)}``.
        multivector: ``{field: dim}`` or ``{field: MultiVectorField(dim)}``.
        binary: ``{field: n_bits}`` or ``{field: BinaryField(n_bits)}``.
        text_key: Payload key every point must carry as a non-empty string (e.g. ``"text"``),
            or ``None`` for no requirement.
        shards: Shards of the collection on a distributed server (Qdrant ``shard_number``,
            Milvus ``num_shards``); embedded engines hold one and ignore it.
        replicas: Copies of each shard (Qdrant ``replication_factor``; Milvus in-memory
            replicas at load, which need as many query nodes).
        write_consistency: Qdrant ``write_consistency_factor``: replicas that must
            acknowledge a write (at most ``replicas``); Milvus has no such setting.
        partition_key: A payload key every point carries as a string (a tenant, a source):
            Milvus stores it in a partition-key field (rows hashed into ``num_partitions``
            partitions), Qdrant indexes it as a tenant key (``is_tenant=True`` keyword
            index, data co-located per tenant). Filters on it work as on any payload key.
        num_partitions: Milvus partitions for ``partition_key`` (Milvus' default when None).
        sharding: ``"custom"`` places each ``partition_key`` value on shards of its own: on a
            Qdrant server ``sharding_method=custom`` with one shard key per value (created on
            its first write, ``shards`` shards and ``replicas`` copies each); writes go to
            their key's shards, and a search whose filter pins the partition key to values
            is sent to those shards only. Milvus routes by its partition-key field anyway
            (same as ``"auto"``); embedded engines hold one shard and ignore it. A point's
            partition value then cannot change on re-upsert (it would live in two shards):
            delete it first. ``None`` / ``"auto"``: the engine places points.
        tenant_key: A payload key naming the tenant of each point: the collection serves
            many tenants, and is read and written through tenant handles only
            (``connector.tenant("acme")``; ``connector.all_tenants()`` for admin jobs such as
            a copy of the whole collection): :mod:`~vectorbridge.connectors.tenants`. It is
            the collection's ``partition_key`` too (set either to it, or leave that unset),
            so each engine keeps tenants apart natively (Milvus partition key, Qdrant
            ``is_tenant`` index, custom shard keys with ``sharding="custom"``).
        group_key: A payload key every point carries as a string (the ``doc_id`` of chunks)
            that searches group by (``group_by=``): Milvus stores a copy in a scalar field
            so ``group_by_field`` runs in the engine; Qdrant indexes it as a keyword.
            Grouping by any other key works too, by paging.
        payload_indexes: ``{key: type}`` for the top-level payload keys filters select on,
            each ``"keyword"`` (str), ``"integer"``, ``"float"`` or ``"bool"``; every point
            must carry them with that type. Qdrant builds a payload index per key before the
            first write, so its planner answers a selective filter from the index and its
            graph gets links within each value (without it a filtered graph walk can return
            the wrong points: docs, Engines); Milvus stores each key in a typed scalar
            column (with an INVERTED index from 2.4) that filters on the key read instead
            of parsing the JSON payload.

    Examples:
        >>> spec = CollectionSpec(name="docs", dense={"dense": 384}, sparse=["bm25"])
        >>> sorted(spec.fields)
        ['bm25', 'dense']
    """

    name: str
    dense: Mapping[str, Any] = field(default_factory=dict)
    sparse: Sequence[str] | Mapping[str, Any] = field(default_factory=tuple)
    multivector: Mapping[str, Any] = field(default_factory=dict)
    binary: Mapping[str, Any] = field(default_factory=dict)
    text_key: str | None = None
    shards: int | None = None
    replicas: int | None = None
    write_consistency: int | None = None
    partition_key: str | None = None
    num_partitions: int | None = None
    sharding: str | None = None
    group_key: str | None = None
    payload_indexes: Mapping[str, str] = field(default_factory=dict)
    tenant_key: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "collection")
        if self.tenant_key is not None:
            check_name(self.tenant_key, "tenant_key payload key")
            if self.partition_key not in (None, self.tenant_key):
                raise InvalidInputError(
                    f"tenant_key={self.tenant_key!r} is the collection's partition key: leave "
                    f"partition_key unset (or set it to {self.tenant_key!r}), not "
                    f"{self.partition_key!r}.")
            if self.tenant_key == self.group_key:
                raise InvalidInputError(f"tenant_key and group_key are both {self.tenant_key!r}: "
                                        "a tenant is not a group of chunks; use two keys.")
            object.__setattr__(self, "partition_key", self.tenant_key)
        for what in ("shards", "replicas", "write_consistency", "num_partitions"):
            v = getattr(self, what)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 4096):
                raise InvalidInputError(f"{what} must be an int in [1, 4096] or None, got {v!r}.")
        if self.write_consistency is not None and self.write_consistency > (self.replicas or 1):
            raise InvalidInputError(f"write_consistency={self.write_consistency} exceeds replicas="
                                    f"{self.replicas or 1}: a write cannot wait for more copies "
                                    "than exist.")
        if self.group_key is not None:
            check_name(self.group_key, "group_key payload key")
        if self.partition_key is not None:
            check_name(self.partition_key, "partition_key payload key")
        elif self.num_partitions is not None:
            raise InvalidInputError("num_partitions needs partition_key=<payload key>.")
        object.__setattr__(self, "payload_indexes", self._checked_indexes())
        if self.sharding == "auto":
            object.__setattr__(self, "sharding", None)  # the default, stored as absent
        elif self.sharding is not None and self.sharding not in SHARDING:
            raise InvalidInputError(f"sharding={self.sharding!r} is not one of {SHARDING}.")
        if self.sharding == "custom" and self.partition_key is None:
            raise InvalidInputError("sharding='custom' needs partition_key=<payload key>: its "
                                    "values are the shard keys.")
        sparse = self.sparse
        if isinstance(sparse, str):
            raise InvalidInputError(f"sparse must be a list of field names, got the str {sparse!r}.")
        if not isinstance(sparse, Mapping):
            sparse = {n: None for n in sparse}
        groups = {kind: sparse if kind == "sparse" else getattr(self, kind)
                  for kind in FIELD_KINDS}
        fields: dict[str, FieldType] = {}
        for kind, group in groups.items():
            if not isinstance(group, Mapping):
                raise InvalidInputError(f"{kind} must be a mapping of field name -> definition.")
            normalised = {}
            for fname, value in group.items():
                check_name(fname, "field")
                if fname in RESERVED_NAMES or fname.startswith(RESERVED_PREFIX):
                    raise InvalidInputError(
                        f"field name {fname!r} is reserved by vectorbridge; pick another name."
                    )
                if fname in fields:
                    raise InvalidInputError(f"field {fname!r} is declared twice; names are shared by all kinds.")
                fields[fname] = normalised[fname] = FIELD_KINDS[kind].from_definition(value)
            object.__setattr__(self, kind, normalised)
        if not fields:
            raise InvalidInputError(f"collection {self.name!r} declares no vector field.")
        if self.text_key is not None and not isinstance(self.text_key, str):
            raise InvalidInputError("text_key must be a payload key (str) or None.")
        object.__setattr__(self, "_fields", fields)

    def _checked_indexes(self) -> dict[str, str]:
        if not isinstance(self.payload_indexes, Mapping):
            raise InvalidInputError("payload_indexes must be a mapping {payload key: type}, e.g. "
                                    "{'year': 'integer', 'lang': 'keyword'}.")
        out = {}
        for key, kind in sorted(self.payload_indexes.items()):
            check_name(key, "payload_indexes key (a top-level payload key)")
            if key.startswith(RESERVED_PREFIX):
                raise InvalidInputError(f"payload key {key!r} is reserved by vectorbridge.")
            if kind not in PAYLOAD_INDEX_TYPES:
                raise InvalidInputError(f"payload_indexes[{key!r}] = {kind!r}: use one of "
                                        f"{PAYLOAD_INDEX_TYPES}.")
            if key in (self.group_key, self.partition_key) and kind != "keyword":
                raise InvalidInputError(f"payload key {key!r} is the collection's group_key or "
                                        f"partition_key, a string: index it as 'keyword'.")
            out[key] = kind
        return out

    @property
    def fields(self) -> dict[str, FieldType]:
        """All vector fields by name, each a typed field definition."""
        return dict(self._fields)  # type: ignore[attr-defined]

    def field(self, name: str) -> FieldType:
        """The definition of one field, or a clear error listing the fields there are."""
        try:
            return self._fields[name]  # type: ignore[attr-defined]
        except KeyError:
            raise InvalidInputError(
                f"collection {self.name!r} has no field {name!r}; its fields are "
                f"{sorted(self._fields)}."  # type: ignore[attr-defined]
            ) from None

    def to_json(self) -> str:
        """A canonical JSON form, stored with the collection and compared on reopen."""
        def dump(group: Mapping[str, Any]) -> dict[str, Any]:
            return {k: {kk: (vv.value if isinstance(vv, Enum) else vv)
                        for kk, vv in asdict(v).items() if kk != "kind"}
                    for k, v in sorted(group.items())}

        return json.dumps({"format": "vectorbridge.spec/1", "name": self.name,
                           **{kind: dump(getattr(self, kind)) for kind in FIELD_KINDS},
                           "text_key": self.text_key, **self.distribution,
                           **({"group_key": self.group_key} if self.group_key else {}),
                           **({"payload_indexes": self.payload_indexes}
                              if self.payload_indexes else {})},
                          sort_keys=True)

    @property
    def distribution(self) -> dict[str, Any]:
        """The distribution settings that are set (``shards``, ``replicas``, ...)."""
        return {k: getattr(self, k) for k in _DISTRIBUTION if getattr(self, k) is not None}

    @classmethod
    def from_json(cls, text: str) -> "CollectionSpec":
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        if d.get("format") != "vectorbridge.spec/1":
            raise InvalidInputError(f"not a vectorbridge collection spec: {text[:80]!r}")
        return cls(name=d["name"], **{kind: d.get(kind, {}) for kind in FIELD_KINDS},
                   text_key=d["text_key"],
                   group_key=d.get("group_key"), payload_indexes=d.get("payload_indexes", {}),
                   **{k: d[k] for k in _DISTRIBUTION if k in d})

    def renamed(self, name: str) -> "CollectionSpec":
        """The same fields under another collection name."""
        return CollectionSpec(name=name, **{kind: getattr(self, kind) for kind in FIELD_KINDS},
                              text_key=self.text_key, group_key=self.group_key,
                              payload_indexes=self.payload_indexes, **self.distribution)

    def same_fields(self, other: "CollectionSpec") -> bool:
        """Whether two specs describe the same stored fields (names aside)."""
        return self.renamed("x").to_json() == other.renamed("x").to_json()


__all__ = ["CollectionSpec", "DenseField", "SparseField", "MultiVectorField", "BinaryField",
           "FieldKind", "FieldType", "FIELD_KINDS", "Metric", "ENGINE_QUANTIZATIONS",
           "NAME_PATTERN", "RESERVED_NAMES", "RESERVED_PREFIX", "SHARDING", "PAYLOAD_INDEX_TYPES",
           "check_name"]
