"""Binary codes for dense vectors: 1-bit signs and multi-bit thermometer codes, packed.

Why thermometer codes for ``bits > 1``: each dimension is cut at ``bits`` per-dimension
quantile thresholds into ``bits + 1`` levels, and level ``l`` is written as ``l`` ones then
zeros. The Hamming distance of two such codes is then exactly the L1 distance of their
levels, so multi-bit codes keep working with plain Hamming search (in numpy, faiss binary
indexes or an engine's HAMMING metric) while resolving each dimension more finely than a
sign. Asymmetric search (a float query against decoded documents) uses the mean training
value of each level.

Bit order: dimension-major, ``bits`` bits per dimension (dimension ``j`` owns bits
``j*bits .. j*bits+bits-1``), packed with ``numpy.packbits`` (most significant bit first in
each byte), zero-padded to whole bytes: ``ceil(dim * bits / 8)`` bytes per vector.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np

from vectorbridge.encoders._codes import _as_matrix, _as_words, load_npz, save_npz, topk
from vectorbridge.errors import InvalidInputError
from vectorbridge.options import checked_keywords

BITS: tuple[int, ...] = (1, 2, 4)
SearchMode = Literal["hamming", "asymmetric"]
_FORMAT = "vectorbridge.binary/1"


class BinaryQuantizer:
    """Dense float vectors -> packed binary codes, with Hamming and asymmetric search.

    Args:
        bits: Bits per dimension: 1 (sign), 2 or 4 (thermometer code over quantile levels).
        center: 1-bit only: threshold each dimension at its fitted mean instead of 0.

    Examples:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 16)).astype("float32")
        >>> bq = BinaryQuantizer(bits=1).fit(X)
        >>> codes = bq.encode(X)
        >>> codes.shape, codes.dtype
        ((100, 2), dtype('uint8'))
        >>> scores, idx = bq.search(codes, X[:3], k=1)
        >>> idx[:, 0].tolist()
        [0, 1, 2]
    """

    @checked_keywords
    def __init__(self, bits: int = 1, *, center: bool = False) -> None:
        if bits not in BITS:
            raise InvalidInputError(f"bits={bits!r}: use one of {BITS}.")
        if center and bits != 1:
            raise InvalidInputError("center=True applies to 1-bit codes; multi-bit thresholds "
                                    "are fitted quantiles already.")
        self.bits, self.center = bits, center
        self.thresholds: np.ndarray | None = None  # (dim, bits)
        self.levels: np.ndarray | None = None  # (dim, bits + 1) mean value of each level

    # -- fitting --------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        self._check_fitted()
        return int(self.thresholds.shape[0])  # type: ignore[union-attr]

    @property
    def bytes_per_vector(self) -> int:
        return -(-self.dim * self.bits // 8)

    def _check_fitted(self) -> None:
        if self.thresholds is None:
            raise InvalidInputError("this BinaryQuantizer is not fitted: call fit(vectors) first.")

    def fit(self, X: object) -> "BinaryQuantizer":
        """Learn thresholds (0, the mean, or quantiles) and level means from ``X`` (n, dim)."""
        X = _as_matrix(X, "fit vectors")
        if len(X) < 2:
            raise InvalidInputError(f"fit needs at least 2 vectors, got {len(X)}.")
        if self.bits == 1:
            t = X.mean(axis=0, keepdims=True).T if self.center else np.zeros((X.shape[1], 1), np.float32)
        else:
            qs = np.arange(1, self.bits + 1) / (self.bits + 1)
            t = np.quantile(X, qs, axis=0).T.astype(np.float32)  # (dim, bits), ascending
        self.thresholds = np.ascontiguousarray(t, dtype=np.float32)
        lv = self._levels(X)
        sums = np.zeros((X.shape[1], self.bits + 1))
        counts = np.zeros((X.shape[1], self.bits + 1))
        cols = np.broadcast_to(np.arange(X.shape[1]), X.shape)
        np.add.at(sums, (cols, lv), X)
        np.add.at(counts, (cols, lv), 1)
        # an empty level (constant dimension) decodes to its threshold
        fallback = np.concatenate([self.thresholds, self.thresholds[:, -1:]], axis=1)
        self.levels = np.where(counts > 0, sums / np.maximum(counts, 1), fallback).astype(np.float32)
        return self

    def _levels(self, X: np.ndarray) -> np.ndarray:
        """Level of every value: how many thresholds it exceeds, (n, dim) in 0..bits."""
        return (X[:, :, None] > self.thresholds[None]).sum(axis=2)  # type: ignore[index]

    # -- codes ----------------------------------------------------------------------------
    def encode(self, X: object) -> np.ndarray:
        """Packed codes, uint8 ``(n, bytes_per_vector)`` (bit order in the module docstring)."""
        self._check_fitted()
        X = _as_matrix(X, "vectors", self.dim)
        if self.bits == 1:  # a sign code: no levels to count
            return np.packbits(X > self.thresholds[:, 0], axis=1)  # type: ignore[index]
        lv = self._levels(X)
        therm = lv[:, :, None] > np.arange(self.bits)  # (n, dim, bits): l ones, then zeros
        return np.packbits(therm.reshape(len(X), -1), axis=1)

    def levels_of(self, codes: np.ndarray) -> np.ndarray:
        """Each dimension's level from packed codes, (n, dim)."""
        self._check_fitted()
        codes = self._check_codes(codes)
        bits = np.unpackbits(codes, axis=1, count=self.dim * self.bits)
        return bits.reshape(len(codes), self.dim, self.bits).sum(axis=2, dtype=np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Approximate float vectors: each level's mean training value, float32 (n, dim)."""
        lv = self.levels_of(codes)
        return self.levels[np.arange(self.dim)[None, :], lv]  # type: ignore[index]

    def _check_codes(self, codes: object) -> np.ndarray:
        arr = np.asarray(codes)
        if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != self.bytes_per_vector:
            raise InvalidInputError(
                f"codes must be uint8 of shape (n, {self.bytes_per_vector}) from this quantizer's "
                f"encode(), got {arr.dtype} {arr.shape}."
            )
        return arr

    # -- search ---------------------------------------------------------------------------
    def hamming(self, codes: np.ndarray, query_codes: np.ndarray) -> np.ndarray:
        """Hamming distances (n_queries, n) between packed codes (= L1 between levels)."""
        codes, query_codes = self._check_codes(codes), self._check_codes(query_codes)
        words, qwords = _as_words(codes), _as_words(query_codes)
        out = np.empty((len(query_codes), len(codes)), dtype=np.int32)
        step = max(1, (1 << 22) // max(1, words.size))  # queries per block: ~32 MB of XORs
        for i in range(0, len(qwords), step):  # XOR + popcount on 64-bit words, a block at a time
            x = np.bitwise_xor(qwords[i:i + step, None, :], words[None, :, :])
            out[i:i + step] = np.bitwise_count(x).sum(axis=2, dtype=np.int32)
        return out

    def search(self, codes: np.ndarray, queries: object, k: int,
               mode: SearchMode = "hamming") -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` codes per query, best first: ``(scores, indices)``, each (n_queries, k).

        Args:
            codes: Stored codes from :meth:`encode`.
            queries: Float query vectors (n_queries, dim).
            k: Candidates per query (fewer if there are fewer codes).
            mode: ``"hamming"``: queries are encoded too, score = -Hamming distance;
                ``"asymmetric"``: score = float query . decoded code.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"k must be a positive int, got {k!r}.")
        Q = _as_matrix(queries, "queries", self.dim)
        if mode == "hamming":
            scores = -self.hamming(codes, self.encode(Q)).astype(np.float32)
        elif mode == "asymmetric":
            scores = Q @ self.decode(codes).T
        else:
            raise InvalidInputError(f"mode={mode!r}: use 'hamming' or 'asymmetric'.")
        return topk(scores, int(k))

    def fingerprint(self) -> str:
        """JSON naming this fitted quantizer (config + a hash of its thresholds), stored with
        a collection's code field so codes from another quantizer are refused."""
        self._check_fitted()
        digest = hashlib.sha256(self.thresholds.tobytes() + self.levels.tobytes()).hexdigest()[:16]  # type: ignore[union-attr]
        return json.dumps({"format": _FORMAT, "bits": self.bits, "center": self.center,
                           "dim": self.dim, "sha256": digest}, sort_keys=True)

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the fitted quantizer as ``.npz`` arrays + JSON config (no pickle)."""
        self._check_fitted()
        save_npz(path, {"format": _FORMAT, "bits": self.bits, "center": self.center},
                 thresholds=self.thresholds, levels=self.levels)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> "BinaryQuantizer":
        cfg, arrays = load_npz(path, _FORMAT)
        bq = cls(cfg["bits"], center=cfg["center"])
        bq.thresholds, bq.levels = arrays["thresholds"], arrays["levels"]
        return bq

    def __repr__(self) -> str:
        return f"BinaryQuantizer(bits={self.bits}, center={self.center})"


__all__ = ["BinaryQuantizer", "BITS"]
