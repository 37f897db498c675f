"""What every field kind shares: :class:`Metric`, the :class:`FieldKind` base whose methods
each kind fills in, and the value checks several kinds use.

A field kind is data plus its behaviour: how its definition is read and checked
(:meth:`FieldKind.from_definition`, :meth:`FieldKind.check`), how an upsert's values and a
query are validated into canonical types (:meth:`FieldKind.check_values`,
:meth:`FieldKind.check_query`), its exact score (:meth:`FieldKind.score`, the reference
engine's and every client-side rescoring's), its size on the wire, how a sample point becomes
a query and how a vector read back is compared (copy verification). Engine-free code asks
the field; each engine keeps one table of conversions keyed by :attr:`kind`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Mapping, Sequence

import numpy as np

from vectorbridge.encoders.types import SparseVector, as_sparse
from vectorbridge.errors import InvalidInputError

#: Most token vectors per point in a multi-vector field (keeps one document's tokens within
#: one Milvus query page; 16x MiniLM's and ColBERT's usual document lengths).
MAX_TOKENS_PER_POINT = 8192
#: Raw text of an engine-BM25 field, in UTF-8 bytes (Milvus' VARCHAR limit).
MAX_BM25_TEXT_BYTES = 65_535
#: Largest ``dim`` of any field.
MAX_DIM = 65536


class Metric(str, Enum):
    """Similarity of a dense or multi-vector field. Scores are always higher-is-better:
    ``euclid`` scores are negated distances."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLID = "euclid"


class FieldKind:
    """Base of the field kinds (each a frozen dataclass with a ``kind`` name).

    The class attributes are the defaults of the options only some kinds have, so code that
    is not about one kind reads them without asking which kind it holds."""

    #: Similarity (dense and multi-vector fields).
    metric: Metric | None = None
    #: Engine-side quantization (dense fields).
    quantization: str | None = None
    #: Values are raw texts the engine turns into vectors (engine-BM25 sparse fields).
    from_text: bool = False
    #: Values are codes the engine stores but cannot score (uint8 multi-vector fields).
    codes: bool = False
    #: A column of values is one ``(n, *row_shape)`` array of ``dtype`` (else a list).
    array_column: bool = False

    @property
    def bitwise(self) -> bool:
        """Whether values read back must equal those written bit for bit (no float rounding)."""
        return False

    # -- the definition ---------------------------------------------------------------
    @classmethod
    def from_definition(cls, value: Any) -> Any:
        """The field from what a spec was given: an instance, a ``dim`` or a mapping of
        its options; checked."""
        if isinstance(value, cls):
            f = value
        elif isinstance(value, int) and not isinstance(value, bool) and cls._takes_dim():
            f = cls(dim=value)  # type: ignore[call-arg]
        elif isinstance(value, Mapping):
            f = cls(**value)
        else:
            raise InvalidInputError(f"cannot read a {cls._kind_name()} field from {value!r}; "
                                    f"pass a {cls.__name__}.")
        f.check()
        return f

    @classmethod
    def _takes_dim(cls) -> bool:
        return "dim" in getattr(cls, "__dataclass_fields__", {})

    @classmethod
    def _kind_name(cls) -> str:
        return cls.__dataclass_fields__["kind"].default  # type: ignore[attr-defined]

    def check(self) -> None:
        """Refuse an impossible definition (normalising what can be, e.g. the metric)."""

    def _check_dim(self) -> None:
        dim = self.dim  # type: ignore[attr-defined]
        if not isinstance(dim, int) or dim <= 0 or dim > MAX_DIM:
            raise InvalidInputError(f"{self._kind_name()} field dim must be an int in "
                                    f"[1, {MAX_DIM}], got {dim!r}.")

    def _check_metric_and_dim(self) -> None:
        object.__setattr__(self, "metric", Metric(self.metric))
        self._check_dim()

    def _check_index(self) -> None:
        if not isinstance(self.index, bool):  # type: ignore[attr-defined]
            raise InvalidInputError(f"{self._kind_name()} index must be True or False, got "
                                    f"{self.index!r}.")  # type: ignore[attr-defined]

    # -- values -------------------------------------------------------------------------
    def check_values(self, label: str, value: Any, n: int) -> Any:
        """An upsert's ``n`` values of this field in canonical form."""
        raise NotImplementedError

    def check_query(self, label: str, query: Any, field_name: str) -> Any:
        """One search query on this field in canonical form."""
        raise NotImplementedError

    def score(self, query: Any, value: Any) -> float:
        """Higher-is-better exact score of one stored value, as the engine would give it."""
        raise NotImplementedError

    def reachable(self, query: Any, value: Any) -> bool:
        """Whether a search can return ``value`` at all (a sparse index: a shared term)."""
        return True

    def wire_bytes(self, column: Any, n: int, wire: Any) -> Any:
        """Upper bound of each of ``n`` values' bytes in a write request (an int for all, or
        an ``(n,)`` array); ``wire``: a :class:`~vectorbridge.connectors.writes.Wire`."""
        raise NotImplementedError

    # -- values read back ---------------------------------------------------------------
    def sample_query(self, value: Any) -> Any:
        """A stored value as a query on this field (None: nothing to ask)."""
        return value

    def difference(self, expected: Any, got: Any) -> float:
        """The largest difference between a value written and the one read back (0 =
        identical, ``inf`` for other shapes); floats relative to max(1, largest value),
        cosine vectors unit-length (Qdrant stores them normalised)."""
        a, b = np.asarray(expected), np.asarray(got)
        if a.shape != b.shape:
            return float("inf")
        if self.bitwise:
            return float(np.abs(a.astype(np.int64) - b.astype(np.int64)).max(initial=0))
        a, b = a.astype(np.float32), b.astype(np.float32)
        if self.metric is Metric.COSINE:
            a, b = unit(a), unit(b)
        return relative_error(a, b)


