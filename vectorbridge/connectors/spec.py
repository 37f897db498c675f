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
from typing import Any, Literal, Mapping, Sequence, Union

from vectorbridge.errors import InvalidInputError


class Metric(str, Enum):
    """Similarity of a dense or multi-vector field. Scores are always higher-is-better:
    ``euclid`` scores are negated distances."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLID = "euclid"


@dataclass(frozen=True)
class DenseField:
    """One float32 vector per point, ``dim`` long.

    ``encoding`` names what produced the vectors when that matters for compatibility (an
    FDE configuration as JSON): it is stored with the spec, so reopening the collection
    with another encoding is refused instead of silently mixing incomparable vectors.

    ``quantization`` asks the engine to keep a compressed copy for search and rescore its
    ``oversampling * k`` candidates with the originals: one of :data:`ENGINE_QUANTIZATIONS`
    (Qdrant binary 1 / 1.5 / 2-bit, scalar int8, product quantization at x4-x64, TurboQuant
    at 1-8 bits). ``rescore=False`` ranks by the compressed copies alone (faster, and the
    float originals are never read).

    ``on_disk=True`` keeps the float originals in files read through the page cache instead
    of in memory; with ``quantization`` the compressed copies stay in RAM, so a search walks
    RAM and reads only its ``oversampling * k`` candidates' floats from disk to rescore them:
    the memory of a large collection for a small loss of speed (docs: Scale). Qdrant applies
    it (capability ``on_disk_vectors``); Milvus refuses it.

    ``index=False``: the field is stored but never searched by ANN, only read to rescore
    another field's candidates (the full vectors beside a reduced field): no graph is built
    (Qdrant HNSW ``m=0``; Milvus a FLAT index), so ingest and optimize do not pay for one.
    A search on it is still exact, by a full scan."""

    dim: int
    metric: Metric = Metric.COSINE
    encoding: str | None = None
    quantization: str | None = None
    oversampling: float = 4.0
    rescore: bool = True
    on_disk: bool = False
    index: bool = True
    kind: Literal["dense"] = "dense"


@dataclass(frozen=True)
class SparseField:
    """A sparse vector per point (BM25, SPLADE).

    ``idf=True`` asks the engine to weight the terms of client-made sparse vectors by IDF at
    search time (Qdrant ``Modifier.IDF``); engines that cannot refuse it at
    ``create_collection`` — use ``BM25Encoder(idf="client")`` there.

    ``bm25="engine"``: the field is filled from raw text by the engine's own BM25 — documents
    are upserted as strings and queries are strings; the engine tokenizes, counts terms and
    keeps the IDF statistics current as the collection grows and shrinks (Milvus' BM25
    function; on Qdrant, Qdrant's BM25 model with ``Modifier.IDF``). Engines without it
    refuse the field (capability ``engine_bm25``)."""

    idf: bool = False
    bm25: Literal["engine"] | None = None
    kind: Literal["sparse"] = "sparse"

    @property
    def from_text(self) -> bool:
        """Whether values are raw texts the engine turns into BM25 vectors."""
        return self.bm25 == "engine"


@dataclass(frozen=True)
class MultiVectorField:
    """A ``(n_tokens, dim)`` matrix per point, scored by MaxSim (late interaction).

    ``dtype="uint8"`` stores compressed token codes instead of float vectors: each row is one
    token's code bytes (e.g. :meth:`~vectorbridge.encoders.ResidualCodec.to_bytes`, ``dim``
    bytes wide), kept at one byte per value by the engine (Qdrant's uint8 multivectors). The
    engine cannot score codes, so such a field is never searched: the retriever fetches and
    decodes the candidates' codes and runs MaxSim client-side. ``encoding`` records the
    codec's fingerprint, so codes are never decoded by another codec.

    ``index=False``: the field is never searched by ANN, only read for MaxSim over
    candidates another field found (MUVERA's FDE first stage), so the engine builds no graph
    over its tokens (Qdrant HNSW ``m=0``; Milvus a FLAT companion index): ingest does not pay
    for a graph over every token. A search on it still works, by a full scan."""

    dim: int
    metric: Metric = Metric.COSINE
    dtype: Literal["float32", "uint8"] = "float32"
    encoding: str | None = None
    index: bool = True
    kind: Literal["multivector"] = "multivector"

    @property
    def codes(self) -> bool:
        """Whether the field stores codes (uint8) rather than searchable float vectors."""
        return self.dtype == "uint8"


@dataclass(frozen=True)
class BinaryField:
    """A bit string of ``dim`` bits per point, given packed as ``dim // 8`` uint8 bytes
    (``numpy.packbits`` order, most significant bit first), scored by Hamming distance
    (negated, so higher is better). ``encoding``: the quantizer's fingerprint, as for
    :class:`DenseField`."""

    dim: int
    encoding: str | None = None
    kind: Literal["binary"] = "binary"


#: Engine-side quantizations a dense field can ask for.
ENGINE_QUANTIZATIONS: tuple[str, ...] = (
    "binary-1bit", "binary-1.5bit", "binary-2bit", "scalar-int8",
    "pq-x4", "pq-x8", "pq-x16", "pq-x32", "pq-x64",
    "turbo-1bit", "turbo-1.5bit", "turbo-2bit", "turbo-4bit", "turbo-8bit",
)

FieldType = Union[DenseField, SparseField, MultiVectorField, BinaryField]
_KINDS: dict[str, type] = {"dense": DenseField, "sparse": SparseField,
                           "multivector": MultiVectorField, "binary": BinaryField}

#: Names of collections and fields: what both engines accept.
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: Field names the connectors use themselves.
RESERVED_NAMES = frozenset({"id", "payload", "doc_id", "pos"})
#: Distribution settings of a spec, stored with it (absent = the engine's default).
_DISTRIBUTION = ("shards", "replicas", "write_consistency", "partition_key", "num_partitions",
                 "sharding")
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


def _coerce(kind: str, value: Any) -> FieldType:
    cls = _KINDS[kind]
    if isinstance(value, cls):
        f = value
    elif kind == "sparse" and value is None:
        f = SparseField()
    elif isinstance(value, int) and not isinstance(value, bool) and kind != "sparse":
        f = cls(dim=value)
    elif isinstance(value, Mapping):
        f = cls(**value)
    else:
        raise InvalidInputError(f"cannot read a {kind} field from {value!r}; pass a {cls.__name__}.")
    if kind in ("dense", "multivector"):
        object.__setattr__(f, "metric", Metric(f.metric))
    if hasattr(f, "dim"):
        if not isinstance(f.dim, int) or f.dim <= 0 or f.dim > 65536:
            raise InvalidInputError(f"{kind} field dim must be an int in [1, 65536], got {f.dim!r}.")
        if kind == "binary" and f.dim % 8:
            raise InvalidInputError(f"binary field dim must be a multiple of 8 bits, got {f.dim}.")
    if kind == "sparse" and f.bm25 not in (None, "engine"):
        raise InvalidInputError(f"sparse field bm25={f.bm25!r}: use 'engine' (the engine's BM25 "
                                "over raw text) or None (client-made sparse vectors).")
    if kind == "sparse" and f.bm25 and f.idf:
        raise InvalidInputError("SparseField(bm25='engine') includes the engine's IDF; drop "
                                "idf=True (it is for client-made sparse vectors).")
    if kind in ("multivector", "dense") and not isinstance(f.index, bool):
        raise InvalidInputError(f"{kind} index must be True or False, got {f.index!r}.")
    if kind == "multivector" and f.dtype not in ("float32", "uint8"):
        raise InvalidInputError(f"multivector dtype={f.dtype!r}: use 'float32' (token vectors) or "
                                "'uint8' (compressed token codes).")
    if kind == "dense":
        if f.quantization is not None and f.quantization not in ENGINE_QUANTIZATIONS:
            raise InvalidInputError(f"quantization={f.quantization!r}: use one of {ENGINE_QUANTIZATIONS}.")
        if not f.oversampling >= 1:
            raise InvalidInputError(f"oversampling must be >= 1, got {f.oversampling!r}.")
        if not isinstance(f.rescore, bool):
            raise InvalidInputError(f"rescore must be True or False, got {f.rescore!r}.")
        if not isinstance(f.on_disk, bool):
            raise InvalidInputError(f"on_disk must be True or False, got {f.on_disk!r}.")
    return f


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

    def __post_init__(self) -> None:
        check_name(self.name, "collection")
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
        groups = {"dense": self.dense, "sparse": sparse, "multivector": self.multivector,
                  "binary": self.binary}
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
                fields[fname] = normalised[fname] = _coerce(kind, value)
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
                           "dense": dump(self.dense), "sparse": dump(self.sparse),
                           "multivector": dump(self.multivector), "binary": dump(self.binary),
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
        return cls(name=d["name"], dense=d["dense"], sparse=d["sparse"],
                   multivector=d["multivector"], binary=d["binary"], text_key=d["text_key"],
                   group_key=d.get("group_key"), payload_indexes=d.get("payload_indexes", {}),
                   **{k: d[k] for k in _DISTRIBUTION if k in d})

    def renamed(self, name: str) -> "CollectionSpec":
        """The same fields under another collection name."""
        return CollectionSpec(name=name, dense=self.dense, sparse=self.sparse,
                              multivector=self.multivector, binary=self.binary,
                              text_key=self.text_key, group_key=self.group_key,
                              payload_indexes=self.payload_indexes, **self.distribution)

    def same_fields(self, other: "CollectionSpec") -> bool:
        """Whether two specs describe the same stored fields (names aside)."""
        return self.renamed("x").to_json() == other.renamed("x").to_json()
