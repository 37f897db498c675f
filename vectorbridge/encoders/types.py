"""Plain value types shared by the encoders: :class:`SparseVector` and text validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from vectorbridge.errors import InvalidInputError

#: Largest sparse index a SparseVector may hold. Both engines accept ``[0, 2**32 - 1)``;
#: the top one, ``2**32 - 2``, is kept free for connectors' own use (Milvus cannot store an
#: empty sparse row, so an empty vector is written as a zero-impact entry there).
MAX_SPARSE_INDEX = 2**32 - 3


@dataclass(frozen=True, eq=False)
class SparseVector:
    """A sparse vector as two parallel arrays, sorted by index, every index unique.

    Construction validates and normalises, so every ``SparseVector`` in the system is one an
    engine accepts: indices are converted to ``uint32`` and sorted (values follow), duplicate
    or out-of-range indices and negative / NaN / infinite values raise
    :class:`~vectorbridge.InvalidInputError` rather than being silently merged or clipped.

    Attributes:
        indices: (nnz,) uint32 term ids, strictly increasing.
        values: (nnz,) float32 weights, finite and >= 0.

    Examples:
        >>> v = SparseVector([7, 3], [0.5, 1.0])
        >>> v.indices.tolist(), v.values.tolist()
        ([3, 7], [1.0, 0.5])
    """

    indices: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        idx = np.asarray(self.indices)
        val = np.asarray(self.values, dtype=np.float64)
        if idx.ndim != 1 or val.ndim != 1 or idx.shape != val.shape:
            raise InvalidInputError(
                f"SparseVector needs two 1-d arrays of equal length, got indices shape "
                f"{idx.shape} and values shape {val.shape}; pass parallel lists."
            )
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            if not np.all(np.mod(idx, 1) == 0):
                raise InvalidInputError("SparseVector indices must be integers; got non-integral values.")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() > MAX_SPARSE_INDEX):
            raise InvalidInputError(
                f"SparseVector indices must lie in [0, {MAX_SPARSE_INDEX}]; got "
                f"[{idx.min()}, {idx.max()}]. Hash or remap term ids into that range."
            )
        if not np.all(np.isfinite(val)):
            raise InvalidInputError("SparseVector values contain NaN or inf; drop or fix those terms.")
        if val.size and val.min() < 0:
            raise InvalidInputError(
                "SparseVector values must be >= 0 (term weights); got a negative weight. "
                "Clip with max(0, w) or drop the term."
            )
        order = np.argsort(idx, kind="stable")
        idx, val = idx[order], val[order]
        if idx.size > 1 and np.any(idx[1:] == idx[:-1]):
            dup = idx[1:][idx[1:] == idx[:-1]][0]
            raise InvalidInputError(
                f"SparseVector has duplicate index {dup}; sum the weights of a term into one entry."
            )
        object.__setattr__(self, "indices", idx.astype(np.uint32))
        object.__setattr__(self, "values", val.astype(np.float32))

    @classmethod
    def _trusted(cls, indices: np.ndarray, values: np.ndarray) -> "SparseVector":
        """Wrap arrays that hold the invariants by construction (strictly increasing indices
        in range, finite weights >= 0), skipping the checks: for encoders whose arithmetic
        guarantees them (BM25), where validating a 7-term query took longer (~45 us) than
        encoding it."""
        v = object.__new__(cls)
        object.__setattr__(v, "indices", np.asarray(indices, dtype=np.uint32))
        object.__setattr__(v, "values", np.asarray(values, dtype=np.float32))
        return v

    @classmethod
    def from_dict(cls, weights: Mapping[int, float]) -> "SparseVector":
        """Build from ``{index: weight}`` (the shape Milvus returns)."""
        return cls(np.fromiter(weights.keys(), dtype=np.int64, count=len(weights)),
                   np.fromiter(weights.values(), dtype=np.float64, count=len(weights)))

    def to_dict(self) -> dict[int, float]:
        """``{index: weight}`` with Python scalars (the shape Milvus accepts)."""
        return dict(zip(self.indices.tolist(), self.values.tolist()))

    def dot(self, other: "SparseVector") -> float:
        """Inner product with another sparse vector (a brute-force reference for engines)."""
        _, ia, ib = np.intersect1d(self.indices, other.indices, assume_unique=True,
                                        return_indices=True)
        return float(np.dot(self.values[ia].astype(np.float64), other.values[ib]))

    def __len__(self) -> int:
        return int(self.indices.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseVector):
            return NotImplemented
        return bool(np.array_equal(self.indices, other.indices)
                    and np.allclose(self.values, other.values, rtol=1e-6, atol=1e-7))

    def __repr__(self) -> str:
        head = ", ".join(f"{i}:{v:.3g}" for i, v in zip(self.indices[:4], self.values[:4]))
        more = ", ..." if len(self) > 4 else ""
        return f"SparseVector(nnz={len(self)}, {{{head}{more}}})"


def check_texts(texts: Any, what: str = "texts") -> list[str]:
    """Return ``texts`` as a list of str, or raise naming the first bad element.

    A bare string is refused (it would be iterated character by character).
    """
    if isinstance(texts, str):
        raise InvalidInputError(f"{what} must be a list of strings, got one str; wrap it: [text].")
    if not isinstance(texts, Iterable):
        raise InvalidInputError(f"{what} must be a list of strings, got {type(texts).__name__}.")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InvalidInputError(
                f"{what}[{i}] is {type(t).__name__}, not str; convert or drop it before encoding."
            )
    return out


def as_sparse(value: Any) -> SparseVector:
    """Coerce ``SparseVector`` / ``{index: weight}`` / ``(indices, values)`` to a SparseVector."""
    if isinstance(value, SparseVector):
        return value
    if isinstance(value, Mapping):
        return SparseVector.from_dict(value)
    if isinstance(value, Sequence) and len(value) == 2:
        return SparseVector(np.asarray(value[0]), np.asarray(value[1]))
    if hasattr(value, "indices") and hasattr(value, "values"):  # qdrant / fastembed objects
        return SparseVector(np.asarray(value.indices), np.asarray(value.values))
    raise InvalidInputError(
        f"cannot read a sparse vector from {type(value).__name__}; pass a SparseVector, "
        "a {index: weight} dict or an (indices, values) pair."
    )
