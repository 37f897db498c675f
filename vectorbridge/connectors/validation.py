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

from vectorbridge.connectors.spec import (
    RESERVED_PREFIX, BinaryField, CollectionSpec, DenseField, MultiVectorField, SparseField,
)
from vectorbridge.connectors.queries import FeedbackQuery
from vectorbridge.encoders.types import SparseVector, as_sparse
from vectorbridge.errors import InvalidInputError

#: Longest id either engine stores (Milvus VARCHAR primary key).
MAX_ID_LENGTH = 512
#: Largest serialised payload per point (Milvus' JSON field limit).
MAX_PAYLOAD_BYTES = 65_536
#: Most token vectors per point in a multi-vector field (keeps one document's tokens within
#: one Milvus query page; 16x MiniLM's and ColBERT's usual document lengths).
MAX_TOKENS_PER_POINT = 8192
#: Raw text of an engine-BM25 field, in UTF-8 bytes (Milvus' VARCHAR limit).
MAX_BM25_TEXT_BYTES = 65_535
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


def _dense(label: str, value: Any, n: int, dim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"{label} is not a numeric (n, {dim}) array: {e}") from None
    if arr.ndim != 2 or arr.shape != (n, dim):
        raise InvalidInputError(
            f"{label} has shape {arr.shape}, expected ({n}, {dim}): one {dim}-d vector "
            f"per row. Check the encoder matches the collection's dimension."
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise InvalidInputError(
            f"{label} row {int(np.argmax(bad))} contains NaN or inf; re-encode or drop it."
        )
    return np.ascontiguousarray(arr)


def _multi(label: str, value: Any, n: int, dim: int, codes: bool = False) -> list[np.ndarray]:
    if not isinstance(value, Sequence) or len(value) != n:
        raise InvalidInputError(f"{label} must be a list of {n} (n_tokens, {dim}) arrays.")
    out = []
    for i, m in enumerate(value):
        if codes:  # token codes: bytes as they are, never converted
            arr = np.asarray(m)
            if arr.dtype != np.uint8:
                raise InvalidInputError(f"{label}[{i}] must be uint8 token codes (the codec's "
                                        f"to_bytes() rows), got {arr.dtype}.")
        else:
            arr = np.asarray(m, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != dim or not 0 < arr.shape[0] <= MAX_TOKENS_PER_POINT:
            raise InvalidInputError(
                f"{label}[{i}] has shape {arr.shape}; expected (n_tokens, {dim}) with "
                f"1 <= n_tokens <= {MAX_TOKENS_PER_POINT}. Split long documents or pool their tokens."
            )
        if not np.isfinite(arr).all():
            raise InvalidInputError(f"{label}[{i}] contains NaN or inf.")
        out.append(np.ascontiguousarray(arr))
    return out


def _binary(label: str, value: Any, n: int, bits: int) -> np.ndarray:
    arr = np.asarray(value)
    nbytes = bits // 8
    if arr.dtype != np.uint8 or arr.shape != (n, nbytes):
        raise InvalidInputError(
            f"{label} must be packed bits: uint8 of shape ({n}, {nbytes}) for {bits}-bit "
            f"codes (numpy.packbits), got {arr.dtype} {arr.shape}."
        )
    return np.ascontiguousarray(arr)


def _sparse(label: str, value: Any, n: int) -> list[SparseVector]:
    if not isinstance(value, Sequence) or len(value) != n:
        raise InvalidInputError(f"{label} must be a list of {n} sparse vectors.")
    out = []
    for i, v in enumerate(value):
        try:
            out.append(as_sparse(v))
        except InvalidInputError as e:
            raise InvalidInputError(f"{label}[{i}]: {e}") from None
    return out


def _texts(label: str, value: Any, n: int) -> list[str]:
    """The raw texts of an engine-BM25 field (``SparseField(bm25="engine")``)."""
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != n:
        raise InvalidInputError(f"{label} must be a list of {n} texts: the field is filled by "
                                "the engine's BM25 from raw text (SparseField(bm25='engine')).")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise InvalidInputError(f"{label}[{i}] must be a str (the engine computes the BM25 "
                                    f"vector from it), got {type(v).__name__}.")
        if len(v) * 4 > MAX_BM25_TEXT_BYTES and len(v.encode("utf-8")) > MAX_BM25_TEXT_BYTES:
            raise InvalidInputError(f"{label}[{i}] is over {MAX_BM25_TEXT_BYTES} UTF-8 bytes, the "
                                    "most an engine-BM25 text holds; split it into chunks.")
    return list(value)


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
        value = vectors[name]
        if isinstance(f, DenseField):
            out[name] = _dense(f"vectors[{name!r}]", value, n, f.dim)
        elif isinstance(f, SparseField) and f.from_text:
            out[name] = _texts(f"vectors[{name!r}]", value, n)
        elif isinstance(f, SparseField):
            out[name] = _sparse(f"vectors[{name!r}]", value, n)
        elif isinstance(f, MultiVectorField):
            out[name] = _multi(f"vectors[{name!r}]", value, n, f.dim, codes=f.codes)
        elif isinstance(f, BinaryField):
            out[name] = _binary(f"vectors[{name!r}]", value, n, f.dim)
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
    f = spec.field(field_name)
    label = f"the query for field {field_name!r}"
    if isinstance(f, SparseField) and f.from_text:
        return _texts(label, [query], 1)[0]
    if isinstance(f, SparseField):
        return _sparse(label, [query], 1)[0]
    if isinstance(f, MultiVectorField):
        if f.codes:
            raise InvalidInputError(
                f"field {field_name!r} stores compressed token codes, which the engine cannot "
                "score; search another field and rescore with the decoded codes (HybridRetriever("
                "token_codec=...) does this)."
            )
        return _multi(label, [query], 1, f.dim)[0]
    if isinstance(f, DenseField) and isinstance(query, FeedbackQuery):
        return _feedback(label, query, f.dim)
    one_row = [query] if np.ndim(query) == 1 else query
    if isinstance(f, DenseField):
        return _dense(label, one_row, 1, f.dim)[0]
    return _binary(label, np.asarray(one_row), 1, f.dim)[0]


def _feedback(label: str, q: FeedbackQuery, dim: int) -> FeedbackQuery:
    """A feedback query with float32 vectors of the field's size and one finite score per
    example (two at least: the engine scores pairs of them)."""
    target = _dense(f"{label} target", [q.target], 1, dim)[0]
    examples = _dense(f"{label} examples", q.examples, len(q.examples), dim)
    scores = tuple(float(s) for s in q.scores)
    if len(examples) < 2 or len(scores) != len(examples) or not np.all(np.isfinite(scores)):
        raise InvalidInputError(f"{label}: a FeedbackQuery needs at least 2 examples, each with "
                                f"one finite score; got {len(examples)} examples, "
                                f"{len(scores)} scores.")
    coefficients = (q.a, q.b, q.c)
    if not all(isinstance(x, (int, float)) and np.isfinite(x) for x in coefficients):
        raise InvalidInputError(f"{label}: a, b, c must be finite numbers, got {coefficients}.")
    return FeedbackQuery(target, examples, scores, *map(float, coefficients))


def check_k(k: Any) -> int:
    """``k`` as a positive int."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}.")
    return int(k)
