"""``vectorbridge bench DATA --fusion-grid``: which fusion should be the default, measured.

Every fusion setting (kind, RRF k, branch depth) is run over the same exact branch rankings:
dense cosine over the cached vectors and BM25 (client IDF) over the whole corpus, each cut at
``depth`` and fused by :func:`vectorbridge.connectors.fusion.fuse`, the reference the engines'
native fusion is tested against (tests/test_hybrid.py). Each setting's per-query nDCG@10 is
compared with the current default's by a paired bootstrap (95 % interval of the mean
difference, fixed seed). An engine's default can only be a fusion it runs natively
(:data:`NATIVE`): the others fuse client-side, one request per branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vectorbridge.connectors.fusion import Fusion, fuse
from vectorbridge.metrics import query_ndcg

#: Fusion kinds each engine family runs in the engine (the rest fuse client-side).
NATIVE = {"qdrant": ("rrf", "dbsf"), "milvus": ("rrf", "weighted")}
RRF_KS = (1, 2, 5, 10, 20, 60)
DEPTHS = (50, 100, 200)


@dataclass(frozen=True)
class Setting:
    kind: str
    rrf_k: int | None
    depth: int

    @property
    def label(self) -> str:
        k = f" k={self.rrf_k}" if self.rrf_k is not None else ""
        return f"{self.kind}{k}, depth {self.depth}"


@dataclass(frozen=True)
class GridRow:
    setting: Setting
    ndcg: float
    delta: float
    low: float
    high: float


def settings(depths: Sequence[int] = DEPTHS) -> list[Setting]:
    out = []
    for depth in depths:
        out += [Setting("rrf", k, depth) for k in RRF_KS]
        out += [Setting("dbsf", None, depth), Setting("weighted", None, depth)]
    return out


def ndcg_per_query(ranked: Sequence[Sequence[str]], qrels: Sequence[dict[str, int]],
                   k: int = 10) -> np.ndarray:
    """nDCG@k of each query, in order."""
    return np.array([query_ndcg(run, rel, k) for run, rel in zip(ranked, qrels)])


def paired_ci(diff: np.ndarray, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the mean of per-query differences."""
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (resamples, len(diff)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def branch_rankings(dense_docs: np.ndarray, dense_queries: np.ndarray, texts: Sequence[str],
                    qtexts: Sequence[str], doc_ids: Sequence[str], depth: int) -> list[Any]:
    """Per query, the dense and BM25 top ``depth`` as ``(id, score)`` lists (exact search;
    equal scores in id order, the connectors' rule)."""
    from vectorbridge.bench.data import sparse_matrices
    from vectorbridge.encoders import BM25Encoder

    bm25 = BM25Encoder(idf="client").fit(list(texts))
    qm, dm = sparse_matrices(bm25.encode_queries(list(qtexts)), bm25.encode_documents(list(texts)))
    sparse_scores = (qm @ dm.T).toarray()
    d = dense_docs / np.linalg.norm(dense_docs, axis=1, keepdims=True)
    q = dense_queries / np.linalg.norm(dense_queries, axis=1, keepdims=True)
    dense_scores = q @ d.T
    ids = np.asarray(doc_ids)
    id_rank = np.empty(len(ids), np.int64)
    id_rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))

    def top(scores: np.ndarray, positive_only: bool) -> list[tuple[str, float]]:
        idx = np.lexsort((id_rank, -scores))[:depth]  # by score, then id (last key first)
        if positive_only:  # a BM25 branch holds only documents sharing a term
            idx = idx[scores[idx] > 0]
        return [(str(ids[i]), float(scores[i])) for i in idx]

    return [(top(dense_scores[i], False), top(sparse_scores[i], True))
            for i in range(len(qtexts))]


def grid(dense_docs: np.ndarray, dense_queries: np.ndarray, texts: Sequence[str],
         qtexts: Sequence[str], doc_ids: Sequence[str], qrels: Sequence[dict[str, int]],
         baseline: Setting = Setting("rrf", 2, 100),
         depths: Sequence[int] = DEPTHS) -> list[GridRow]:
    """nDCG@10 of every setting and its paired difference to ``baseline``."""
    branches = {d: branch_rankings(dense_docs, dense_queries, texts, qtexts, doc_ids, d)
                for d in sorted(set(depths) | {baseline.depth})}
    per_query: dict[Setting, np.ndarray] = {}
    for s in [baseline, *settings(depths)]:
        if s in per_query:
            continue
        fusion = Fusion(s.kind, s.rrf_k or 60)  # type: ignore[arg-type]
        ranked = [[d for d, _ in fuse([dense, sparse], fusion, 10, cosine=[True, False])]
                  for dense, sparse in branches[s.depth]]
        per_query[s] = ndcg_per_query(ranked, qrels)
    base = per_query[baseline]
    rows = []
    for s, v in per_query.items():
        lo, hi = paired_ci(v - base)
        rows.append(GridRow(s, float(v.mean()), float((v - base).mean()), lo, hi))
    return sorted(rows, key=lambda r: -r.ndcg)


def choose(rows: Sequence[GridRow], engine: str) -> GridRow:
    """The best setting the engine runs natively."""
    return next(r for r in rows if r.setting.kind in NATIVE[engine])


def report(rows: Sequence[GridRow], meta: dict[str, Any]) -> list[str]:
    lines = [f"# Fusion defaults on {meta['data']} {meta['split']}", "",
             f"Command: `{meta['command']}`; {meta['docs']:,} docs, {meta['queries']} queries, "
             f"model {meta['model']}. Exact dense and BM25 (client IDF) rankings, fused by the "
             "reference `fuse()`; paired bootstrap 95 % CI (10,000 resamples) of the per-query "
             f"nDCG@10 difference to {meta['baseline']}.", ""]
    for engine in NATIVE:
        best = choose(rows, engine)
        lines.append(f"- **{engine}** (native: {', '.join(NATIVE[engine])}): best "
                     f"{best.setting.label}, nDCG@10 {best.ndcg:.4f}, "
                     f"{best.delta:+.4f} [{best.low:+.4f}, {best.high:+.4f}]")
    lines += ["", "| setting | nDCG@10 | difference | 95 % CI |", "|---|---|---|---|"]
    lines += [f"| {r.setting.label} | {r.ndcg:.4f} | {r.delta:+.4f} | [{r.low:+.4f}, {r.high:+.4f}] |"
              for r in rows]
    return lines


__all__ = ["NATIVE", "Setting", "GridRow", "grid", "choose", "report", "ndcg_per_query",
           "paired_ci", "branch_rankings"]
