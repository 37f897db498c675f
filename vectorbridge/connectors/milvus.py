"""Milvus through pymilvus: a server URI, or Milvus Lite (a local ``.db`` file).

Mapping of a :class:`CollectionSpec` onto one collection:

- ``id`` VARCHAR(512) primary key holding the original id (no mapping needed), ``payload`` JSON;
- dense -> FLOAT_VECTOR (COSINE / IP / L2), sparse -> SPARSE_FLOAT_VECTOR (inverted index, IP),
  binary -> BINARY_VECTOR (HAMMING; not in Milvus Lite, which is refused at create time);
- multi-vector -> a companion collection ``<name>__<field>`` with one row per token
  (``doc_id``, ``pos``, ``vec``), because neither Milvus Lite nor Milvus 2.3 stores a matrix
  per row. Search is the gather-and-rerank of late-interaction systems: each query token
  fetches its ``multivector_candidates`` nearest tokens, the union of their documents is
  rescored with exact MaxSim on their full token matrices.

Engine quantization of a dense field (``DenseField(quantization=...)``) maps to Milvus' IVF
indexes: ``scalar-int8`` -> ``IVF_SQ8``, ``pq-xN`` -> ``IVF_PQ`` with ``m = 4 * dim / N``
one-byte codes; a search fetches ``oversampling * k`` candidates from the index and rescores
them exactly with the float vectors Milvus keeps beside it (Qdrant's rescore, done here).
Milvus has no binary quantization of float vectors; Milvus Lite accepts IVF indexes but
searches exactly.

What the engine can hold is detected from its version (:func:`milvus_capabilities`): Milvus
Lite has no BINARY_VECTOR; Milvus 2.3 has one vector field per collection, no sparse vectors
and no ``hybrid_search`` (fusion then runs client-side over per-field searches).

The spec is stored as a collection property; the collection is loaded when opened.
Milvus rejects an all-zero sparse row, so an empty sparse vector is stored as one entry of
weight 1e-30 at index ``2**32 - 2``, which no SparseVector may use and reads strip again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import math
import re

import grpc
import numpy as np
from pymilvus import AnnSearchRequest, AsyncMilvusClient, DataType, MilvusClient, RRFRanker, \
    WeightedRanker
from pymilvus.client.types import Status
from pymilvus.exceptions import MilvusException

from vectorbridge.connectors.base import Branch, Connector, Hit, Record, Rescore, chunks, \
    exact_score
from vectorbridge.connectors.calls import Call, Op, call, retry_sync
from vectorbridge.connectors.credentials import redact_url, secret_from, url_secrets
from vectorbridge.connectors.engine import MILVUS, Capabilities
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.connectors.milvus_filter import PAYLOAD_FIELD, ids_expr, literal, to_milvus
from vectorbridge.connectors.retry import RetryPolicy
from vectorbridge.connectors.spec import (
    BinaryField, CollectionSpec, DenseField, FieldType, Metric, MultiVectorField, SparseField,
)
from vectorbridge.connectors.validation import MAX_ID_LENGTH, Rows
from vectorbridge.encoders.types import MAX_SPARSE_INDEX, SparseVector
from vectorbridge.errors import InvalidInputError, SpecMismatchError

#: Collection property holding the spec JSON.
SPEC_PROPERTY = "vectorbridge.spec"
_EMPTY_SPARSE = {MAX_SPARSE_INDEX + 1: 1e-30}
_METRIC = {Metric.COSINE: "COSINE", Metric.DOT: "IP", Metric.EUCLID: "L2"}
_MAX_QUERY_ROWS = 16_384  # Milvus' cap on rows per query
_PAD_FIELD = "_vb_pad"  # a collection needs one vector field; multi-vector-only specs get this
PARTITION_FIELD = "_vb_partition"  # the partition-key field, a copy of payload[partition_key]
#: gRPC keepalive for both clients: at most one ping per 5 minutes, none on idle channels.
GRPC_KEEPALIVE = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}


def milvus_capabilities(server_version: str) -> Capabilities:
    """What one Milvus engine supports, from ``get_server_version()``: Milvus Lite has
    everything but binary vectors and IVF_PQ (it accepts the index and then fails to build
    it, "reserved for a future phase", searching the raw vectors) and applies no sharding;
    Milvus < 2.4: binary vectors, one vector field per collection, no sparse vectors and no
    ``hybrid_search``; 2.4+ (or an unparseable version, assumed recent): everything."""
    if server_version.startswith("milvus_lite"):
        return replace(MILVUS, binary=False, ivf_pq=False, sharding=False)
    m = re.match(r"v?(\d+)\.(\d+)", server_version)
    if m is None or (int(m.group(1)), int(m.group(2))) >= (2, 4):
        return MILVUS
    return replace(MILVUS, sparse=False, multiple_vector_fields=False, hybrid_search=False,
                   native_fusion=frozenset(), weighted_fusion=frozenset())


def index_for(f: DenseField, default: str, nlist: int) -> tuple[str, dict[str, Any]]:
    """Index type and build parameters of a dense field (engine quantization -> IVF index)."""
    q = f.quantization
    if q is None:
        return default, {}
    if q == "scalar-int8":
        return "IVF_SQ8", {"nlist": nlist}
    if q.startswith("pq-x"):
        ratio = int(q.removeprefix("pq-x"))
        m = 4 * f.dim // ratio  # one byte per sub-vector: 4*dim bytes of float32 / ratio
        if m < 1 or f.dim % m:
            raise InvalidInputError(
                f"quantization={q!r} on a {f.dim}-d field needs {4 * f.dim / ratio:g} sub-vectors "
                f"that divide {f.dim}; pick another pq-x ratio (or scalar-int8)."
            )
        return "IVF_PQ", {"nlist": nlist, "m": m, "nbits": 8}
    raise InvalidInputError(f"quantization={q!r} has no Milvus index; use scalar-int8 or pq-xN.")


def companion(collection: str, field_name: str) -> str:
    """Name of the token collection behind a multi-vector field."""
    return f"{collection}__{field_name}"


# Request building and result parsing: pure functions, kept out of the I/O operations.
def to_entities(spec: CollectionSpec, rows: Rows) -> list[dict[str, Any]]:
    """Validated rows -> Milvus entities of the main collection."""
    fields = spec.fields
    pad = len(spec.multivector) == len(fields)
    data = []
    for i, pid in enumerate(rows.ids):
        row: dict[str, Any] = {"id": pid, PAYLOAD_FIELD: rows.payloads[i]}
        if spec.partition_key is not None:
            row[PARTITION_FIELD] = rows.payloads[i][spec.partition_key]
        for name, f in fields.items():
            v = rows.vectors[name][i]
            if isinstance(f, DenseField):
                row[name] = v.tolist()
            elif isinstance(f, SparseField):
                row[name] = v.to_dict() if len(v) else dict(_EMPTY_SPARSE)
            elif isinstance(f, BinaryField):
                row[name] = v.tobytes()
        if pad:
            row[_PAD_FIELD] = [0.0, 0.0]
        data.append(row)
    return data


def to_token_rows(rows: Rows, field_name: str) -> list[dict[str, Any]]:
    """One companion-collection row per token of a multi-vector field."""
    return [{"doc_id": pid, "pos": j, "vec": t.tolist()}
            for pid, mat in zip(rows.ids, rows.vectors[field_name]) for j, t in enumerate(mat)]


def to_hits(f: FieldType | None, results: list[dict[str, Any]],
            vector_field: str | None = None) -> list[Hit]:
    """One query's Milvus search results -> Hits with higher-is-better scores (``f=None``
    for fused scores); with ``vector_field``, each hit's stored vector of that field."""
    return [Hit(id=h["id"], score=_score(f, h["distance"]),
                payload=dict(h["entity"].get(PAYLOAD_FIELD) or {}),
                vectors={vector_field: _read_vector(f, h["entity"][vector_field])}
                if vector_field and f is not None else {})
            for h in results]


