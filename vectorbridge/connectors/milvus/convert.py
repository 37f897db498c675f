"""Rows -> Milvus entities and Milvus results -> Hits (pure functions, no I/O).

Milvus rejects an all-zero sparse row, so an empty sparse vector is stored as one entry of
weight 1e-30 at index ``2**32 - 2``, which no SparseVector may use and reads strip again.

Field kinds: :data:`MILVUS_VALUES` holds, per kind, how a value goes into a row, how a query
is sent, how a stored value is read and how a distance becomes a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vectorbridge.connectors.milvus.filter import INDEXED_PREFIX, PAYLOAD_FIELD
from vectorbridge.connectors.milvus.schema import (
    _METRIC, _PAD_FIELD, GROUP_FIELD, PARTITION_FIELD, needs_pad, text_field,
)
from vectorbridge.connectors.results import Hit
from vectorbridge.connectors.spec import CollectionSpec, FieldType, Metric
from vectorbridge.connectors.validation import Rows
from vectorbridge.encoders.types import MAX_SPARSE_INDEX, SparseVector

_EMPTY_SPARSE = {MAX_SPARSE_INDEX + 1: 1e-30}


def to_entities(spec: CollectionSpec, rows: Rows) -> list[dict[str, Any]]:
    """Validated rows -> Milvus entities of the main collection."""
    fields = spec.fields
    pad = needs_pad(spec)
    put = {name: _values(f).entity for name, f in fields.items()}
    data = []
    for i, pid in enumerate(rows.ids):
        row: dict[str, Any] = {"id": pid, PAYLOAD_FIELD: rows.payloads[i]}
        if spec.partition_key is not None:
            row[PARTITION_FIELD] = rows.payloads[i][spec.partition_key]
        if spec.group_key is not None:
            row[GROUP_FIELD] = rows.payloads[i][spec.group_key]
        for key in spec.payload_indexes:  # typed copies that filters on the key read
            row[INDEXED_PREFIX + key] = rows.payloads[i][key]
        for name, f in fields.items():
            put[name](row, name, f, rows.vectors[name][i])
        if pad:
            row[_PAD_FIELD] = [0.0, 0.0]
        data.append(row)
    return data


def payload_columns(spec: CollectionSpec, payload: dict[str, Any]) -> dict[str, Any]:
    """The columns of a main-collection row that hold its payload: the JSON and the copies
    of the partition, group and indexed keys (as :func:`to_entities` writes them)."""
    row: dict[str, Any] = {PAYLOAD_FIELD: payload}
    if spec.partition_key is not None:
        row[PARTITION_FIELD] = payload[spec.partition_key]
    if spec.group_key is not None:
        row[GROUP_FIELD] = payload[spec.group_key]
    for key in spec.payload_indexes:
        row[INDEXED_PREFIX + key] = payload[key]
    return row


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


def _query_data(f: FieldType, query: Any) -> tuple[Any, str]:
    """A validated query as Milvus search data, with its metric name."""
    return _values(f).query(f, query)


def _read_vector(f: FieldType, value: Any) -> Any:
    return _values(f).read(f, value)


def _score(f: FieldType | None, distance: float) -> float:
    """Higher-is-better: L2 comes back squared, HAMMING as a distance, BM25 negated by Milvus
    Lite (best first at the most negative) and as the score by servers: BM25 is never
    negative, so its magnitude is the score."""
    return float(distance) if f is None else _values(f).score(f, distance)


def stored_column(name: str, f: FieldType) -> str:
    """The column holding a field's value in the main collection (an engine-BM25 field: its
    text, the vector being derived)."""
    return text_field(name) if f.from_text else name


def read_stored(f: FieldType, row: dict[str, Any], name: str) -> Any:
    """A field's value in a queried row (:func:`stored_column`), in its canonical type."""
    return row[text_field(name)] if f.from_text else _read_vector(f, row[name])


# -- field kinds ---------------------------------------------------------------------------
def _put_dense(row: dict[str, Any], name: str, f: Any, v: Any) -> None:
    row[name] = v.tolist()


def _put_sparse(row: dict[str, Any], name: str, f: Any, v: Any) -> None:
    if f.from_text:
        row[text_field(name)] = v  # the engine's BM25 function fills the field
    else:
        row[name] = v.to_dict() if len(v) else dict(_EMPTY_SPARSE)


def _put_binary(row: dict[str, Any], name: str, f: Any, v: Any) -> None:
    row[name] = v.tobytes()


def _put_nothing(row: dict[str, Any], name: str, f: Any, v: Any) -> None:
    """Token vectors go to the companion collection (:func:`to_token_rows`)."""


def _read_sparse(f: Any, value: Any) -> SparseVector:
    d = {int(i): float(w) for i, w in value.items() if int(i) <= MAX_SPARSE_INDEX}
    return SparseVector.from_dict(d)


def _read_binary(f: Any, value: Any) -> np.ndarray:
    raw = value[0] if isinstance(value, list) else value
    return np.frombuffer(bytes(raw), dtype=np.uint8).copy()


def _read_floats(f: Any, value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def _dense_score(f: Any, distance: float) -> float:
    if f.metric is Metric.EUCLID:  # L2 comes back squared
        return -float(np.sqrt(max(distance, 0.0)))
    return float(distance)


def _sparse_query(f: Any, query: Any) -> tuple[Any, str]:
    return (query, "BM25") if f.from_text else (query.to_dict(), "IP")


def _sparse_score(f: Any, distance: float) -> float:
    """BM25 comes back negated by Milvus Lite (best first at the most negative) and as the
    score by servers: BM25 is never negative, so its magnitude is the score."""
    return abs(float(distance)) if f.from_text else float(distance)


def _no_query(f: Any, query: Any) -> tuple[Any, str]:
    raise TypeError("multi-vector fields are searched through their companion collection")


@dataclass(frozen=True)
class MilvusValues:
    """How one field kind's values travel to and from Milvus.

    Attributes:
        entity: (row, field name, field, validated value) -> sets the row's column(s).
        query: (field, validated query) -> (search data, metric name).
        read: (field, stored value) -> the canonical type.
        score: (field, distance) -> a higher-is-better score.
    """

    entity: Callable[[dict[str, Any], str, Any, Any], None]
    query: Callable[[Any, Any], tuple[Any, str]]
    read: Callable[[Any, Any], Any]
    score: Callable[[Any, float], float] = lambda f, d: float(d)


#: Field kind name -> how its values travel; a kind not here is refused (schema.py).
MILVUS_VALUES: dict[str, MilvusValues] = {
    "dense": MilvusValues(_put_dense, lambda f, q: (q.tolist(), _METRIC[f.metric]),
                          _read_floats, _dense_score),
    "sparse": MilvusValues(_put_sparse, _sparse_query, _read_sparse, _sparse_score),
    "multivector": MilvusValues(_put_nothing, _no_query, _read_floats),
    "binary": MilvusValues(_put_binary, lambda f, q: (q.tobytes(), "HAMMING"), _read_binary,
                           lambda f, d: -float(d)),
}


def _values(f: FieldType) -> MilvusValues:
    try:
        return MILVUS_VALUES[f.kind]
    except KeyError:
        raise TypeError(f"no Milvus mapping for {type(f).__name__}") from None
