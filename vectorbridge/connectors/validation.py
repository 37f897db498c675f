"""Validate a whole upsert before the first byte is written.

Every check here runs on the full call, so a bad row anywhere means nothing is written: no
half-ingested batch to clean up. Messages name the row, the field and the fix.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

# re-exported: their home before the field kinds' own modules (each kind checks its values)
from vectorbridge.connectors.fields.base import (
    MAX_BM25_TEXT_BYTES, MAX_TOKENS_PER_POINT,
)
from vectorbridge.connectors.spec import RESERVED_PREFIX, CollectionSpec
from vectorbridge.errors import InvalidInputError

#: Longest id either engine stores (Milvus VARCHAR primary key).
MAX_ID_LENGTH = 512
#: Largest serialised payload per point (Milvus' JSON field limit).
MAX_PAYLOAD_BYTES = 65_536
#: One encoder for every payload size check: ``json.dumps`` with options builds a new
#: encoder per call, a third of the check's time on a large upsert.
_JSON = json.JSONEncoder(allow_nan=False, ensure_ascii=False)


@dataclass
class Rows:
    """A validated upsert: parallel lists, vectors in canonical types per field kind.

    ``vectors[field]`` is a float32 ``(n, dim)`` array (dense), a list of :class:`SparseVector`
    (sparse; a list of str for an engine-BM25 field), a list of float32 ``(n_tokens, dim)`` arrays (multi-vector) or a uint8
    ``(n, dim // 8)`` array (binary).
    """

    ids: list[str]
    vectors: dict[str, Any]
    payloads: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.ids)

    def slice(self, start: int, stop: int) -> "Rows":
        """Rows ``[start, stop)``: the unit a connector writes in one request."""
        return Rows(self.ids[start:stop], {k: v[start:stop] for k, v in self.vectors.items()},
                    self.payloads[start:stop])


def check_ids(ids: Any) -> list[str]:
    """Ids as a list of unique non-empty strings."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InvalidInputError("ids must be a list of strings, e.g. ids=['doc-1', 'doc-2'].")
    out = list(ids)
    for i, x in enumerate(out):
        if not isinstance(x, str):
            raise InvalidInputError(
                f"ids[{i}] is {type(x).__name__} ({x!r}); ids are strings: pass str({x!r})."
            )
        if not x or len(x) > MAX_ID_LENGTH:
            raise InvalidInputError(f"ids[{i}] must be 1-{MAX_ID_LENGTH} characters long, got {len(x)}.")
    if len(set(out)) != len(out):
        seen: set[str] = set()
        dup = next(x for x in out if x in seen or seen.add(x))  # type: ignore[func-returns-value]
        raise InvalidInputError(f"id {dup!r} appears twice in one call; keep one row per id.")
    return out


def flat_json_bound(p: Mapping[str, Any]) -> int | None:
    """An upper bound of ``p``'s size as JSON in UTF-8 bytes, when ``p`` is the common payload:
    a flat dict of ASCII strings, ints below 10**18, finite floats, bools and nulls; else None.

    Encoding every payload to check the size limit was a tenth of an ingest's time. An ASCII
    string of n chars is at most 6n + 2 bytes as JSON (each char escaped as ``\\uXXXX`` at
    worst) and cannot fail to encode, so such payloads under the limit skip the encoder;
    anything else, or a bound over the limit, is encoded exactly.
    """
    total = 2  # {}
    for k, v in p.items():
        t = type(v)
        if t is str:
            if not v.isascii():
                return None
            size = 6 * len(v) + 2
        elif t is int or t is bool:
            if not -10**18 < v < 10**18:
                return None
            size = 20
        elif t is float:
            if not math.isfinite(v):
                return None
            size = 24  # the longest repr of a finite float
        elif v is None:
            size = 4
        else:
            return None
        if type(k) is not str or not k.isascii():
            return None
        total += 6 * len(k) + 2 + 4 + size  # "key", ": " and ", "
    return total


def check_payloads(payloads: Any, n: int, text_key: str | None) -> list[dict[str, Any]]:
    """Payloads as JSON-safe dicts, one per id; ``text_key`` present and non-empty if set."""
    if payloads is None:
        payloads = [{} for _ in range(n)]
    if isinstance(payloads, Mapping) or not isinstance(payloads, Sequence) or len(payloads) != n:
        raise InvalidInputError(f"payloads must be a list of {n} dicts (one per id), or None.")
    out = []
    for i, p in enumerate(payloads):
        p = {} if p is None else p
        if not isinstance(p, Mapping):
            raise InvalidInputError(f"payloads[{i}] is {type(p).__name__}, not a dict.")
        for k in p:
            if not isinstance(k, str):
                raise InvalidInputError(f"payloads[{i}] has a non-string key {k!r}; JSON keys are strings.")
            if k.startswith(RESERVED_PREFIX):
                raise InvalidInputError(
                    f"payloads[{i}] key {k!r} starts with the reserved prefix {RESERVED_PREFIX!r}; rename it."
                )
        bound = flat_json_bound(p)
        if bound is not None and bound <= MAX_PAYLOAD_BYTES:
            size = bound  # safe and small enough without encoding it
        else:
            try:
                size = len(_JSON.encode(p).encode("utf-8"))
            except (TypeError, ValueError) as e:
                raise InvalidInputError(
                    f"payloads[{i}] is not JSON-serialisable ({e}); store str/int/float/bool/list/"
                    "dict values with finite numbers."
                ) from None
        if size > MAX_PAYLOAD_BYTES:
            raise InvalidInputError(
                f"payloads[{i}] is {size} bytes as JSON; the limit is {MAX_PAYLOAD_BYTES}. Store "
                "large content elsewhere and keep a reference in the payload."
            )
        if text_key is not None:
            t = p.get(text_key)
            if not isinstance(t, str) or not t.strip():
                raise InvalidInputError(
                    f"payloads[{i}][{text_key!r}] must be a non-empty string (the collection's "
                    "text_key); drop empty documents before upserting."
                )
        out.append(dict(p))
    return out


def prepare_rows(
    spec: CollectionSpec, ids: Any, vectors: Mapping[str, Any], payloads: Any = None
) -> Rows:
    """Validate an upsert against ``spec`` and return it in canonical form."""
    id_list = check_ids(ids)
    n = len(id_list)
    if not isinstance(vectors, Mapping):
        raise InvalidInputError("vectors must be a dict {field name: values}.")
    fields = spec.fields
    unknown = sorted(set(vectors) - set(fields))
    if unknown:
        raise InvalidInputError(
            f"unknown field(s) {unknown} for collection {spec.name!r}; its fields are {sorted(fields)}."
        )
    missing = sorted(set(fields) - set(vectors))
    if missing:
        raise InvalidInputError(
            f"missing vectors for field(s) {missing} of collection {spec.name!r}: every point "
            "needs a value for every field of the spec."
        )
    out: dict[str, Any] = {}
    for name, f in fields.items():
        out[name] = f.check_values(f"vectors[{name!r}]", vectors[name], n)
    rows = Rows(id_list, out, check_payloads(payloads, n, spec.text_key))
    for what, key in (("partition_key", spec.partition_key), ("group_key", spec.group_key)):
        if key is None:
            continue
        for i, pl in enumerate(rows.payloads):
            v = pl.get(key)
            if not isinstance(v, str) or not v or len(v) > MAX_ID_LENGTH:
                raise InvalidInputError(
                    f"payloads[{i}][{key!r}] must be a non-empty string of at most "
                    f"{MAX_ID_LENGTH} chars (the collection's {what}), got {v!r}."
                )
    _check_indexed_keys(spec.payload_indexes, rows.payloads)
    return rows


#: Longest string an indexed ``keyword`` payload key may hold (Milvus' VARCHAR column).
MAX_KEYWORD_LENGTH = 4096
_INT64 = (-2 ** 63, 2 ** 63 - 1)


def payload_type_ok(kind: str, v: Any) -> bool:
    """Whether ``v`` is a value of the payload index type ``kind``."""
    if kind == "keyword":
        return isinstance(v, str) and len(v) <= MAX_KEYWORD_LENGTH
    if kind == "integer":
        return isinstance(v, int) and not isinstance(v, bool) and _INT64[0] <= v <= _INT64[1]
    if kind == "float":
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return isinstance(v, bool)


def _check_indexed_keys(indexes: Mapping[str, str], payloads: list[dict[str, Any]]) -> None:
    """Every point carries each indexed key with its declared type: Milvus keeps them in
    typed columns, and a filter must mean the same on every engine."""
    for key, kind in indexes.items():
        for i, pl in enumerate(payloads):
            if not payload_type_ok(kind, pl.get(key)):
                raise InvalidInputError(
                    f"payloads[{i}][{key!r}] must be of type {kind!r} (the collection indexes "
                    f"{key!r} as {kind!r}: CollectionSpec(payload_indexes=...)), got "
                    f"{pl.get(key)!r}.")


def check_query(spec: CollectionSpec, field_name: str, query: Any) -> Any:
    """Validate one search query for ``field_name``; returns it in canonical form.

    Dense and binary queries may be ``(dim,)`` or a one-row ``(1, dim)`` array; a dense field
    also takes a :class:`~vectorbridge.connectors.queries.FeedbackQuery`.
    """
    return spec.field(field_name).check_query(f"the query for field {field_name!r}", query,
                                              field_name)


def check_k(k: Any) -> int:
    """``k`` as a positive int."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}.")
    return int(k)


__all__ = ["MAX_ID_LENGTH", "MAX_PAYLOAD_BYTES", "MAX_TOKENS_PER_POINT", "MAX_BM25_TEXT_BYTES",
           "MAX_KEYWORD_LENGTH", "Rows", "check_ids", "flat_json_bound", "check_payloads",
           "prepare_rows", "payload_type_ok", "check_query", "check_k"]