class MilvusConnector(Connector):
    """Store and search :class:`CollectionSpec` collections in Milvus or Milvus Lite.

    Args:
        uri: A Milvus Lite file (``"./vb.db"``) or a server (``"http://host:19530"``).
        token: Server credentials (``"user:password"`` or an API key); default: the
            ``MILVUS_TOKEN`` environment variable for a server URI. Never shown in ``repr``,
            log lines or error messages.
        timeout: Request timeout in seconds.
        index_type: Vector index for dense fields; default ``FLAT`` (exact) on Milvus Lite
            and ``AUTOINDEX`` on servers. Fields with engine quantization use IVF indexes.
        ivf_nlist: Clusters of the IVF indexes behind engine quantization.
        ivf_nprobe: Clusters an unfiltered search visits (a filtered one visits all).
        consistency_level: Of collections created here; ``"Strong"`` (default) makes every
            read see the writes acknowledged before it (Milvus' own default, ``"Bounded"``,
            may miss the last second of writes). On a server a Strong read waits for the
            next time tick (docs: Engines, *Which engine serves what*); ``"Session"`` does not wait, but
            the Milvus 2.3.5 server does not show this client's deletes under it.
        multivector_candidates: Tokens fetched per query token before exact MaxSim.
        client: An existing ``MilvusClient`` to wrap (``uri``/``token`` ignored).
        async_client: Its ``AsyncMilvusClient`` for the async methods (opened from ``uri``
            on first use when not given).
        retry: Retries of a server that does not answer (connection refused, UNAVAILABLE,
            DEADLINE_EXCEEDED, a collection a restart released); default ``RetryPolicy()``.
        **client_kwargs: Passed to ``MilvusClient`` and ``AsyncMilvusClient``: TLS
            (``secure=True``, ``server_pem_path``, ``ca_pem_path``, ``client_pem_path``,
            ``client_key_path``, ``server_name``), ``db_name``, ...

    Examples:
        >>> import tempfile, os
        >>> milvus = MilvusConnector(uri=os.path.join(tempfile.mkdtemp(), "vb.db"))
        >>> milvus.create_collection(CollectionSpec(name="docs", dense={"dense": 3})).name
        'docs'
    """

    def __init__(
        self,
        uri: str = "./vectorbridge.db",
        *,
        token: str | None = None,
        timeout: float | None = None,
        index_type: str | None = None,
        multivector_candidates: int = 100,
        ivf_nlist: int = 128,
        ivf_nprobe: int = 64,
        consistency_level: str = "Strong",
        client: MilvusClient | None = None,
        async_client: AsyncMilvusClient | None = None,
        retry: RetryPolicy | None = None,
        **client_kwargs: Any,
    ) -> None:
        super().__init__(retry)
        self.remote = client is not None or bool(re.match(r"(?i)(https?|tcp|grpcs?|unix)://", str(uri)))
        if self.remote and client is None:
            token = secret_from(token, "MILVUS_TOKEN")
        # pymilvus pings every 10 s even on idle channels; gRPC servers with default limits
        # (milvus-lite's) answer that with GOAWAY "too_many_pings", which broke long-lived
        # async clients here. Ping no more often than those servers accept, and only
        # during calls; caller-given grpc_options override.
        client_kwargs["grpc_options"] = {**GRPC_KEEPALIVE, **client_kwargs.get("grpc_options", {})}
        self._aclient = async_client
        # Kept to open the async client on the same engine; never shown (see __repr__).
        self._uri: str | None = None if client is not None else str(uri)
        self._token, self._timeout, self._client_kwargs = token, timeout, client_kwargs
        self.engine = "milvus"
        if client is None:  # connecting is a call too: a server that is starting is retried
            client = self._connect(lambda: MilvusClient(uri=str(uri), token=token or "",
                                                        timeout=timeout, **client_kwargs))
        self.client = client
        self.server_version = str(self._connect(self.client.get_server_version))
        self.is_lite = self.server_version.startswith("milvus_lite")
        self.capabilities = milvus_capabilities(self.server_version)
        self.ivf_nlist, self.ivf_nprobe = int(ivf_nlist), int(ivf_nprobe)
        self.consistency_level = consistency_level
        self.engine = "milvus-lite" if self.is_lite else f"milvus {self.server_version}"
        self.index_type = index_type or ("FLAT" if self.is_lite else "AUTOINDEX")
        self.multivector_candidates = int(multivector_candidates)

    def _connect(self, fn: Any) -> Any:
        if not self._guard():
            return fn()
        return retry_sync(fn, self, Call("connect"))

    def __repr__(self) -> str:  # never show the token
        return f"MilvusConnector({redact_url(self._uri or 'client')!r}, engine={self.engine!r})"

    def _secrets(self) -> tuple[str, ...]:
        token = self._token or ""
        return (token, *token.split(":", 1)[1:], str(self._client_kwargs.get("password") or ""),
                *url_secrets(self._uri))

    def _transient(self, exc: BaseException) -> bool:
        """Lost connections (refused, UNAVAILABLE, DEADLINE_EXCEEDED), pymilvus' own
        retriable errors, and a collection released by a server restart (reloaded by
        :meth:`_recovery`); never a request the server rejected."""
        if isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
            return exc.code() in _TRANSIENT_GRPC
        if isinstance(exc, MilvusException):
            if exc.code in _TRANSIENT_GRPC or exc.code == Status.CONNECT_FAILED or exc.retriable:
                return True
            return _released(exc)
        return isinstance(exc, (ConnectionError, TimeoutError))

    def _recovery(self, exc: BaseException, method: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
        name = kwargs.get("collection_name", args[0] if args else None)
        if isinstance(exc, MilvusException) and _released(exc) and isinstance(name, str):
            return ("load_collection", (name,))
        return None

    # -- capabilities ---------------------------------------------------------------------
    def unsupported(self, spec: CollectionSpec) -> list[str]:
        caps, out = self.capabilities, []
        main = [n for n, f in spec.fields.items() if not isinstance(f, MultiVectorField)]
        if len(main) > 1 and not caps.multiple_vector_fields:
            out.append(
                f"fields {main}: {self.engine} holds one vector field per collection (Milvus "
                "2.4 added several). Split them into one collection per field, or use Milvus "
                ">= 2.4, Milvus Lite or Qdrant"
            )
        for name, f in spec.fields.items():
            if isinstance(f, BinaryField) and not caps.binary:
                out.append(
                    f"field {name!r}: Milvus Lite has no BINARY_VECTOR type. Alternatives: keep "
                    "float vectors in a dense field and rescore binary candidates client-side, "
                    "use a Milvus server (Docker, or `pip install milvus==2.3.5`), or use Qdrant"
                )
            if isinstance(f, SparseField) and not caps.sparse:
                out.append(
                    f"field {name!r}: {self.engine} has no SPARSE_FLOAT_VECTOR (Milvus 2.4 added "
                    "it); use Milvus >= 2.4, Milvus Lite or Qdrant for sparse and hybrid search"
                )
            elif isinstance(f, SparseField) and f.idf:
                out.append(
                    f"field {name!r}: Milvus applies IDF only inside its own BM25 function on raw "
                    "text, not to client-made sparse vectors. Use SparseField(idf=False) with "
                    "BM25Encoder(idf='client').fit(corpus), which puts IDF into the query"
                )
            if isinstance(f, DenseField) and f.quantization is not None:
                if f.quantization.startswith("binary"):
                    out.append(
                        f"field {name!r}: Milvus has no binary quantization of float vectors "
                        f"({f.quantization}); use quantization='pq-x16' / 'scalar-int8' (IVF_PQ / "
                        "IVF_SQ8 with exact rescoring), client-side BinaryQuantizer codes, or Qdrant"
                    )
                elif f.quantization.startswith("pq-") and not caps.ivf_pq:
                    out.append(
                        f"field {name!r}: {self.engine} cannot build IVF_PQ indexes ({f.quantization}"
                        "); use quantization='scalar-int8' (IVF_SQ8), a Milvus server, or Qdrant "
                        "(Edge applies product quantization in-process)"
                    )
                else:
                    try:
                        index_for(f, self.index_type, self.ivf_nlist)
                    except InvalidInputError as e:
                        out.append(f"field {name!r}: {e}")
            if isinstance(f, MultiVectorField) and f.codes:
                out.append(
                    f"field {name!r}: compressed token codes (uint8 multi-vector) are stored on "
                    "Qdrant only; on Milvus store the float token vectors (or pool them: "
                    "TokenPooler), or use Qdrant for a token_codec"
                )
            if isinstance(f, MultiVectorField) and f.metric is Metric.EUCLID:
                out.append(f"field {name!r}: MaxSim needs a similarity; use metric cosine or dot")
        return out

    def _async_client(self) -> AsyncMilvusClient:
        if self._aclient is None:
            if self._uri is None:
                raise InvalidInputError(
                    "this MilvusConnector wraps a client= it was given; for the async methods "
                    "also pass async_client=AsyncMilvusClient(...) on the same server."
                )
            self._aclient = AsyncMilvusClient(uri=self._uri, token=self._token or "",
                                              timeout=self._timeout, **self._client_kwargs)
        return self._aclient

    def _lite_sync(self, c: Call) -> Call:
        """Milvus Lite's async client cannot create collections (it waits on a timestamp
        service Lite lacks): those calls go to the sync client on the same engine."""
        return replace(c, sync_only=self.is_lite)

    # -- collections ----------------------------------------------------------------------
    def _op_exists(self, name: str) -> Op[bool]:
        return bool((yield call("has_collection", name)))

    def _stored_spec(self, name: str) -> Op[CollectionSpec]:
        props = (yield call("describe_collection", name)).get("properties") or {}
        if SPEC_PROPERTY not in props:
            raise SpecMismatchError(
                f"Milvus collection {name!r} was not created by vectorbridge (no spec property); "
                "use another name or recreate=True."
            )
        return CollectionSpec.from_json(props[SPEC_PROPERTY])

    def _op_spec(self, name: str) -> Op[CollectionSpec]:
        spec = yield from self._stored_spec(name)
        yield from self._load(spec)  # reopened collections start 'released' and refuse reads
        return spec

    def _load(self, spec: CollectionSpec) -> Op[None]:
        replicas = {"replica_number": spec.replicas} if spec.replicas and not self.is_lite else {}
        for name in [spec.name, *(companion(spec.name, f) for f in spec.multivector)]:
            yield self._lite_sync(call("load_collection", name, **replicas))

    def _op_create(self, spec: CollectionSpec) -> Op[None]:
        c = MilvusClient  # schema and index builders are classmethods: local objects, no I/O
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID_LENGTH)
        schema.add_field(PAYLOAD_FIELD, DataType.JSON)
        if spec.partition_key is not None:
            schema.add_field(PARTITION_FIELD, DataType.VARCHAR, max_length=MAX_ID_LENGTH,
                             is_partition_key=True)
        index = c.prepare_index_params()
        for name, f in spec.fields.items():
            if isinstance(f, DenseField):
                schema.add_field(name, DataType.FLOAT_VECTOR, dim=f.dim)
                itype, params = index_for(f, self.index_type, self.ivf_nlist)
                index.add_index(name, index_type=itype, metric_type=_METRIC[f.metric],
                                params=params)
            elif isinstance(f, SparseField):
                schema.add_field(name, DataType.SPARSE_FLOAT_VECTOR)
                index.add_index(name, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
            elif isinstance(f, BinaryField):
                schema.add_field(name, DataType.BINARY_VECTOR, dim=f.dim)
                index.add_index(name, index_type="BIN_FLAT", metric_type="HAMMING")
        if len(spec.multivector) == len(spec.fields):
            schema.add_field(_PAD_FIELD, DataType.FLOAT_VECTOR, dim=2)
            index.add_index(_PAD_FIELD, index_type="FLAT", metric_type="L2")
        layout = {k: v for k, v in (("num_shards", spec.shards),
                                    ("num_partitions", spec.num_partitions)) if v is not None}
        yield self._lite_sync(call("create_collection", spec.name, schema=schema,
                                   properties={SPEC_PROPERTY: spec.to_json()},
                                   consistency_level=self.consistency_level, **layout))
        yield _index_now(spec.name, index)
        for name, f in spec.multivector.items():
            tok = c.create_schema(auto_id=True, enable_dynamic_field=False)
            tok.add_field("pk", DataType.INT64, is_primary=True)
            tok.add_field("doc_id", DataType.VARCHAR, max_length=MAX_ID_LENGTH)
            tok.add_field("pos", DataType.INT32)
            tok.add_field("vec", DataType.FLOAT_VECTOR, dim=f.dim)
            tidx = c.prepare_index_params()
            tidx.add_index("vec", index_type=self.index_type, metric_type=_METRIC[f.metric])
            yield self._lite_sync(call("create_collection", companion(spec.name, name),
                                       schema=tok, consistency_level=self.consistency_level))
            yield _index_now(companion(spec.name, name), tidx)
        described = yield call("describe_collection", spec.name)
        if not (described.get("properties") or {}).get(SPEC_PROPERTY):
            yield call("alter_collection_properties", spec.name,
                       properties={SPEC_PROPERTY: spec.to_json()})
        yield from self._load(spec)

    def _op_drop(self, name: str) -> Op[None]:
        try:
            fields = list((yield from self._stored_spec(name)).multivector)
        except SpecMismatchError:
            fields = []
        for f in fields:
            if (yield call("has_collection", companion(name, f))):
                yield call("drop_collection", companion(name, f))
        yield call("drop_collection", name)

    # -- points ---------------------------------------------------------------------------
    def _op_upsert(self, spec: CollectionSpec, rows: Rows) -> Op[None]:
        for name in spec.multivector:
            # Token counts can change between versions of a document: replace, don't merge.
            # An insert that fails mid-way may have landed: it is not retried alone (that
            # could duplicate tokens); the whole delete-then-insert step is replayed.
            tokens = companion(spec.name, name)
            for attempt in range(1, self.retry.attempts + 1):
                try:
                    yield call("delete", tokens, filter=ids_expr("doc_id", rows.ids))
                    for part in chunks(to_token_rows(rows, name), 4096):
                        yield Call("insert", (tokens, list(part)), idempotent=False)
                    break
                except Exception as e:
                    if not (self.remote and self._transient(e) and attempt < self.retry.attempts):
                        raise
        yield call("upsert", spec.name, to_entities(spec, rows))

    def _token_matrices(self, spec: CollectionSpec, field_name: str,
                        ids: list[str]) -> Op[dict[str, np.ndarray]]:
        out: dict[str, list[tuple[int, list[float]]]] = {}
        pending = [list(part) for part in chunks(ids, 32)]
        while pending:
            part = pending.pop()
            rows = yield call("query", companion(spec.name, field_name),
                              filter=ids_expr("doc_id", part),
                              output_fields=["doc_id", "pos", "vec"], limit=_MAX_QUERY_ROWS)
            if len(rows) == _MAX_QUERY_ROWS and len(part) > 1:  # may be cut: ask in halves
                pending += [part[: len(part) // 2], part[len(part) // 2:]]
                continue
            for r in rows:
                out.setdefault(r["doc_id"], []).append((int(r["pos"]), r["vec"]))
        return {d: np.asarray([v for _, v in sorted(toks, key=lambda t: t[0])], dtype=np.float32)
                for d, toks in out.items()}

    def _op_get(self, spec: CollectionSpec, ids: list[str],
                with_vectors: bool | list[str]) -> Op[list[Record]]:
        fields = spec.fields
        chosen = set(fields) if with_vectors is True else set(with_vectors or ())
        plain = [n for n, f in fields.items() if not isinstance(f, MultiVectorField) and n in chosen]
        multi = [n for n in spec.multivector if n in chosen]
        output = ["id", PAYLOAD_FIELD, *(plain if with_vectors else [])]
        records = []
        for part in chunks(ids, 1024):
            part = list(part)
            rows = yield call("query", spec.name, filter=ids_expr("id", part),
                              output_fields=output, limit=len(part))
            mats = {}
            for n in multi:
                mats[n] = yield from self._token_matrices(spec, n, part)
            for r in rows:
                vectors: dict[str, Any] = {}
                if with_vectors:
                    for n in plain:
                        vectors[n] = _read_vector(fields[n], r[n])
                    for n in multi:
                        vectors[n] = mats[n].get(r["id"], np.zeros((0, fields[n].dim), np.float32))
                records.append(Record(id=r["id"], payload=dict(r.get(PAYLOAD_FIELD) or {}),
                                      vectors=vectors))
        return records

    def _matching_ids(self, spec: CollectionSpec, flt: Filter | None) -> Op[list[str]]:
        """All ids matching ``flt``, however many (Milvus caps rows per query).

        A full page is split at its median id into ``[lo, median)`` and ``[median, hi)``,
        each strictly smaller, until every range fits in one page. Unlike paging on
        ``id > last`` (pymilvus' ``query_iterator``, which also pastes the last id into the
        expression unescaped), this does not rely on the engine returning ids in order,
        which Milvus Lite does not.
        """
        expr = to_milvus(flt) or 'id != ""'
        out: list[str] = []
        ranges: list[tuple[str | None, str | None]] = [(None, None)]
        while ranges:
            lo, hi = ranges.pop()
            conds = [expr]
            if lo is not None:
                conds.append(f"id >= {literal(lo)}")
            if hi is not None:
                conds.append(f"id < {literal(hi)}")
            page = [r["id"] for r in (yield call(
                "query", spec.name, filter=" and ".join(f"({c})" for c in conds),
                output_fields=["id"], limit=_MAX_QUERY_ROWS))]
            if len(page) < _MAX_QUERY_ROWS:
                out.extend(page)
                continue
            pivot = sorted(page)[len(page) // 2]
            ranges += [(lo, pivot), (pivot, hi)]
        return out

    def _op_delete(self, spec: CollectionSpec, ids: list[str] | None, flt: Filter | None) -> Op[None]:
        targets = set(ids or [])
        if flt is not None and not spec.multivector:
            yield call("delete", spec.name, filter=to_milvus(flt))  # one engine-side pass
        elif flt is not None:  # token rows live elsewhere: resolve the ids first
            targets.update((yield from self._matching_ids(spec, flt)))
        for part in chunks(sorted(targets), 1024):
            expr_ids = list(part)
            for name in spec.multivector:
                yield call("delete", companion(spec.name, name), filter=ids_expr("doc_id", expr_ids))
            yield call("delete", spec.name, filter=ids_expr("id", expr_ids))

    def _op_ids(self, spec: CollectionSpec, flt: Filter | None) -> Op[list[str]]:
        return (yield from self._matching_ids(spec, flt))

    def _op_count(self, spec: CollectionSpec, flt: Filter | None) -> Op[int]:
        expr = to_milvus(flt) or 'id != ""'
        res = yield call("query", spec.name, filter=expr, output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def _op_search(self, spec: CollectionSpec, field_name: str, f: FieldType, query: Any,
                   k: int, flt: Filter | None, with_vectors: bool) -> Op[list[Hit]]:
        if isinstance(f, MultiVectorField):
            hits = yield from self._maxsim_search(spec, field_name, f, query, k, flt)
            if with_vectors and hits:
                mats = yield from self._token_matrices(spec, field_name, [h.id for h in hits])
                hits = [replace(h, vectors={field_name: mats[h.id]}) for h in hits]
            return hits
        data, metric = _query_data(f, query)
        quantized = isinstance(f, DenseField) and f.quantization is not None
        limit = math.ceil(f.oversampling * k) if quantized else k
        res = yield call("search", spec.name, data=[data], anns_field=field_name, limit=limit,
                         filter=to_milvus(flt),
                         output_fields=[PAYLOAD_FIELD,
                                        *([field_name] if with_vectors or quantized else [])],
                         search_params=self._search_params(f, metric, flt))
        hits = to_hits(f, res[0], field_name if with_vectors or quantized else None)
        if quantized:  # the index's scores are approximate: rank by the kept float vectors
            hits = sorted((replace(h, score=exact_score(f, query, h.vectors[field_name]),
                                   vectors=h.vectors if with_vectors else {}) for h in hits),
                          key=lambda h: (-h.score, h.id))[:k]
        return hits

    def _search_params(self, f: FieldType, metric: str, flt: Filter | None) -> dict[str, Any]:
        """With a filter, an IVF index visits every list: the points a filter keeps can sit
        in lists ``nprobe`` would skip, and a selective filter then returns fewer than k
        results (seen: 3 of 6 matching points at nprobe=64 of 128). Unfiltered searches
        visit ``ivf_nprobe`` lists."""
        if isinstance(f, DenseField) and f.quantization is not None:
            nprobe = self.ivf_nlist if flt is not None else self.ivf_nprobe
            return {"metric_type": metric, "params": {"nprobe": nprobe}}
        return {"metric_type": metric}

    def _op_hybrid(self, spec: CollectionSpec, branches: list[Branch], fusion: Fusion, k: int,
                   flt: Filter | None, rescore: Rescore | None) -> Op[list[Hit] | None]:
        if not self.capabilities.fuses_natively(fusion):
            return None  # Milvus 2.3, DBSF, weighted RRF: per-field searches, fused here
        if any(isinstance(b.field, MultiVectorField) for b in branches) or \
                (rescore is not None and rescore.mode == "fuse"):
            return None  # token vectors live in companion collections; exact branches fuse here
        expr = to_milvus(flt)
        reqs = []
        for b in branches:
            data, metric = _query_data(b.field, b.query)
            reqs.append(AnnSearchRequest(data=[data], anns_field=b.name, limit=b.depth,
                                         param=self._search_params(b.field, metric, flt),
                                         expr=expr or None))
        ranker = RRFRanker(fusion.k) if fusion.kind == "rrf" else \
            WeightedRanker(*fusion.weights_for(len(branches)))
        limit = rescore.depth if rescore else k
        res = yield call("hybrid_search", spec.name, reqs, ranker, limit=limit,
                         output_fields=[PAYLOAD_FIELD])
        hits = to_hits(None, res[0])
        if rescore is None:
            return hits
        return (yield from self._op_rescore(spec, rescore, [h.id for h in hits], k))

    def _op_rescore(self, spec: CollectionSpec, rescore: Rescore, ids: list[str],
                    k: int) -> Op[list[Hit]]:
        if not isinstance(rescore.field, MultiVectorField):
            return (yield from super()._op_rescore(spec, rescore, ids, k))
        mats = yield from self._token_matrices(spec, rescore.name, ids)
        scored = sorted(((exact_score(rescore.field, rescore.query, m), d) for d, m in mats.items()),
                        key=lambda t: (-t[0], t[1]))[:k]
        records = yield from self._op_get(spec, [d for _, d in scored], False)
        payloads = {r.id: r.payload for r in records}
        return [Hit(id=d, score=s, payload=payloads.get(d, {})) for s, d in scored]

    def _maxsim_search(self, spec: CollectionSpec, field_name: str, f: MultiVectorField,
                       query: np.ndarray, k: int, flt: Filter | None) -> Op[list[Hit]]:
        tok_filter = ""
        if flt is not None:
            allowed = yield from self._matching_ids(spec, flt)
            if not allowed:
                return []
            tok_filter = ids_expr("doc_id", allowed)
        res = yield call("search", companion(spec.name, field_name), data=query.tolist(),
                         anns_field="vec", limit=self.multivector_candidates,
                         filter=tok_filter, output_fields=["doc_id"],
                         search_params={"metric_type": _METRIC[f.metric]})
        candidates = sorted({h["entity"]["doc_id"] for per_token in res for h in per_token})
        rescore = Rescore(field_name, f, query, len(candidates))
        return (yield from self._op_rescore(spec, rescore, candidates, k))

    def optimize(self, collection: str) -> None:
        """Seal growing segments (``flush``): Milvus builds IVF / HNSW indexes on sealed
        segments only."""
        spec = self.spec(collection)
        for name in [spec.name, *(companion(spec.name, f) for f in spec.multivector)]:
            self.client.flush(name)

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.close()
            self._aclient = None
        self.close()


_TRANSIENT_GRPC = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _index_now(collection: str, index: Any) -> Call:
    """Create the indexes of a new, empty collection without pymilvus' wait for the build.

    ``create_collection(index_params=...)`` and ``create_index`` sleep 0.5 s per index before
    they first ask whether the build finished, although an empty collection has nothing to
    build: 1 s of a hybrid collection's creation. ``sync=False`` returns once the server has
    accepted the index (a bad index is still refused by that reply); segments are indexed as
    data arrives, as they are anyway. The async client has no such switch, so this one call
    goes to the sync client, where it is a single request.
    """
    return Call("create_index", (collection, index), {"sync": False}, sync_only=True)


def _released(exc: MilvusException) -> bool:
    """A read on a collection a server restart left unloaded (Milvus code 101)."""
    text = str(exc.message).lower()
    return exc.code == 101 or "released" in text or "not loaded" in text


def _query_data(f: FieldType, query: Any) -> tuple[Any, str]:
    """A validated query as Milvus search data, with its metric name."""
    if isinstance(f, DenseField):
        return query.tolist(), _METRIC[f.metric]
    if isinstance(f, SparseField):
        return query.to_dict(), "IP"
    return query.tobytes(), "HAMMING"


def _read_vector(f: FieldType, value: Any) -> Any:
    if isinstance(f, SparseField):
        d = {int(i): float(w) for i, w in value.items() if int(i) <= MAX_SPARSE_INDEX}
        return SparseVector.from_dict(d)
    if isinstance(f, BinaryField):
        raw = value[0] if isinstance(value, list) else value
        return np.frombuffer(bytes(raw), dtype=np.uint8).copy()
    return np.asarray(value, dtype=np.float32)


def _score(f: FieldType | None, distance: float) -> float:
    """Higher-is-better: L2 comes back squared, HAMMING as a distance."""
    if isinstance(f, BinaryField):
        return -float(distance)
    if isinstance(f, DenseField) and f.metric is Metric.EUCLID:
        return -float(np.sqrt(max(distance, 0.0)))
    return float(distance)


__all__ = ["MilvusConnector", "milvus_capabilities", "companion", "index_for"]