def unit_rows(m: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def unit(a: np.ndarray) -> np.ndarray:
    """Vectors along the last axis scaled to unit length (zero vectors unchanged)."""
    norms = np.linalg.norm(a, axis=-1, keepdims=True)
    return a / np.where(norms == 0, 1, norms)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest ``|a - b|`` relative to max(1, largest ``|a|``)."""
    if not a.size:
        return 0.0
    return float(np.abs(a - b).max() / max(1.0, float(np.abs(a).max())))


def one_row(query: Any) -> Any:
    """A ``(dim,)`` query as one row; a ``(1, dim)`` one as it is."""
    return [query] if np.ndim(query) == 1 else query


def dense_values(label: str, value: Any, n: int, dim: int) -> np.ndarray:
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


def token_values(label: str, value: Any, n: int, dim: int, codes: bool = False) -> list[np.ndarray]:
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


def bit_values(label: str, value: Any, n: int, bits: int) -> np.ndarray:
    arr = np.asarray(value)
    nbytes = bits // 8
    if arr.dtype != np.uint8 or arr.shape != (n, nbytes):
        raise InvalidInputError(
            f"{label} must be packed bits: uint8 of shape ({n}, {nbytes}) for {bits}-bit "
            f"codes (numpy.packbits), got {arr.dtype} {arr.shape}."
        )
    return np.ascontiguousarray(arr)


def sparse_values(label: str, value: Any, n: int) -> list[SparseVector]:
    if not isinstance(value, Sequence) or len(value) != n:
        raise InvalidInputError(f"{label} must be a list of {n} sparse vectors.")
    out = []
    for i, v in enumerate(value):
        try:
            out.append(as_sparse(v))
        except InvalidInputError as e:
            raise InvalidInputError(f"{label}[{i}]: {e}") from None
    return out


def text_values(label: str, value: Any, n: int) -> list[str]:
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


def lengths(column: Any, n: int) -> np.ndarray:
    """``(n,)`` lengths of a column's values (entries, characters or tokens)."""
    return np.fromiter((len(v) for v in column), np.int64, n)


__all__ = ["Metric", "FieldKind", "MAX_TOKENS_PER_POINT", "MAX_BM25_TEXT_BYTES", "unit_rows",
           "unit", "relative_error", "one_row", "dense_values", "token_values", "bit_values",
           "sparse_values", "text_values", "lengths"]
