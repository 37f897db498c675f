"""QueryAdapter on a BEIR folder: cross-validated, through HybridRetriever on Qdrant Edge,
against the same retrievers without it in the same run.

    vectorbridge bench query-adapter DATA [--ranks 8,32,64] [--folds 5] [--out DIR]

The corpus (cached all-MiniLM-L6-v2 vectors + BM25 with the engine's IDF) goes into Qdrant
Edge once, searched exactly (no HNSW graph), so differences are the adapter's. The queries
are cut in ``--folds`` folds (seed 0); for each fold an adapter is trained on the other
folds' (query, relevant document) pairs against the stored document vectors, and the fold's
queries run through ``HybridRetriever(stages=[AdaptQuery(...)])``, dense alone and hybrid (the
connector's default fusion), so every query is scored held out. Per rank: the linear
adapter, and at the middle rank the one-hidden-layer variant.

Two splits, because SciFact's claims often share their evidence: in the **query** split a
held-out query's relevant document may be a training query's too (the adapter has seen
that document pulled closer: the situation of a deployed system with a query log); the
**document-disjoint** split drops every training pair whose document is relevant to a
held-out query, so only what transfers to unseen documents counts.

Reports nDCG@10 with the mean paired difference to the unadapted retriever and its bootstrap
95 % interval, training seconds per fold on this machine, and the added p50 query latency.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vectorbridge.bench.data import embeddings_for
from vectorbridge.bench.fusion import paired_ci
from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, \
    write_report
from vectorbridge.connectors import QdrantConnector
from vectorbridge.connectors.qdrant.edge import EdgeClient
from vectorbridge.encoders import BM25Encoder, QueryAdapter
from vectorbridge.metrics import query_ndcg
from vectorbridge.retrievers import AdaptQuery, HybridRetriever

K = 10


def pairs(c: Any, rows: np.ndarray, exclude: set[str] = frozenset()) -> tuple[list[int], list[int]]:
    """(query row, document row) for every relevant document of the queries ``rows``."""
    doc_row = {d: i for i, d in enumerate(c.ds.doc_ids)}
    q_rows, d_rows = [], []
    for i in rows:
        for doc, rel in c.ds.qrels[c.qids[i]].items():
            if rel > 0 and doc in doc_row and doc not in exclude:
                q_rows.append(int(i))
                d_rows.append(doc_row[doc])
    return q_rows, d_rows


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--ranks", default="8,32,64")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, Q = dense_embeddings(c)
    emb = embeddings_for(c.texts, D, c.qtexts, Q)
    conn = QdrantConnector(client=EdgeClient(tempfile.mkdtemp(prefix="vb-adapter-"),
                                             index_threshold_kb=10 ** 9))
    HybridRetriever.from_texts(c.texts, ids=c.ds.doc_ids, connector=conn, collection="beir",
                               dense=emb, sparse=BM25Encoder())
    retrievers = {"dense": dict(dense=emb), "hybrid": dict(dense=emb, sparse=BM25Encoder())}
    base = dict(connector=conn, collection="beir", k=K)

    def ndcgs(r: HybridRetriever, rows: np.ndarray, lat: list[float]) -> np.ndarray:
        out = []
        for i in rows:
            t = time.perf_counter()
            ranked = [d.id for d in r.invoke(c.qtexts[i])]
            lat.append(time.perf_counter() - t)
            out.append(query_ndcg(ranked, c.ds.qrels[c.qids[i]], 10))
        return np.array(out)

    everyone = np.arange(len(c.qids))
    plain = {name: HybridRetriever(**base, **kw) for name, kw in retrievers.items()}
    plain_lat: dict[str, list[float]] = {name: [] for name in retrievers}
    plain_scores = {name: ndcgs(r, everyone, plain_lat[name]) for name, r in plain.items()}
    folds = np.random.default_rng(0).permutation(len(c.qids)) % args.folds
    ranks = [int(x) for x in args.ranks.split(",")]
    configs = [(r, False) for r in ranks] + [(ranks[len(ranks) // 2], True)]
    rows = []
    for split in ("query", "document-disjoint"):
        for rank, hidden in configs:
            scores = {name: np.zeros(len(c.qids)) for name in retrievers}
            lat: dict[str, list[float]] = {name: [] for name in retrievers}
            train_s, n_pairs = [], []
            for f in range(args.folds):
                test, train = np.flatnonzero(folds == f), np.flatnonzero(folds != f)
                held = {d for i in test for d, rel in c.ds.qrels[c.qids[i]].items() if rel > 0}
                q_rows, d_rows = pairs(c, train, held if split == "document-disjoint" else set())
                t = time.perf_counter()
                adapter = QueryAdapter(rank, hidden=hidden, epochs=args.epochs).fit(
                    Q[q_rows], D[d_rows], D)
                train_s.append(time.perf_counter() - t)
                n_pairs.append(len(q_rows))
                for name, kw in retrievers.items():
                    r = HybridRetriever(**base, **kw, stages=[AdaptQuery(adapter)])
                    scores[name][test] = ndcgs(r, test, lat[name])
            label = f"{split} split, rank {rank}{' + hidden layer' if hidden else ''}"
            row = [label, statistics.mean(n_pairs), statistics.mean(train_s)]
            for name in retrievers:
                diff = scores[name] - plain_scores[name]
                lo, hi = paired_ci(diff)
                added = (statistics.median(lat[name]) - statistics.median(plain_lat[name])) * 1000
                row += [scores[name].mean(), diff.mean(), lo, hi, added]
            rows.append(row)
            print(f"  {label:42s} pairs {row[1]:.0f} train {row[2]:.1f} s  dense {row[3]:.4f} "
                  f"({row[4]:+.4f} [{row[5]:+.4f}, {row[6]:+.4f}])  hybrid {row[8]:.4f} "
                  f"({row[9]:+.4f} [{row[10]:+.4f}, {row[11]:+.4f}])", flush=True)
    q = Q[:1]
    n = min(50, len(Q), len(D) - 1)
    adapter = QueryAdapter(ranks[-1], epochs=1, hard_negatives=0).fit(Q[:n], D[:n], D)
    t = time.perf_counter()
    for _ in range(1000):
        adapter.transform(q)
    transform_us = (time.perf_counter() - t) * 1000
    conn.close()
    lines = [f"# Query adapter (QueryAdapter) on {Path(args.data).name} {args.split}", "",
             f"Command: `vectorbridge bench query-adapter DATA --ranks {args.ranks} --folds "
             f"{args.folds} --epochs {args.epochs}`; {len(c.texts)} docs, {len(c.qids)} queries, "
             f"{args.folds}-fold cross-validation (seed 0), Qdrant Edge exact search, "
             f"HybridRetriever(k={K}). Without the adapter: dense nDCG@10 "
             f"{plain_scores['dense'].mean():.4f} (p50 {statistics.median(plain_lat['dense']) * 1000:.2f} ms), "
             f"hybrid {plain_scores['hybrid'].mean():.4f} "
             f"(p50 {statistics.median(plain_lat['hybrid']) * 1000:.2f} ms). One transform() "
             f"of a query at rank {ranks[-1]}: {transform_us:.0f} µs.", "",
             "| adapter | training pairs per fold | train s per fold | dense nDCG@10 | "
             "Δ dense [95 % CI] | added dense p50 ms | hybrid nDCG@10 | Δ hybrid [95 % CI] | "
             "added hybrid p50 ms |", "|---|---|---|---|---|---|---|---|---|"]
    for label, n, t, dn, dd, dlo, dhi, dlat, hn, hd, hlo, hhi, hlat in rows:
        lines.append(f"| {label} | {n:.0f} | {t:.1f} | {dn:.4f} | {dd:+.4f} [{dlo:+.4f}, {dhi:+.4f}] "
                     f"| {dlat:+.2f} | {hn:.4f} | {hd:+.4f} [{hlo:+.4f}, {hhi:+.4f}] | {hlat:+.2f} |")
    write_report(Path(args.out) / f"query_adapter_{Path(args.data).name}_{args.split}.md", lines)
