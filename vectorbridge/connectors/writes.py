"""Safe writes: write modes, request sizes and payload patches (pure functions, no I/O).

- :data:`WriteMode`: what ``upsert(..., mode=...)`` may do to a stored point: ``"upsert"``
  (insert or replace), ``"insert"`` (never overwrite), ``"update"`` (never create).
- :class:`Wire` and :func:`plan_requests`: a conservative estimate of each row's size in an
  engine's write request, and the split of a batch into requests under the engine's
  ``max_request_bytes`` (a row that alone exceeds it is refused before anything is written).
- :func:`check_patch`: a partial payload update (``update_payload(patch=...)``), validated
  as strictly as an upsert's payloads.

Example:
    >>> from vectorbridge.connectors.spec import CollectionSpec
    >>> spec = CollectionSpec(name="docs", dense={"v": 2}, text_key="text")
    >>> check_patch(spec, {"lang": "en"})
    {'lang': 'en'}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence, get_args

import numpy as np

from vectorbridge.connectors.spec import RESERVED_PREFIX, CollectionSpec
from vectorbridge.connectors.validation import (
    MAX_ID_LENGTH, MAX_PAYLOAD_BYTES, Rows, payload_type_ok,
)
from vectorbridge.errors import InvalidInputError

#: ``"upsert"``: insert new ids, replace stored ones; ``"insert"``: only new ids (a stored
#: point is left as it is and its id reported refused); ``"update"``: only stored ids (an id
#: not stored is not created and is reported refused).
WriteMode = Literal["upsert", "insert", "update"]
WRITE_MODES: tuple[str, ...] = get_args(WriteMode)

#: Share of an engine's ``max_request_bytes`` a request is filled to: room for the
#: request's envelope and for an estimate that runs short.
REQUEST_FILL = 0.8
#: Bytes of a request that are not rows (headers, collection name, options).
REQUEST_ENVELOPE = 4096

#: Encodes payloads with every non-ASCII character escaped: 6 bytes per character at most,
#: never fewer than the UTF-8 an engine's client may send instead.
_ASCII_JSON = json.JSONEncoder(ensure_ascii=True, allow_nan=False, default=str)
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def check_mode(mode: Any) -> WriteMode:
    """``mode`` if it is one of :data:`WRITE_MODES`, else an error naming them."""
    if not isinstance(mode, str) or mode not in WRITE_MODES:
        raise InvalidInputError(f"mode={mode!r} is not a write mode; use one of "
                                f"{', '.join(repr(m) for m in WRITE_MODES)}.")
    return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class Wire:
    """What one row costs in an engine's write request, as upper bounds per part.

    Attributes:
        float_bytes: One float of a dense or token vector.
        sparse_entry_bytes: One (index, weight) entry of a sparse vector.
        bit_bytes: One bit of a binary vector.
        text_char_bytes: One character of an engine-BM25 text (Qdrant sends the BM25
            vector made from it: at most one entry per two characters; Milvus the text).
        tokens_inline: Multi-vector tokens travel in the row's request (Qdrant); Milvus
            writes them to the companion collection in requests of their own.
        key_copies: Partition, group and indexed payload keys are also sent as columns.
        row_bytes: A row's framing: its id, field names, the original id kept in the payload.
    """

    float_bytes: int
    sparse_entry_bytes: int
    bit_bytes: float
    text_char_bytes: int
    tokens_inline: bool
    key_copies: bool
    row_bytes: int = 256


#: Qdrant's REST API: JSON text, a float up to 24 characters and a separator (the gRPC API
#: is smaller; this bound holds for both). Qdrant Edge and the reference engine take the
#: same, so code tried embedded splits its requests as it will against a server.
JSON_WIRE = Wire(float_bytes=25, sparse_entry_bytes=37, bit_bytes=2, text_char_bytes=19,
                 tokens_inline=True, key_copies=False)
#: Milvus' gRPC API: protobuf, 4 bytes a float, 8 an (index, weight), packed bits, the text.
GRPC_WIRE = Wire(float_bytes=4, sparse_entry_bytes=8, bit_bytes=0.125, text_char_bytes=4,
                 tokens_inline=False, key_copies=True)
#: Qdrant server's default body limit (``service.max_request_size_mb``: 32 MiB).
QDRANT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
#: Milvus proxy's default gRPC message limit (``proxy.grpc.serverMaxRecvSize``: 64 MiB;
#: pymilvus sends without a limit, Milvus Lite's server takes 256 MiB).
MILVUS_MAX_REQUEST_BYTES = 64 * 1024 * 1024


def _vector_bytes(spec: CollectionSpec, rows: Rows, wire: Wire) -> np.ndarray:
    """(n,) upper bounds of each row's vectors on the wire."""
    out = np.zeros(len(rows), dtype=np.int64)
    for name, f in spec.fields.items():
        out += f.wire_bytes(rows.vectors[name], len(rows), wire)
    return out


