"""Linear dimensionality reduction of dense vectors (LeanVec's first half).

Embedding models spend many dimensions on directions that barely move inner products; a
linear projection to fewer dimensions keeps the ranking close while the engine's graph,
quantized copies and distance computations all shrink with the dimension. The reduced
vectors are searched (compressed further by the engine if asked) and the top candidates
re-ranked with the full vectors, which the retriever keeps unindexed beside them
(``HybridRetriever(reducer=...)``).

Two fits, as in LeanVec (Tepper et al., 2023):

- **in-distribution** (``fit(X)``): the top eigenvectors of the documents' second-moment
  matrix ``X^T X / n`` (PCA without centring: inner products, not distances to the mean, are
  what a dot-product or cosine search ranks by).
- **out-of-distribution** (``fit(X, queries=Q)``): queries unlike the documents (questions
  against passages, text against images) make the documents' principal directions the wrong
  ones to keep. The projection preserves ``q . x`` where both are spread: the top
  eigenvectors of ``(1 - w) Kx / tr(Kx) + w Kq / tr(Kq)``, each second moment normalised by
  its trace. This is the eigenvector solution LeanVec-OOD starts its Frank-Wolfe search from;
  queries need no labels.

One projection serves queries and documents, so a query is transformed exactly like a
document and scores stay symmetric; persistence is ``.npz`` + JSON, never pickle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from vectorbridge.encoders._codes import _as_matrix, load_npz, save_npz
from vectorbridge.errors import InvalidInputError

_FORMAT = "vectorbridge.linear_reducer/1"


class LinearReducer:
    """Projects ``d``-dimensional vectors to ``dim`` dimensions with an orthonormal basis.

    Args:
        dim: Output dimensions (fewer than the input's).
        query_weight: Share of the query second moment in an OOD fit (``fit(X, queries=Q)``),
            in ``[0, 1]``; ignored without queries.

    Examples:
        >>> red = LinearReducer(dim=96).fit(X)                  # doctest: +SKIP
        >>> red = LinearReducer(dim=96).fit(X, queries=Q)       # doctest: +SKIP
        >>> Xr = red.transform(X)                               # doctest: +SKIP
    """

    def __init__(self, dim: int, query_weight: float = 0.5) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidInputError(f"dim must be a positive int, got {dim!r}.")
        if isinstance(query_weight, bool) or not 0.0 <= float(query_weight) <= 1.0:
            raise InvalidInputError(f"query_weight must be a number in [0, 1], got {query_weight!r}.")
        self.dim = dim
        self.query_weight = float(query_weight)
        self.components: np.ndarray | None = None  # (in_dim, dim), orthonormal columns
        self.variant: str | None = None  # "documents" or "queries+documents"
        self.kept: float | None = None  # share of the fitted second moment the basis keeps

    @property
    def in_dim(self) -> int:
        self._check_fitted()
        return int(self.components.shape[0])  # type: ignore[union-attr]

    def fit(self, X: object, queries: object = None) -> "LinearReducer":
        """Learn the projection from documents ``X`` (and, for the OOD variant, ``queries``:
        any sample of query vectors, unlabelled). Deterministic: eigenvector signs are fixed."""
        X = _as_matrix(X, "X")
        if self.dim >= X.shape[1]:
            raise InvalidInputError(f"LinearReducer(dim={self.dim}) must reduce: the vectors "
                                    f"have {X.shape[1]} dimensions; pick a smaller dim.")
        if len(X) < 2:
            raise InvalidInputError("fit needs at least 2 vectors.")
        K = _second_moment(X)
        self.variant = "documents"
        if queries is not None:
            Q = _as_matrix(queries, "queries", X.shape[1])
            if not len(Q):
                raise InvalidInputError("queries is empty; pass query vectors or None.")
            w = self.query_weight
            K = (1 - w) * K / np.trace(K) + w * _second_moment(Q) / np.trace(_second_moment(Q))
            self.variant = "queries+documents"
        values, vectors = np.linalg.eigh(K)  # ascending
        top = vectors[:, ::-1][:, : self.dim]
        signs = np.sign(top[np.abs(top).argmax(axis=0), np.arange(self.dim)])
        self.components = np.ascontiguousarray((top * signs).astype(np.float32))
        self.kept = float(values[::-1][: self.dim].sum() / max(values.sum(), 1e-30))
        return self

    def transform(self, X: object) -> np.ndarray:
        """``X`` projected: float32 ``(n, dim)`` (queries and documents alike)."""
        self._check_fitted()
        X = _as_matrix(X, "X", self.in_dim)
        return X @ self.components

    def fingerprint(self) -> str:
        """JSON naming this fitted projection (config + a hash of its basis), stored with the
        collection's reduced field so vectors from another projection are refused."""
        self._check_fitted()
        digest = hashlib.sha256(self.components.tobytes()).hexdigest()[:16]  # type: ignore[union-attr]
        return json.dumps({"format": _FORMAT, "dim": self.dim, "in_dim": self.in_dim,
                           "variant": self.variant, "sha256": digest}, sort_keys=True)

    def save(self, path: str | Path) -> None:
        """Write the fitted projection as ``.npz`` + JSON config (no pickle)."""
        self._check_fitted()
        save_npz(path, {"format": _FORMAT, "dim": self.dim, "query_weight": self.query_weight,
                        "variant": self.variant, "kept": self.kept},
                 components=self.components)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> "LinearReducer":
        cfg, arrays = load_npz(path, _FORMAT)
        red = cls(cfg["dim"], query_weight=cfg["query_weight"])
        red.components, red.variant, red.kept = arrays["components"], cfg["variant"], cfg["kept"]
        return red

    def _check_fitted(self) -> None:
        if self.components is None:
            raise InvalidInputError("this LinearReducer is not fitted: call fit(X) or "
                                    "LinearReducer.load(path) first.")

    def __repr__(self) -> str:
        return f"LinearReducer(dim={self.dim}, query_weight={self.query_weight})"


def _second_moment(X: np.ndarray) -> np.ndarray:
    X64 = X.astype(np.float64)
    return X64.T @ X64 / len(X64)


__all__ = ["LinearReducer"]
