"""Milvus' side of a :class:`CollectionSpec`: the index of a dense field (:func:`index_for`),
the companion collection of a multi-vector field, the reserved field names, and the
index-creation call. What each Milvus version holds lives in :mod:`.capabilities`, which
imports no pymilvus.

Field kinds: :data:`MILVUS_KINDS` holds, per kind, the columns it adds to the main collection
(or none: a companion collection) and why an engine refuses it; the values' conversions are
:mod:`.convert`'s table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vectorbridge.connectors.calls import Call
from vectorbridge.connectors.capabilities import Capabilities
# re-exported: its home before milvus/capabilities.py (which needs no pymilvus)
from vectorbridge.connectors.milvus.capabilities import milvus_capabilities
from vectorbridge.connectors.milvus.filter import INDEXED_PREFIX, PARTITION_FIELD, PAYLOAD_FIELD
from vectorbridge.connectors.spec import CollectionSpec, DenseField, FieldType, Metric, \
    MultiVectorField
from vectorbridge.connectors.validation import MAX_BM25_TEXT_BYTES, MAX_ID_LENGTH, \
    MAX_KEYWORD_LENGTH
from vectorbridge.encoders.types import MAX_SPARSE_INDEX
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import requires

with requires("milvus", "MilvusConnector"):
    from pymilvus import DataType, Function, FunctionType, MilvusClient

#: Collection property holding the spec JSON.
SPEC_PROPERTY = "vectorbridge.spec"
_EMPTY_SPARSE = {MAX_SPARSE_INDEX + 1: 1e-30}
_METRIC = {Metric.COSINE: "COSINE", Metric.DOT: "IP", Metric.EUCLID: "L2"}
_MAX_QUERY_ROWS = 16_384  # Milvus' cap on rows per query
_PAD_FIELD = "_vb_pad"  # a collection needs one vector field; multi-vector-only specs get this
GROUP_FIELD = "_vb_group"  # a copy of payload[group_key], for group_by_field
#: gRPC keepalive for both clients: at most one ping per 5 minutes, none on idle channels.
GRPC_KEEPALIVE = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}


def index_for(f: DenseField, default: str, nlist: int) -> tuple[str, dict[str, Any]]:
    """Index type and build parameters of a dense field (engine quantization -> IVF index)."""
    q = f.quantization
    if not f.index and q is None:  # only read to rescore another field's candidates
        return "FLAT", {}
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


def text_field(field_name: str) -> str:
    """The analyzed VARCHAR field an engine-BM25 sparse field is computed from."""
    return f"_vb_text_{field_name}"


def companion(collection: str, field_name: str) -> str:
    """Name of the token collection behind a multi-vector field."""
    return f"{collection}__{field_name}"


def unsupported_reasons(spec: CollectionSpec, caps: Capabilities, engine: str, index_type: str,
                        nlist: int) -> list[str]:
    """Why ``engine`` (with these capabilities) cannot hold ``spec``, each reason naming the
    alternatives; empty when it can."""
    out: list[str] = []
    main = [n for n, f in spec.fields.items() if not in_companion(f)]
    if len(main) > 1 and not caps.multiple_vector_fields:
        out.append(
            f"fields {main}: {engine} holds one vector field per collection (Milvus "
            "2.4 added several). Split them into one collection per field, or use Milvus "
            ">= 2.4, Milvus Lite or Qdrant"
        )
    for name, f in spec.fields.items():
        kind = MILVUS_KINDS.get(f.kind)
        if kind is None:
            out.append(f"field {name!r}: {engine} has no mapping for {f.kind} fields; use Qdrant")
            continue
        out += [f"field {name!r}: {why}" for why in kind.refusals(f, caps, engine, index_type, nlist)]
    return out


# -- field kinds ---------------------------------------------------------------------------
def _dense_refusals(f: Any, caps: Capabilities, engine: str, index_type: str,
                    nlist: int) -> list[str]:
    out = []
    if f.on_disk:
        out.append(
            "vectorbridge keeps Milvus vectors in memory (on_disk=True is "
            "Qdrant's placement setting; Milvus' DISKANN index and mmap are server-side "
            "settings it does not drive). Use quantization alone on Milvus, or Qdrant"
        )
    if f.quantization is not None:
        if f.quantization.startswith("binary"):
            out.append(
                f"Milvus has no binary quantization of float vectors "
                f"({f.quantization}); use quantization='pq-x16' / 'scalar-int8' (IVF_PQ / "
                "IVF_SQ8 with exact rescoring), client-side BinaryQuantizer codes, or Qdrant"
            )
        elif f.quantization.startswith("turbo-"):
            pass  # refused by capability (turbo_quant), with the alternatives
        elif f.quantization.startswith("pq-") and not caps.ivf_pq:
            out.append(
                f"{engine} cannot build IVF_PQ indexes ({f.quantization}"
                "); use quantization='scalar-int8' (IVF_SQ8), a Milvus server, or Qdrant "
                "(Edge applies product quantization in-process)"
            )
        else:
            try:
                index_for(f, index_type, nlist)
            except InvalidInputError as e:
                out.append(str(e))
    return out


def _sparse_refusals(f: Any, caps: Capabilities, engine: str, *_: Any) -> list[str]:
    if not caps.sparse:
        return [f"{engine} has no SPARSE_FLOAT_VECTOR (Milvus 2.4 added "
                "it); use Milvus >= 2.4, Milvus Lite or Qdrant for sparse and hybrid search"]
    if f.idf:
        return ["Milvus applies IDF only inside its own BM25 function on raw "
                "text, not to client-made sparse vectors. Use SparseField(bm25='engine') (raw "
                "text in, Milvus >= 2.5 / Lite) or SparseField(idf=False) with "
                "BM25Encoder(idf='client').fit(corpus), which puts IDF into the query"]
    return []


def _multivector_refusals(f: Any, *_: Any) -> list[str]:
    out = []
    if f.codes:
        out.append(
            "compressed token codes (uint8 multi-vector) are stored on "
            "Qdrant only; on Milvus store the float token vectors (or pool them: "
            "TokenPooler), or use Qdrant for a token_codec"
        )
    if f.metric is Metric.EUCLID:
        out.append("MaxSim needs a similarity; use metric cosine or dot")
    return out


def _binary_refusals(f: Any, caps: Capabilities, *_: Any) -> list[str]:
    if caps.binary:
        return []
    return ["Milvus Lite has no BINARY_VECTOR type. Alternatives: keep "
            "float vectors in a dense field and rescore binary candidates client-side, "
            "use a Milvus server (Docker, or `pip install milvus==2.3.5`), or use Qdrant"]


def _dense_columns(schema: Any, index: Any, name: str, f: Any, index_type: str,
                   nlist: int) -> None:
    schema.add_field(name, DataType.FLOAT_VECTOR, dim=f.dim)
    itype, params = index_for(f, index_type, nlist)
    index.add_index(name, index_type=itype, metric_type=_METRIC[f.metric], params=params)


def _sparse_columns(schema: Any, index: Any, name: str, f: Any, *_: Any) -> None:
    """A sparse vector field; from text, with the analyzed text and Milvus' BM25 function."""
    if not f.from_text:
        schema.add_field(name, DataType.SPARSE_FLOAT_VECTOR)
        index.add_index(name, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        return
    schema.add_field(text_field(name), DataType.VARCHAR, max_length=MAX_BM25_TEXT_BYTES,
                     enable_analyzer=True)
    schema.add_field(name, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name=f"{name}_bm25", function_type=FunctionType.BM25,
                                 input_field_names=[text_field(name)],
                                 output_field_names=[name]))
    index.add_index(name, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")


def _binary_columns(schema: Any, index: Any, name: str, f: Any, *_: Any) -> None:
    schema.add_field(name, DataType.BINARY_VECTOR, dim=f.dim)
    index.add_index(name, index_type="BIN_FLAT", metric_type="HAMMING")


@dataclass(frozen=True)
class MilvusKind:
    """How Milvus holds one field kind.

    Attributes:
        columns: (schema, index params, field name, field, default index type, nlist) -> adds
            the field's columns, functions and indexes to the main collection; None: the
            field lives in a companion collection of its own (:func:`token_schema`).
        refusals: (field, capabilities, engine, default index type, nlist) -> why the engine
            cannot hold the field (empty when it can).
    """

    columns: Callable[..., None] | None
    refusals: Callable[..., list[str]]


#: Field kind name -> how Milvus holds it; a kind not here is refused.
MILVUS_KINDS: dict[str, MilvusKind] = {
    "dense": MilvusKind(_dense_columns, _dense_refusals),
    "sparse": MilvusKind(_sparse_columns, _sparse_refusals),
    "multivector": MilvusKind(None, _multivector_refusals),
    "binary": MilvusKind(_binary_columns, _binary_refusals),
}


def in_companion(f: FieldType) -> bool:
    """Whether the field lives in a companion collection (token vectors), not the main one."""
    kind = MILVUS_KINDS.get(f.kind)
    return kind is not None and kind.columns is None


def needs_pad(spec: CollectionSpec) -> bool:
    """Whether the main collection needs the pad vector: no field of the spec lives in it
    (a collection needs one vector field)."""
    return all(in_companion(f) for f in spec.fields.values())


_COLUMN_TYPES = {"keyword": (DataType.VARCHAR, {"max_length": MAX_KEYWORD_LENGTH}),
                 "integer": (DataType.INT64, {}), "float": (DataType.DOUBLE, {}),
                 "bool": (DataType.BOOL, {})}


def main_schema(spec: CollectionSpec, index_type: str, nlist: int,
                scalar_index: bool = True) -> tuple[Any, Any]:
    """The main collection's schema and index params (pymilvus builders: no I/O): ``id``
    VARCHAR primary key holding the original id, ``payload`` JSON, one vector field per
    dense / sparse / binary field (an engine-BM25 field: an analyzed VARCHAR copy of the
    text and Milvus' BM25 function into the sparse field), the partition-key and group-key
    copies, a typed column per indexed payload key (INVERTED-indexed where ``scalar_index``),
    a pad vector when every field is multi-vector (a collection needs one vector field)."""
    c = MilvusClient  # schema and index builders are classmethods: local objects, no I/O
    schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID_LENGTH)
    schema.add_field(PAYLOAD_FIELD, DataType.JSON)
    if spec.partition_key is not None:
        schema.add_field(PARTITION_FIELD, DataType.VARCHAR, max_length=MAX_ID_LENGTH,
                         is_partition_key=True)
    if spec.group_key is not None:
        schema.add_field(GROUP_FIELD, DataType.VARCHAR, max_length=MAX_ID_LENGTH)
    index = c.prepare_index_params()
    for key, kind in spec.payload_indexes.items():
        dtype, extra = _COLUMN_TYPES[kind]
        schema.add_field(INDEXED_PREFIX + key, dtype, **extra)
        if scalar_index:
            index.add_index(INDEXED_PREFIX + key, index_type="INVERTED")
    for name, f in spec.fields.items():
        columns = MILVUS_KINDS[f.kind].columns
        if columns is not None:
            columns(schema, index, name, f, index_type, nlist)
    if needs_pad(spec):
        schema.add_field(_PAD_FIELD, DataType.FLOAT_VECTOR, dim=2)
        index.add_index(_PAD_FIELD, index_type="FLAT", metric_type="L2")
    return schema, index


def token_schema(f: MultiVectorField, index_type: str) -> tuple[Any, Any]:
    """Schema and index params of a multi-vector field's companion collection (FLAT, no
    graph, when the field is never ANN-searched: ``index=False``)."""
    c = MilvusClient
    tok = c.create_schema(auto_id=True, enable_dynamic_field=False)
    tok.add_field("pk", DataType.INT64, is_primary=True)
    tok.add_field("doc_id", DataType.VARCHAR, max_length=MAX_ID_LENGTH)
    tok.add_field("pos", DataType.INT32)
    tok.add_field("vec", DataType.FLOAT_VECTOR, dim=f.dim)
    tidx = c.prepare_index_params()
    tidx.add_index("vec", index_type=index_type if f.index else "FLAT",
                   metric_type=_METRIC[f.metric])
    return tok, tidx


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


__all__ = ["SPEC_PROPERTY", "PARTITION_FIELD", "GROUP_FIELD", "GRPC_KEEPALIVE", "index_for",
           "text_field", "companion", "unsupported_reasons", "main_schema", "token_schema",
           "milvus_capabilities", "MilvusKind", "MILVUS_KINDS", "in_companion", "needs_pad"]