def _key_copies(spec: CollectionSpec, payloads: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    keys = [k for k in (spec.partition_key, spec.group_key, *spec.payload_indexes) if k]
    return [[p.get(k) for k in keys] for p in payloads] if keys else []


def _json_len(value: Any) -> int:
    return len(_ASCII_JSON.encode(value))


def row_sizes(spec: CollectionSpec, rows: Rows, wire: Wire) -> np.ndarray:
    """(n,) conservative estimates of each row's bytes in a write request."""
    sizes = _vector_bytes(spec, rows, wire)
    sizes += np.fromiter((wire.row_bytes + 6 * len(i) + _json_len(p)
                          for i, p in zip(rows.ids, rows.payloads)), np.int64, len(rows))
    if wire.key_copies:
        copies = _key_copies(spec, rows.payloads)
        if copies:
            sizes += np.fromiter((_json_len(c) for c in copies), np.int64, len(rows))
    return sizes


def plan_requests(spec: CollectionSpec, rows: Rows, batch_size: int, wire: Wire,
                  limit: int | None, engine: str = "the engine") -> list[tuple[int, int]]:
    """``[start, stop)`` row ranges, one per write request: ``batch_size`` rows at most, and
    no more estimated bytes than ``REQUEST_FILL * limit`` unless a row alone is larger (it
    then goes alone). The same rows, batch size and engine give the same plan (journal
    digests are taken per request).

    A batch is first sized as a whole (its payloads encoded in one call); only a batch
    over the budget is sized row by row.

    Raises:
        InvalidInputError: A row's estimate is over ``limit``; checked for every row before
            the caller writes anything.
    """
    n = len(rows)
    if limit is None:
        return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    budget = max(int(limit * REQUEST_FILL) - REQUEST_ENVELOPE, 1)
    vectors = _vector_bytes(spec, rows, wire)
    plan: list[tuple[int, int]] = []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        part = rows.payloads[start:stop]
        total = int(vectors[start:stop].sum()) + _json_len(part) + sum(
            wire.row_bytes + 6 * len(i) for i in rows.ids[start:stop])
        if wire.key_copies:
            total += _json_len(_key_copies(spec, part))
        if total <= budget:
            plan.append((start, stop))
            continue
        sizes = row_sizes(spec, rows.slice(start, stop), wire)
        first, used = start, 0
        for i, size in enumerate(sizes.tolist(), start):
            if size > limit:
                raise InvalidInputError(
                    f"row {i} (id {rows.ids[i]!r}) is about {size:,} bytes in a write request "
                    f"to {engine}, over its limit of {limit:,} bytes per request "
                    "(max_request_bytes). Nothing was written. Shorten its payload or text, or "
                    "pool its token vectors (TokenPooler).")
            if used and used + size > budget:
                plan.append((first, i))
                first, used = i, 0
            used += size
        plan.append((first, stop))
    return plan


def take(rows: Rows, index: Sequence[int]) -> Rows:
    """The rows at ``index`` (positions, in that order)."""
    idx = list(index)
    return Rows([rows.ids[i] for i in idx],
                {k: v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
                 for k, v in rows.vectors.items()},
                [rows.payloads[i] for i in idx])


def check_patch(spec: CollectionSpec, patch: Any) -> dict[str, Any]:
    """A payload patch (keys set or replaced, the others kept) validated against ``spec``
    as an upsert's payload would be: JSON values, no reserved key, the text key a non-empty
    string, partition and group keys valid strings, indexed keys of their declared type.
    With ``sharding="custom"`` the partition key cannot change (a point lives in its
    value's shards)."""
    if not isinstance(patch, Mapping) or not patch:
        raise InvalidInputError("patch must be a non-empty dict {payload key: new value}; keys "
                                "not in it keep their stored values.")
    for k in patch:
        if not isinstance(k, str):
            raise InvalidInputError(f"patch has a non-string key {k!r}; JSON keys are strings.")
        if k.startswith(RESERVED_PREFIX):
            raise InvalidInputError(f"patch key {k!r} starts with the reserved prefix "
                                    f"{RESERVED_PREFIX!r}; rename it.")
    try:
        size = len(_JSON.encode(dict(patch)).encode("utf-8"))
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"patch is not JSON-serialisable ({e}); store str/int/float/"
                                "bool/list/dict values with finite numbers.") from None
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidInputError(f"patch is {size} bytes as JSON; a payload holds at most "
                                f"{MAX_PAYLOAD_BYTES}.")
    if spec.text_key is not None and spec.text_key in patch:
        t = patch[spec.text_key]
        if not isinstance(t, str) or not t.strip():
            raise InvalidInputError(f"patch[{spec.text_key!r}] must be a non-empty string (the "
                                    f"collection's text_key), got {t!r}.")
    for what, key in (("partition_key", spec.partition_key), ("group_key", spec.group_key)):
        if key is not None and key in patch:
            v = patch[key]
            if not isinstance(v, str) or not v or len(v) > MAX_ID_LENGTH:
                raise InvalidInputError(f"patch[{key!r}] must be a non-empty string of at most "
                                        f"{MAX_ID_LENGTH} chars (the collection's {what}), "
                                        f"got {v!r}.")
    if spec.sharding == "custom" and spec.partition_key in patch:
        raise InvalidInputError(
            f"patch sets {spec.partition_key!r}, the partition key of a collection with "
            "sharding='custom': each value has its own shards, so a point cannot move by a "
            "payload update. Delete it, then upsert it. Nothing was written.")
    for key, kind in spec.payload_indexes.items():
        if key in patch and not payload_type_ok(kind, patch[key]):
            raise InvalidInputError(f"patch[{key!r}] must be of type {kind!r} (the collection "
                                    f"indexes {key!r} as {kind!r}), got {patch[key]!r}.")
    return json.loads(_JSON.encode(dict(patch)))  # a deep copy in JSON types


