"""A query-side adapter trained against a fixed document index (Adapted Dense Retrieval, ADORE).

Re-encoding a corpus to adapt a model to a domain is the expensive half, and impossible with
an API-only model whose weights nobody has. The other half is cheap: keep every stored
document vector as it is and learn a small map on the query embedding so that queries land
nearer their relevant documents. ADORE (Zhan et al., 2021) trains the query side against the
*fixed* index with negatives mined from that index by the current query encoder; Adapted
Dense Retrieval (Khatry et al., 2023) shows a low-rank residual on the embedding is enough.

:class:`QueryAdapter` is that residual: ``q' = q + U f(V q)``, ``V`` projecting to ``rank``
dimensions, ``f`` the identity (low-rank linear) or a ReLU with a bias (``hidden=True``, one
hidden layer), ``U`` zero at the start so training begins at the unadapted model. The loss
is InfoNCE over each (query, relevant document) pair against the other pairs' documents in
the batch and the ``hard_negatives`` highest-scoring non-relevant documents of the index,
re-mined with the adapted queries after every epoch. The output keeps each query's norm, so
cosine, dot-product and Euclidean collections all see a query of the scale they expect.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vectorbridge.encoders._codes import _as_matrix, load_npz, save_npz, topk, unit
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import need

_FORMAT = "vectorbridge.query_adapter/1"
#: Rows scored at once while mining negatives (bounds memory on large indexes).
_MINE_ROWS = 256


class QueryAdapter:
    """A residual low-rank map on query embeddings, trained against stored document vectors.

    Args:
        rank: Width of the low-rank bottleneck.
        hidden: One hidden layer (ReLU + bias in the bottleneck) instead of a linear map.
        epochs: Passes over the training pairs.
        lr: Adam learning rate.
        batch_size: Pairs per step (the in-batch negatives).
        temperature: Softmax temperature of the cosine scores.
        hard_negatives: Non-relevant documents per pair mined from the index per epoch.
        weight_decay: L2 penalty on the adapter's weights (keeps it near the identity).
        seed: Seeds initialisation and batch order: the same data gives the same adapter.

    Examples:
        >>> adapter = QueryAdapter(rank=32).fit(Q_train, D[pos_rows], D)   # doctest: +SKIP
        >>> Qa = adapter.transform(Q)                                       # doctest: +SKIP
    """

    def __init__(self, rank: int = 32, *, hidden: bool = False, epochs: int = 10,
                 lr: float = 1e-3, batch_size: int = 64, temperature: float = 0.05,
                 hard_negatives: int = 16, weight_decay: float = 1e-4, seed: int = 0) -> None:
        for name, v in (("rank", rank), ("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {v!r}.")
        if isinstance(hard_negatives, bool) or not isinstance(hard_negatives, int) or hard_negatives < 0:
            raise InvalidInputError(f"hard_negatives must be an int >= 0, got {hard_negatives!r}.")
        for name, v in (("lr", lr), ("temperature", temperature)):
            if isinstance(v, bool) or not float(v) > 0:
                raise InvalidInputError(f"{name} must be a positive number, got {v!r}.")
        if isinstance(weight_decay, bool) or not float(weight_decay) >= 0:
            raise InvalidInputError(f"weight_decay must be a number >= 0, got {weight_decay!r}.")
        self.rank, self.hidden, self.epochs, self.lr = rank, bool(hidden), epochs, float(lr)
        self.batch_size, self.temperature = batch_size, float(temperature)
        self.hard_negatives, self.weight_decay, self.seed = hard_negatives, float(weight_decay), seed
        self.down: np.ndarray | None = None  # (dim, rank)
        self.bias: np.ndarray | None = None  # (rank,), hidden only
        self.up: np.ndarray | None = None  # (rank, dim)
        self.losses: list[float] = []  # mean training loss per epoch

    @property
    def dim(self) -> int:
        self._check_fitted()
        return int(self.down.shape[0])  # type: ignore[union-attr]

    # -- training -------------------------------------------------------------------------
    def fit(self, query_vectors: object, positive_doc_vectors: object,
            doc_vectors: object) -> "QueryAdapter":
        """Train on pairs: row ``i`` of ``query_vectors`` is a query whose relevant document
        is row ``i`` of ``positive_doc_vectors`` (repeat a query once per relevant document);
        ``doc_vectors`` are the stored documents negatives are mined from (the collection, or
        a sample of it). A query's other relevant documents are never its negatives."""
        torch = need("torch", "encoders", "QueryAdapter")

        Q = unit(_as_matrix(query_vectors, "query_vectors"))
        P = unit(_as_matrix(positive_doc_vectors, "positive_doc_vectors", Q.shape[1]))
        D = unit(_as_matrix(doc_vectors, "doc_vectors", Q.shape[1]))
        if len(P) != len(Q) or not len(Q):
            raise InvalidInputError(f"query_vectors ({len(Q)}) and positive_doc_vectors "
                                    f"({len(P)}) must be non-empty and pair up row by row.")
        query_of = _query_ids(Q)  # pairs of the same query share an id
        pos_rows = _rows_in(P, D)  # each positive's row in D (-1: not in the index)
        relevant = _relevant_sets(query_of, pos_rows)
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        dim = Q.shape[1]
        down = torch.nn.Parameter(torch.randn(dim, self.rank, generator=gen) / np.sqrt(dim))
        up = torch.nn.Parameter(torch.zeros(self.rank, dim))  # starts at the identity map
        bias = torch.nn.Parameter(torch.zeros(self.rank)) if self.hidden else None
        params = [down, up] + ([bias] if bias is not None else [])
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        tq, tp, td = (torch.from_numpy(a) for a in (Q, P, D))
        qid = torch.from_numpy(query_of)
        rng = np.random.default_rng(self.seed)
        self.losses = []
        for _ in range(self.epochs):
            with torch.no_grad():
                adapted = _apply(tq, down, up, bias).numpy()
            negs = torch.from_numpy(_mine(adapted, D, relevant, query_of, self.hard_negatives))
            total, steps = 0.0, 0
            for batch in np.array_split(rng.permutation(len(Q)), max(1, len(Q) // self.batch_size)):
                b = torch.from_numpy(batch)
                q = torch.nn.functional.normalize(_apply(tq[b], down, up, bias), dim=1)
                logits = [q @ tp[b].T]  # (B, B): column j is pair j's document
                same = qid[b][:, None] == qid[b][None, :]
                diag = torch.eye(len(b), dtype=torch.bool)
                logits[0] = logits[0].masked_fill(same & ~diag, float("-inf"))
                if self.hard_negatives:
                    hn = td[negs[b]]  # (B, h, dim)
                    logits.append(torch.einsum("bd,bhd->bh", q, hn))
                scores = torch.cat(logits, dim=1) / self.temperature
                loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(b)))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total, steps = total + loss.item(), steps + 1
            self.losses.append(total / steps)
        self.down = down.detach().numpy().astype(np.float32)
        self.up = up.detach().numpy().astype(np.float32)
        self.bias = bias.detach().numpy().astype(np.float32) if bias is not None else None
        return self

    # -- use --------------------------------------------------------------------------------
    def transform(self, Q: object) -> np.ndarray:
        """Adapted query vectors: float32, the shape of ``Q``, each row with its input norm."""
        self._check_fitted()
        Q = _as_matrix(Q, "Q", self.dim)
        h = Q @ self.down
        if self.bias is not None:
            h = np.maximum(h + self.bias, 0.0)
        out = Q + h @ self.up
        scale = np.linalg.norm(Q, axis=1, keepdims=True) / \
            np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return (out * scale).astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Write the trained adapter as ``.npz`` + JSON config (no pickle)."""
        self._check_fitted()
        arrays = {"down": self.down, "up": self.up}
        if self.bias is not None:
            arrays["bias"] = self.bias
        save_npz(path, {"format": _FORMAT, "rank": self.rank, "hidden": self.hidden,
                        "losses": self.losses}, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> "QueryAdapter":
        cfg, arrays = load_npz(path, _FORMAT)
        a = cls(cfg["rank"], hidden=cfg["hidden"])
        a.down, a.up, a.bias = arrays["down"], arrays["up"], arrays.get("bias")
        a.losses = list(cfg.get("losses", []))
        return a

    def fingerprint(self) -> str:
        """JSON naming this adapter's configuration and input dimension."""
        return json.dumps({"format": _FORMAT, "rank": self.rank, "hidden": self.hidden,
                           "dim": self.dim}, sort_keys=True)

    def _check_fitted(self) -> None:
        if self.down is None:
            raise InvalidInputError("this QueryAdapter is not trained: call fit(...) or "
                                    "QueryAdapter.load(path) first.")

    def __repr__(self) -> str:
        return f"QueryAdapter(rank={self.rank}, hidden={self.hidden})"


