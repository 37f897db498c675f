"""Calibrated relevance filtering: raw retrieval scores -> P(relevant), one global threshold.

Dense retrieval has no natural cutoff: a top-k returns k documents whether one or none is
relevant, and a raw cosine cutoff means something different for every query (a vague query's
best match scores lower than a precise query's tenth). "Relevance Filtering for
Embedding-based Retrieval" (Rossi et al., CIKM 2024, the "Cosine Adapter") maps raw scores
through a *query-dependent* monotone function whose parameters a small network predicts from
the query embedding, trained on relevance labels; one global threshold on the mapped scores
then keeps a different number of documents per query.

:class:`ScoreCalibrator` is that component: ``p = sigmoid(a(q) * z + b(q))`` with ``z`` the
raw score standardised over the training scores and ``a(q) = softplus(.) > 0``, so the map is
increasing in the score for every query (it filters, it never re-orders). The network's input
is the query embedding and, by default, the query's own top scores (``score_features``: the
first ``n`` raw scores of its ranking: how sharply the ranking falls is the strongest sign of
whether anything relevant is there; ``0`` is the paper's embedding-only input). Trained with
binary cross-entropy (torch, CPU, seconds) on the top-``depth`` candidates of labelled
queries; inference is numpy. Persisted as ``.npz`` + JSON, no pickle.

Measured on SciFact train with 5-fold cross-validation by ``vectorbridge bench calibration`` (docs: Benchmarks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vectorbridge.encoders._codes import load_npz, save_npz
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import need
from vectorbridge.options import checked_keywords

_FORMAT = "vectorbridge.calibrator/1"


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


class ScoreCalibrator:
    """A query-dependent monotone map from raw scores to calibrated relevance probabilities.

    Args:
        score_features: How many of the query's top raw scores join the embedding as input
            (0 = the embedding alone, as in the paper). The retriever fetches at least this
            many candidates to compute them.
        hidden: Width of the hidden layer.
        epochs: Full-batch Adam steps.
        lr: Adam learning rate.
        weight_decay: L2 on the network's weights (few labelled queries: keep it).
        seed: Initialisation seed.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> Q = rng.normal(size=(50, 8)).astype("float32")
        >>> S = np.sort(rng.uniform(size=(50, 20)), axis=1)[:, ::-1]
        >>> cal = ScoreCalibrator(epochs=50).fit(Q, S, S > 0.9)
        >>> cal.calibrate(Q[:2], S[:2]).shape
        (2, 20)
    """

    @checked_keywords
    def __init__(self, *, score_features: int = 5, hidden: int = 32, epochs: int = 300,
                 lr: float = 1e-2, weight_decay: float = 1e-3, seed: int = 0) -> None:
        if isinstance(score_features, bool) or not isinstance(score_features, int) or score_features < 0:
            raise InvalidInputError(f"score_features must be an int >= 0, got {score_features!r}.")
        for name, v in (("hidden", hidden), ("epochs", epochs)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {v!r}.")
        if not (lr > 0 and weight_decay >= 0):
            raise InvalidInputError(f"need lr > 0 and weight_decay >= 0, got {lr!r}, {weight_decay!r}.")
        self.score_features, self.hidden, self.epochs = score_features, hidden, epochs
        self.lr, self.weight_decay, self.seed = lr, weight_decay, seed
        self.params: dict[str, np.ndarray] | None = None
        self.train_loss: float | None = None  # the last fit's final BCE

    # -- inputs ---------------------------------------------------------------------------
    def _inputs(self, queries: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
        Q = np.asarray(queries, dtype=np.float32)
        S = np.asarray(scores, dtype=np.float32)
        if Q.ndim != 2 or S.ndim != 2 or len(Q) != len(S):
            raise InvalidInputError(f"queries must be (n, dim) and scores (n, candidates) with the "
                                    f"same n; got {Q.shape} and {S.shape}.")
        if not (np.isfinite(Q).all() and np.isfinite(S).all()):
            raise InvalidInputError("queries or scores contain NaN or inf.")
        if S.shape[1] < self.score_features:
            raise InvalidInputError(f"score_features={self.score_features} needs at least that many "
                                    f"candidate scores per query, got {S.shape[1]}.")
        return Q, S

    def _features(self, Q: np.ndarray, S: np.ndarray) -> np.ndarray:
        """Query embedding + its top ``score_features`` scores (sorted), standardised."""
        top = -np.sort(-S, axis=1)[:, : self.score_features]
        X = np.concatenate([Q, top], axis=1)
        if self.params is None:
            return X
        return (X - self.params["x_mean"]) / self.params["x_std"]

    # -- training -------------------------------------------------------------------------
    def fit(self, queries: object, scores: object, labels: object) -> "ScoreCalibrator":
        """Train on labelled candidates.

        Args:
            queries: Query embeddings, ``(n, dim)``.
            scores: Each query's raw scores of its top candidates, ``(n, candidates)``, in
                ranking order (the retriever's top-``depth``).
            labels: Whether each candidate is relevant (qrels), same shape as ``scores``.
        """
        torch = need("torch", "encoders", "ScoreCalibrator.fit")

        self.params = None  # a refit learns its normalisation afresh
        Q, S = self._inputs(queries, scores)
        Y = np.asarray(labels, dtype=np.float32)
        if Y.shape != S.shape:
            raise InvalidInputError(f"labels must match scores' shape {S.shape}, got {Y.shape}.")
        if not 0 < Y.sum() < Y.size:
            raise InvalidInputError("labels need both relevant and non-relevant candidates to "
                                    "learn a threshold from.")
        X = self._features(Q, S)
        x_mean, x_std = X.mean(axis=0), X.std(axis=0) + 1e-6
        s_mean, s_std = float(S.mean()), float(S.std() + 1e-6)
        torch.manual_seed(self.seed)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], self.hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(self.hidden, 2))
        x = torch.from_numpy((X - x_mean) / x_std)
        z = torch.from_numpy((S - s_mean) / s_std)
        y = torch.from_numpy(Y)
        pos = float(Y.mean())
        with torch.no_grad():  # start from a global Platt fit's neighbourhood: a ~ 1, b ~ logit(prior)
            net[2].bias.copy_(torch.tensor([0.5413, float(np.log(pos / (1 - pos)))]))
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(self.epochs):
            opt.zero_grad()
            out = net(x)
            logits = torch.nn.functional.softplus(out[:, :1]) * z + out[:, 1:]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
            loss.backward()
            opt.step()
        w = [p.detach().numpy().astype(np.float32) for p in net.parameters()]
        self.params = {"w1": w[0].T.copy(), "b1": w[1], "w2": w[2].T.copy(), "b2": w[3],
                       "x_mean": x_mean.astype(np.float32), "x_std": x_std.astype(np.float32),
                       "s_norm": np.array([s_mean, s_std], dtype=np.float32)}
        self.train_loss = float(loss.item())
        return self

    def _check_fitted(self) -> dict[str, np.ndarray]:
        if self.params is None:
            raise InvalidInputError("this ScoreCalibrator is not fitted: call fit(queries, scores, "
                                    "labels) on labelled queries first, or load() a saved one.")
        return self.params

    # -- inference ------------------------------------------------------------------------
    def mapping(self, queries: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
        """Each query's slope ``a > 0`` and intercept ``b`` (on standardised scores)."""
        p = self._check_fitted()
        Q, S = self._inputs(queries, scores)
        h = np.maximum(self._features(Q, S) @ p["w1"] + p["b1"], 0.0)
        out = h @ p["w2"] + p["b2"]
        return _softplus(out[:, 0]), out[:, 1]

    def calibrate(self, queries: object, scores: object) -> np.ndarray:
        """Calibrated relevance probabilities of ``scores`` (same shape), each query mapped by
        its own increasing function: the order within a query never changes."""
        p = self._check_fitted()
        a, b = self.mapping(queries, scores)
        z = (np.asarray(scores, dtype=np.float32) - p["s_norm"][0]) / p["s_norm"][1]
        return 1.0 / (1.0 + np.exp(-(a[:, None] * z + b[:, None])))

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the network and its normalisation as ``.npz`` + JSON config (no pickle)."""
        params = self._check_fitted()
        save_npz(path, {"format": _FORMAT, "score_features": self.score_features,
                        "hidden": self.hidden, "epochs": self.epochs, "lr": self.lr,
                        "weight_decay": self.weight_decay, "seed": self.seed}, **params)

    @classmethod
    def load(cls, path: str | Path) -> "ScoreCalibrator":
        cfg, arrays = load_npz(path, _FORMAT)
        cal = cls(score_features=cfg["score_features"], hidden=cfg["hidden"], epochs=cfg["epochs"],
                  lr=cfg["lr"], weight_decay=cfg["weight_decay"], seed=cfg["seed"])
        cal.params = arrays
        return cal

    def __repr__(self) -> str:
        state = "fitted" if self.params is not None else "not fitted"
        return f"ScoreCalibrator(score_features={self.score_features}, hidden={self.hidden}, {state})"


def relevance_labels(ranked: list[list[str]], qrels: list[dict[str, int]]) -> np.ndarray:
    """``labels`` for :meth:`ScoreCalibrator.fit`: whether each ranked id is relevant (> 0)."""
    return np.array([[qrels[i].get(d, 0) > 0 for d in row] for i, row in enumerate(ranked)])


__all__ = ["ScoreCalibrator", "relevance_labels"]
