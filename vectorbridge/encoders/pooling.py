"""Token pooling: fewer vectors per document for late interaction, chosen by clustering.

A multi-vector document costs one vector per token (~240 x 384 floats for a SciFact
abstract). Many of those tokens are near-duplicates (stopwords, sub-word pieces of one word,
repeated terms), and MaxSim only reads each query token's *best* match, so a cluster of
similar document tokens can be replaced by its mean with little loss. This is the post-hoc
pooling baseline of "Reducing the Footprint of Multi-Vector Retrieval with Minimal
Performance Impact via Token Pooling" (Clavié et al., 2024) that CRISP ("Clustering
Multi-Vector Representations for Denoising and Pruning", 2025) compares against: cluster each
document's tokens into ``ceil(n / pool_factor)`` groups, store the normalised group means.
CRISP learns the clustering during training; this module is the training-free version, and
``vectorbridge bench multivector`` measures what it costs on SciFact.

Queries are never pooled (their tokens are few, and each one is a term of the question).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> doc = rng.standard_normal((9, 4)).astype(np.float32)
    >>> TokenPooler(pool_factor=3).pool([doc])[0].shape
    (3, 4)
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np

from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import requires
from vectorbridge.options import checked_keywords

with requires("quantizers", "TokenPooler"):
    from scipy.cluster.hierarchy import fcluster, linkage

Method = Literal["hierarchical", "kmeans"]


class TokenPooler:
    """Pool each document's token vectors into ``ceil(n_tokens / pool_factor)`` vectors.

    Args:
        pool_factor: Target ratio of tokens in to vectors out (1 = no pooling; 2-4 is the
            range the token-pooling paper recommends).
        method: ``"hierarchical"`` (Ward linkage on the unit vectors, cut into the target
            number of clusters: deterministic, the paper's choice) or ``"kmeans"``
            (spherical k-means: farthest-point seeding, 10 Lloyd steps on cosine).
        protected: Leading tokens kept as they are (e.g. 1 for a ``[CLS]`` vector).
        seed: Seed of k-means.
    """

    @checked_keywords
    def __init__(self, pool_factor: float = 2.0, method: Method = "hierarchical",
                 protected: int = 0, seed: int = 0) -> None:
        if not (isinstance(pool_factor, (int, float)) and pool_factor >= 1):
            raise InvalidInputError(f"pool_factor={pool_factor!r}: use a number >= 1 (1 keeps "
                                    "every token).")
        if method not in ("hierarchical", "kmeans"):
            raise InvalidInputError(f"method={method!r}: use 'hierarchical' or 'kmeans'.")
        if not (isinstance(protected, int) and protected >= 0):
            raise InvalidInputError(f"protected={protected!r}: use an int >= 0.")
        self.pool_factor, self.method = float(pool_factor), method
        self.protected, self.seed = protected, seed

    def pool(self, docs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Pooled token matrices, one per document, float32 and unit-normalised."""
        return [self._one(np.asarray(d, dtype=np.float32), i) for i, d in enumerate(docs)]

    def _one(self, doc: np.ndarray, i: int) -> np.ndarray:
        if doc.ndim != 2 or not len(doc):
            raise InvalidInputError(f"docs[{i}] must be a non-empty (n_tokens, dim) array, got "
                                    f"shape {doc.shape}.")
        keep, rest = doc[:self.protected], doc[self.protected:]
        k = max(1, math.ceil(len(rest) / self.pool_factor))
        if self.pool_factor == 1 or len(rest) <= k:
            return _unit(doc)
        unit = _unit(rest)
        if self.method == "hierarchical":
            labels = fcluster(linkage(unit, method="ward"), t=k, criterion="maxclust") - 1
        else:
            labels = _spherical_kmeans(unit, k, np.random.default_rng(self.seed + i))
        sums = _group_sums(unit, labels, int(labels.max()) + 1)
        pooled = sums[np.bincount(labels, minlength=len(sums)) > 0]
        return np.concatenate([_unit(keep), _unit(pooled)]) if len(keep) else _unit(pooled)

    def to_json(self) -> dict[str, object]:
        """The settings, stored with a collection so a rebuild pools the same way."""
        return {"pool_factor": self.pool_factor, "method": self.method,
                "protected": self.protected, "seed": self.seed}

    def __repr__(self) -> str:
        return (f"TokenPooler(pool_factor={self.pool_factor:g}, method={self.method!r}, "
                f"protected={self.protected})")


def _spherical_kmeans(x: np.ndarray, k: int, rng: np.random.Generator,
                      steps: int = 10) -> np.ndarray:
    """Cluster labels of unit rows ``x`` into ``k`` groups by cosine (empty groups keep
    their centre; the caller drops them)."""
    # Farthest-point seeding (k-means++ without the sampling): distinct directions each get
    # a centre, so exact duplicates always share a cluster.
    picked = [int(rng.integers(len(x)))]
    closest = x @ x[picked[0]]
    for _ in range(k - 1):
        picked.append(int(np.argmin(closest)))
        closest = np.maximum(closest, x @ x[picked[-1]])
    centres = x[picked].copy()
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(steps):
        labels = np.argmax(x @ centres.T, axis=1)
        sums = _group_sums(x, labels, k)
        filled = np.linalg.norm(sums, axis=1) > 0
        centres[filled] = _unit(sums[filled])
    return labels


def _group_sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Row sums of ``x`` per label, as one (k, n) one-hot product (``np.add.at`` is slow)."""
    onehot = np.zeros((k, len(x)), dtype=x.dtype)
    onehot[labels, np.arange(len(x))] = 1
    return onehot @ x


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1)).astype(np.float32)


__all__ = ["TokenPooler"]
