"""Rows -> Milvus entities and Milvus results -> Hits (pure functions, no I/O).

Milvus rejects an all-zero sparse row, so an empty sparse vector is stored as one entry of
weight 1e-30 at index ``2**32 - 2``, which no SparseVector may use and reads strip again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vectorbridge.connectors.milvus.filter import INDEXED_PREFIX, PAYLOAD_FIELD
from vectorbridge.connectors.milvus.schema import (
    _METRIC, _PAD_FIELD, GROUP_FIELD, PARTITION_FIELD, text_field,
)
from vectorbridge.connectors.results import Hit
from vectorbridge.connectors.spec import (
    BinaryField, CollectionSpec, DenseField, FieldType, Metric, SparseField,
)
from vectorbridge.connectors.validation import Rows
from vectorbridge.encoders.types import MAX_SPARSE_INDEX, SparseVector

_EMPTY_SPARSE = {MAX_SPARSE_INDEX + 1: 1e-30}


def to_entities(spec: CollectionSpec, rows: Rows) -> list[dict[str, Any]]:
    """Validated rows -> Milvus entities of the main collection."""
    fields = spec.fields
    pad = len(spec.multivector) == len(fields)
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
            v = rows.vectors[name][i]
            if isinstance(f, DenseField):
                row[name] = v.tolist()
            elif isinstance(f, SparseField) and f.from_text:
                row[text_field(name)] = v  # the engine's BM25 function fills the field
            elif isinstance(f, SparseField):
                row[name] = v.to_dict() if len(v) else dict(_EMPTY_SPARSE)
            elif isinstance(f, BinaryField):
                row[name] = v.tobytes()
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
    if isinstance(f, DenseField):
        return query.tolist(), _METRIC[f.metric]
    if isinstance(f, SparseField) and f.from_text:
        return query, "BM25"
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
    """Higher-is-better: L2 comes back squared, HAMMING as a distance, BM25 negated by Milvus
    Lite (best first at the most negative) and as the score by servers: BM25 is never
    negative, so its magnitude is the score."""
    if isinstance(f, SparseField) and f.from_text:
        return abs(float(distance))
    if isinstance(f, BinaryField):
        return -float(distance)
    if isinstance(f, DenseField) and f.metric is Metric.EUCLID:
        return -float(np.sqrt(max(distance, 0.0)))
    return float(distance)
