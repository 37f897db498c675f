"""Product quantization: a vector as ``m`` one-byte centroid ids, searched by asymmetric distance.

The ``d`` dimensions are split into ``m`` sub-vectors of ``d / m`` dims; each subspace gets
``2**nbits`` centroids from k-means (faiss, the field's tool); a vector is stored as the id of
the nearest centroid per subspace (``m`` bytes for ``nbits=8``: 384-d float32 at m=96 is 16x
smaller). Asymmetric distance computation (ADC) keeps the query in float: one table of
query-subvector x centroid scores per query, then each code's score is a sum of ``m`` table
look-ups (done for all codes and queries as one sparse one-hot product). Codebooks persist as ``.npz`` + JSON config, loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np

from vectorbridge.encoders._codes import _as_matrix, load_npz, save_npz, topk
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import need, requires
from vectorbridge.options import checked_keywords

with requires("quantizers", "ProductQuantizer"):
    import scipy.sparse

PQMetric = Literal["ip", "l2"]
_FORMAT = "vectorbridge.pq/1"


class ProductQuantizer:
    """Dense vectors -> ``m`` uint8 codes each, with ADC search and decoding.

    Args:
        m: Number of subspaces; must divide the vector dimension.
        nbits: Bits per subspace code (1-8): ``2**nbits`` centroids each.
        metric: ``"ip"`` (inner product; cosine on unit vectors) or ``"l2"``; scores are
            higher-is-better either way (negated squared distance for l2).
        train_threads: faiss threads during k-means (1 was 5x faster than 2 on 2 cores here).
        seed: k-means seed.

    Examples:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(1000, 32)).astype("float32")
        >>> pq = ProductQuantizer(m=8, nbits=4).fit(X)
        >>> pq.encode(X).shape
        (1000, 8)
    """

    @checked_keywords
    def __init__(self, m: int, nbits: int = 8, *, metric: PQMetric = "ip", train_threads: int = 1,
                 seed: int = 1234) -> None:
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise InvalidInputError(f"m must be a positive int, got {m!r}.")
        if isinstance(nbits, bool) or not isinstance(nbits, int) or not 1 <= nbits <= 8:
            raise InvalidInputError(f"nbits must be an int in 1..8 (one byte per subspace), got {nbits!r}.")
        if metric not in ("ip", "l2"):
            raise InvalidInputError(f"metric={metric!r}: use 'ip' or 'l2'.")
        self.m, self.nbits, self.metric = m, nbits, metric
        self.train_threads, self.seed = train_threads, seed
        self.centroids: np.ndarray | None = None  # (m, 2**nbits, d / m)

    @property
    def ksub(self) -> int:
        return 2 ** self.nbits

    @property
    def dim(self) -> int:
        self._check_fitted()
        return int(self.m * self.centroids.shape[2])  # type: ignore[union-attr]

    @property
    def bytes_per_vector(self) -> int:
        return self.m

    def _check_fitted(self) -> None:
        if self.centroids is None:
            raise InvalidInputError("this ProductQuantizer is not fitted: call fit(vectors) first.")

    def fit(self, X: object) -> "ProductQuantizer":
        """Train the codebooks: k-means with ``2**nbits`` centroids per subspace."""
        faiss = need("faiss", "quantizers", "ProductQuantizer.fit")

        X = _as_matrix(X, "fit vectors")
        n, d = X.shape
        if d % self.m:
            divisors = [x for x in range(1, d + 1) if d % x == 0]
            raise InvalidInputError(f"m={self.m} must divide the dimension {d}; choose one of {divisors}.")
        if n < self.ksub:
            raise InvalidInputError(
                f"{n} training vectors for {self.ksub} centroids per subspace: need at least "
                f"{self.ksub} (ideally 40x that); lower nbits or give more vectors."
            )
        dsub = d // self.m
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.train_threads)
        try:
            cents = np.empty((self.m, self.ksub, dsub), dtype=np.float32)
            for j in range(self.m):
                km = faiss.Kmeans(dsub, self.ksub, niter=25, seed=self.seed + j, verbose=False,
                                  max_points_per_centroid=256, min_points_per_centroid=1)
                km.train(np.ascontiguousarray(X[:, j * dsub:(j + 1) * dsub]))
                cents[j] = km.centroids
        finally:
            faiss.omp_set_num_threads(before)
        self.centroids = cents
        return self

    def distill(self, queries: object, docs: object, *, candidates: int = 100,
                temperature: float = 0.05, epochs: int = 20, lr: float = 2e-3,
                batch: int = 256, seed: int = 0) -> "ProductQuantizer":
        """Refine the centroids so that ADC scores reproduce the float scores (Distill-VQ).

        k-means fits each subspace to the *documents*; what search needs is that each query's
        ranking of its candidates survives. Following Distill-VQ (Xiao et al., SIGIR 2022),
        the float model is the teacher: for each (unlabelled) query its top ``candidates``
        documents by exact inner product, and the centroids are trained (torch, CPU) to
        minimise the KL divergence between the teacher's and the ADC scores' softmax
        (``temperature``) over those candidates. The documents' codes (assignments) stay
        fixed, as in JPQ: encode the documents before distilling and keep those codes (the
        centroids moved to serve them; re-encoding may pick other centroids). New vectors are
        encoded to the nearest refined centroid. Inner-product metric only.

        Args:
            queries: Unlabelled training queries ``(n_q, dim)`` (no relevance labels needed).
            docs: The documents whose codes are kept, ``(n, dim)`` (those stored).
        """
        torch = need("torch", "encoders", "ProductQuantizer.fine_tune")

        self._check_fitted()
        if self.metric != "ip":
            raise InvalidInputError("distill() trains inner-product ADC scores; this quantizer "
                                    "uses metric='l2'.")
        Q = _as_matrix(queries, "queries", self.dim)
        D = _as_matrix(docs, "docs", self.dim)
        if candidates < 2 or candidates > len(D):
            raise InvalidInputError(f"candidates must be in 2..{len(D)} (the documents), got {candidates!r}.")
        codes = torch.from_numpy(self.encode(D).astype(np.int64))  # (n, m), fixed from here on
        _, cand = topk(Q @ D.T, candidates)  # the teacher's candidates per query
        teacher = torch.from_numpy(np.take_along_axis(Q @ D.T, cand, axis=1) / temperature)
        cand_t = torch.from_numpy(cand.astype(np.int64))
        Qs = torch.from_numpy(self._split(Q))  # (n_q, m, dsub)
        cents = torch.nn.Parameter(torch.from_numpy(self.centroids.copy()))  # type: ignore[union-attr]
        opt = torch.optim.Adam([cents], lr=lr)
        gen = torch.Generator().manual_seed(seed)
        sub = torch.arange(self.m)
        for _ in range(epochs):
            for idx in torch.randperm(len(Q), generator=gen).split(batch):
                tables = torch.einsum("qmd,mkd->qmk", Qs[idx], cents)  # (b, m, ksub)
                c = codes[cand_t[idx]]  # (b, candidates, m)
                student = tables[torch.arange(len(idx))[:, None, None], sub[None, None, :], c].sum(-1)
                loss = torch.nn.functional.kl_div(
                    torch.log_softmax(student / temperature, dim=1),
                    torch.log_softmax(teacher[idx], dim=1), log_target=True, reduction="batchmean")
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.centroids = cents.detach().numpy().astype(np.float32)
        return self

    def _split(self, X: np.ndarray) -> np.ndarray:
        return X.reshape(len(X), self.m, -1)  # (n, m, dsub)

    def encode(self, X: object) -> np.ndarray:
        """Nearest-centroid ids, uint8 ``(n, m)``."""
        self._check_fitted()
        sub = self._split(_as_matrix(X, "vectors", self.dim))
        cents = self.centroids
        codes = np.empty((len(sub), self.m), dtype=np.uint8)
        for j in range(self.m):  # squared L2 to every centroid: ||c||^2 - 2 x.c (||x||^2 is constant)
            dist = (cents[j] ** 2).sum(axis=1)[None, :] - 2.0 * sub[:, j] @ cents[j].T  # type: ignore[index]
            codes[:, j] = dist.argmin(axis=1)
        return codes

    def _check_codes(self, codes: object) -> np.ndarray:
        arr = np.asarray(codes)
        if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != self.m:
            raise InvalidInputError(f"codes must be uint8 of shape (n, {self.m}) from this "
                                    f"quantizer's encode(), got {arr.dtype} {arr.shape}.")
        return arr

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reconstructed vectors (concatenated centroids), float32 ``(n, dim)``."""
        self._check_fitted()
        codes = self._check_codes(codes)
        parts = self.centroids[np.arange(self.m)[None, :], codes]  # type: ignore[index]
        return parts.reshape(len(codes), self.dim)

    def distance_tables(self, queries: object) -> np.ndarray:
        """ADC tables: per query, subspace and centroid, the score contribution, (nq, m, ksub)."""
        self._check_fitted()
        Q = self._split(_as_matrix(queries, "queries", self.dim))
        ip = np.einsum("qmd,mkd->qmk", Q, self.centroids)
        if self.metric == "ip":
            return ip
        # -(||q||^2 - 2 q.c + ||c||^2) per subspace: sums to the negated squared distance
        return 2 * ip - (Q ** 2).sum(axis=2)[:, :, None] - (self.centroids ** 2).sum(axis=2)[None]  # type: ignore[operator]

    def scores(self, codes: np.ndarray, queries: object) -> np.ndarray:
        """ADC scores (n_queries, n), higher is better."""
        codes = self._check_codes(codes)
        tables = self.distance_tables(queries).reshape(-1, self.m * self.ksub)  # (nq, m * ksub)
        # Each code row selects one table column per subspace: a sparse (n, m * ksub) one-hot
        # matrix times the tables sums all m look-ups of all codes for all queries at once.
        cols = (np.arange(self.m) * self.ksub + codes).ravel()
        rows = np.repeat(np.arange(len(codes)), self.m)
        onehot = scipy.sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)),
                                         shape=(len(codes), self.m * self.ksub))
        return np.ascontiguousarray((onehot @ tables.T.astype(np.float32)).T)

    def search(self, codes: np.ndarray, queries: object, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` codes per query by ADC, best first: ``(scores, indices)``."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"k must be a positive int, got {k!r}.")
        return topk(self.scores(codes, queries), int(k))

    def fingerprint(self) -> str:
        """JSON naming these codebooks (config + hash), stored with a collection's code field."""
        self._check_fitted()
        digest = hashlib.sha256(self.centroids.tobytes()).hexdigest()[:16]  # type: ignore[union-attr]
        return json.dumps({"format": _FORMAT, "m": self.m, "nbits": self.nbits, "metric": self.metric,
                           "dim": self.dim, "sha256": digest}, sort_keys=True)

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the codebooks as ``.npz`` + JSON config (no pickle)."""
        self._check_fitted()
        save_npz(path, {"format": _FORMAT, "m": self.m, "nbits": self.nbits,
                        "metric": self.metric, "seed": self.seed},
                 centroids=self.centroids)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> "ProductQuantizer":
        cfg, arrays = load_npz(path, _FORMAT)
        pq = cls(cfg["m"], cfg["nbits"], metric=cfg["metric"], seed=cfg["seed"])
        pq.centroids = arrays["centroids"]
        return pq

    def __repr__(self) -> str:
        return f"ProductQuantizer(m={self.m}, nbits={self.nbits}, metric={self.metric!r})"


__all__ = ["ProductQuantizer"]