def merged_payload(point_id: str, stored: Mapping[str, Any],
                   patch: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` with ``patch`` applied, refused when it outgrows a payload's limit (for
    engines that rewrite the whole payload: Milvus keeps it in one JSON column)."""
    merged = {**stored, **patch}
    size = len(_JSON.encode(merged).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidInputError(f"point {point_id!r}: its payload with the patch would be {size} "
                                f"bytes as JSON; a payload holds at most {MAX_PAYLOAD_BYTES}. "
                                "Nothing was written.")
    return merged


def rows_of(spec: CollectionSpec, ids: list[str], vectors: list[dict[str, Any]],
            payloads: list[dict[str, Any]]) -> Rows:
    """Stored points read back (``Record.vectors`` in canonical types) as :class:`Rows` to
    write again."""
    out: dict[str, Any] = {}
    for name, f in spec.fields.items():
        col = [v[name] for v in vectors]
        out[name] = np.asarray(col, dtype=f.dtype).reshape(len(ids), *f.row_shape) \
            if f.array_column else col
    return Rows(list(ids), out, payloads)


__all__ = ["WriteMode", "WRITE_MODES", "check_mode", "Wire", "JSON_WIRE", "GRPC_WIRE",
           "QDRANT_MAX_REQUEST_BYTES", "MILVUS_MAX_REQUEST_BYTES", "REQUEST_FILL", "row_sizes",
           "plan_requests", "take", "check_patch", "merged_payload", "rows_of"]