def _apply(q, down, up, bias):
    torch = need("torch", "encoders", "QueryAdapter")

    h = q @ down
    if bias is not None:
        h = torch.relu(h + bias)
    return q + h @ up



def _query_ids(Q: np.ndarray) -> np.ndarray:
    """An id per row, equal for equal rows (pairs of one query)."""
    _, inverse = np.unique(Q, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _rows_in(P: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Each row of ``P``'s row in ``D`` (its nearest, if (near-)identical), else -1."""
    out = np.full(len(P), -1, np.int64)
    for s in range(0, len(P), _MINE_ROWS):
        sims = P[s:s + _MINE_ROWS] @ D.T
        best = sims.argmax(axis=1)
        out[s:s + _MINE_ROWS] = np.where(sims[np.arange(len(best)), best] > 1 - 1e-4, best, -1)
    return out


def _relevant_sets(query_of: np.ndarray, pos_rows: np.ndarray) -> dict[int, set[int]]:
    rel: dict[int, set[int]] = {}
    for q, r in zip(query_of.tolist(), pos_rows.tolist()):
        rel.setdefault(q, set())
        if r >= 0:
            rel[q].add(r)
    return rel


def _mine(Q: np.ndarray, D: np.ndarray, relevant: dict[int, set[int]], query_of: np.ndarray,
          n: int) -> np.ndarray:
    """The ``n`` best-scoring documents of each query that are not relevant to it."""
    if not n:
        return np.zeros((len(Q), 0), np.int64)
    if len(D) <= n:
        raise InvalidInputError(f"hard_negatives={n} needs more than {n} doc_vectors, got {len(D)}.")
    Qn = unit(Q)
    depth = min(len(D), n + max((len(s) for s in relevant.values()), default=0))
    out = np.empty((len(Q), n), np.int64)
    for s in range(0, len(Q), _MINE_ROWS):
        _, idx = topk(Qn[s:s + _MINE_ROWS] @ D.T, depth)
        for j, row in enumerate(idx):
            rel = relevant[int(query_of[s + j])]
            out[s + j] = [d for d in row.tolist() if d not in rel][:n]
    return out


__all__ = ["QueryAdapter"]
