"""Hybrid retrieval quality and latency on a BEIR folder, both engines (default: SciFact train).

    vectorbridge bench hybrid DATA [--queries 300]
        [--engines qdrant-edge,milvus-lite-file] [--tune] [--out DIR]

Two parts:

1. Reference over ALL queries, in numpy: dense and BM25 top-``depth`` per query, fused
   client-side with :func:`vectorbridge.connectors.fusion.fuse` (the formulas the engines use;
   tests/test_hybrid.py checks engine = reference), and MaxSim reranking of the fused top
   ``rerank_k`` over cached TokenEncoder vectors. ``--tune`` prints the grid the retriever's
   defaults were chosen from (train split only).
2. The real path on a fixed random subset of ``--queries`` queries (seed 0): the corpus stored
   in each ``--engines`` entry of the registry (:data:`vectorbridge.connectors.ENGINES`; BM25
   with the engine's IDF where it has one, else client IDF), queried through
   :class:`HybridRetriever.invoke` with engine-side fusion. Query vectors come from an
   on-disk cache, so latency is the database path plus BM25 query encoding (and the
   reranker's matmuls), never the dense model. The table goes to ``--out``.

Dense and token embeddings come from the caches every study shares (``--cache``, keyed by
model + text hash).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from vectorbridge.bench.data import CachedTokens, embeddings_for, sparse_matrices
from vectorbridge.bench.pipelines import open_engine
from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, engine_names, \
    load_corpus, store_corpus, table, token_embeddings, write_report
from vectorbridge.connectors.fusion import Fusion, fuse
from vectorbridge.encoders import BM25Encoder
from vectorbridge.metrics import ndcg_at_k, recall_at_k
from vectorbridge.retrievers import HybridRetriever, MaxSimReranker, Rerank


#: How the MaxSim stage blends with the hybrid order (tuned on SciFact train with --tune).
BLEND = Fusion("rrf", 5, (2.0, 1.0))
#: The RRF k of the reference's default row: the retriever's flat ``rrf_k`` default (a
#: literal, since the retriever no longer has it as a field to read).
RRF_K = 2


def top(scores: np.ndarray, ids: list[str], k: int) -> list[tuple[str, float]]:
    idx = np.argpartition(-scores, k)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [(ids[i], float(scores[i])) for i in idx if scores[i] > -np.inf]


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--queries", type=int, default=300, help="queries for the engine runs")
    ap.add_argument("--engines", default="qdrant-edge,milvus-lite-file",
                    help="comma list of registry names (vectorbridge.connectors.ENGINES)")
    ap.add_argument("--depth", type=int, default=100, help="candidates per branch")
    ap.add_argument("--rerank-k", type=int, default=100)
    ap.add_argument("--tune", action="store_true", help="print the fusion grid (reference)")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)

    c = load_corpus(args)
    ds, texts, qids, qtexts = c.ds, c.texts, c.qids, c.qtexts
    D, Q = dense_embeddings(c)
    doc_tokens, q_tokens = token_embeddings(c)

    # -- 1. reference over all queries ------------------------------------------------------
    bm25 = BM25Encoder(idf="client").fit(texts)
    doc_sp = bm25.encode_documents(texts)
    qm, dm = sparse_matrices(bm25.encode_queries(qtexts), doc_sp)
    S = (qm @ dm.T).toarray()
    S[S <= 0] = -np.inf  # documents without a query term are not BM25 candidates
    dense_runs = [top(Q[i] @ D.T, ds.doc_ids, args.depth) for i in range(len(qids))]
    bm25_runs = [top(S[i], ds.doc_ids, args.depth) for i in range(len(qids))]
    pos = {d: i for i, d in enumerate(ds.doc_ids)}

    def evaluate(runs: list[list[str]], subset: Sequence[int] | None = None) -> tuple[float, float]:
        sel = range(len(qids)) if subset is None else subset
        run = {qids[i]: runs[i] for i in sel}
        qrels = {q: ds.qrels[q] for q in run}
        return ndcg_at_k(run, qrels, 10), recall_at_k(run, qrels, 100)

    def fused(fusion: Fusion, limit: int = 100) -> list[list[str]]:
        return [[d for d, _ in fuse([dr, br], fusion, limit, cosine=[True, False])]
                for dr, br in zip(dense_runs, bm25_runs)]

    def maxsim_rerank(first: list[list[str]], n: int, blend: Fusion | None = BLEND) -> list[list[str]]:
        out = []
        for i, cand in enumerate(first):
            cand = cand[:n]
            s = [float((q_tokens[i] @ doc_tokens[pos[d]].T).max(axis=1).sum()) for d in cand]
            order = np.argsort(-np.array(s), kind="stable")
            if blend is not None:
                order = [int(j) for j, _ in fuse([[(f"{j:09d}", 0.0) for j in range(len(cand))],
                                                  [(f"{j:09d}", 0.0) for j in order]], blend, len(cand))]
            out.append([cand[j] for j in order] + first[i][n:])
        return out

    ref: dict[str, list[list[str]]] = {
        "dense": [[d for d, _ in r] for r in dense_runs],
        "BM25": [[d for d, _ in r] for r in bm25_runs],
        "hybrid RRF (k=60)": fused(Fusion("rrf", 60)),
        "hybrid RRF k=2": fused(Fusion("rrf", RRF_K)),
        "hybrid DBSF": fused(Fusion("dbsf")),
        "hybrid weighted (0.5, 0.5)": fused(Fusion("weighted", weights=(0.5, 0.5))),
    }
    default_rrf = Fusion("rrf", RRF_K)
    ref[f"hybrid RRF + MaxSim rerank top {args.rerank_k}"] = maxsim_rerank(fused(default_rrf), args.rerank_k)
    ref["hybrid RRF + MaxSim, replacing the order"] = maxsim_rerank(fused(default_rrf), args.rerank_k, None)
    three_way = []  # HybridRetriever(stages=[MaxSim(..., mode="fuse")]): MaxSim ranks the union
    for i, (dr, br) in enumerate(zip(dense_runs, bm25_runs)):
        union = list(dict.fromkeys(d for d, _ in dr + br))
        exact = sorted(((d, float((q_tokens[i] @ doc_tokens[pos[d]].T).max(axis=1).sum()))
                        for d in union), key=lambda t: -t[1])[: args.rerank_k]
        three_way.append([d for d, _ in fuse([dr, br, exact], default_rrf, 100)])
    ref["hybrid RRF + MaxSim as a third branch"] = three_way
    print(f"\nReference (numpy, client-side fusion), all {len(qids)} queries, depth {args.depth}:")
    print(f"{'pipeline':44s} nDCG@10  recall@100")
    for name, runs in ref.items():
        n10, r100 = evaluate(runs)
        print(f"{name:44s} {n10:.4f}   {r100:.4f}")

    if args.tune:
        print("\nFusion grid (reference, all queries): nDCG@10")
        for k in (1, 2, 5, 10, 20, 60):
            for w in ((1.0, 1.0), (1.0, 0.7), (0.7, 1.0)):
                print(f"  RRF k={k:<3d} weights={w}: {evaluate(fused(Fusion('rrf', k, w)))[0]:.4f}")
        for w in ((0.5, 0.5), (0.7, 0.3), (0.3, 0.7)):
            print(f"  weighted {w}: {evaluate(fused(Fusion('weighted', weights=w)))[0]:.4f}")
        for n in (20, 50, 100):
            for blend in (None, Fusion("rrf", 2), Fusion("rrf", 5, (2.0, 1.0)), Fusion("rrf", 10, (2.0, 1.0))):
                print(f"  RRF(default) + MaxSim top {n} blend {blend}: "
                      f"{evaluate(maxsim_rerank(fused(default_rrf), n, blend))[0]:.4f}")

    # -- 2. the engines, through HybridRetriever ---------------------------------------------
    subset = sorted(random.Random(0).sample(range(len(qids)), min(args.queries, len(qids))))
    emb = embeddings_for(texts, D, qtexts, Q)
    reranker = MaxSimReranker(CachedTokens(dict(zip(texts, doc_tokens)), dict(zip(qtexts, q_tokens))),
                              blend=BLEND)
    rows = []
    work, servers = Path(tempfile.mkdtemp(prefix="vb-hybrid-")), []
    try:
        for engine in engine_names(args.engines):
            conn = open_engine(engine, work, servers)
            t = time.perf_counter()
            sparse_enc = store_corpus(conn, c, D)
            print(f"\n{conn.engine}: ingested {len(texts)} docs in {time.perf_counter() - t:.1f}s")
            base = dict(connector=conn, collection="beir", k=100, prefetch_k=args.depth)
            pipelines = {
                "dense": HybridRetriever(dense=emb, **base),
                "BM25": HybridRetriever(sparse=sparse_enc, **base),
                "hybrid RRF": HybridRetriever(dense=emb, sparse=sparse_enc, fusion="rrf", **base),
                "hybrid DBSF": HybridRetriever(dense=emb, sparse=sparse_enc, fusion="dbsf", **base),
                "hybrid weighted (0.5, 0.5)": HybridRetriever(dense=emb, sparse=sparse_enc,
                                                              fusion="weighted", **base),
                f"hybrid RRF + MaxSim rerank top {args.rerank_k}": HybridRetriever(
                    dense=emb, sparse=sparse_enc, stages=[Rerank(reranker, k=args.rerank_k)],
                    fusion="rrf", **base),
            }
            for name, retriever in pipelines.items():
                runs: list[list[str]] = [[] for _ in qids]
                lat = []
                for i in subset:
                    t = time.perf_counter()
                    docs = retriever.invoke(qtexts[i])
                    lat.append(time.perf_counter() - t)
                    runs[i] = [d.id for d in docs]
                n10, r100 = evaluate(runs, subset)
                rn10, _ = evaluate(ref[name] if name in ref else ref["dense"], subset)
                p50 = statistics.median(lat) * 1000
                rows.append((conn.engine, name, f"{n10:.3f}", f"{r100:.3f}", f"{rn10:.3f}",
                             f"{p50:.1f}"))
                print(f"  {name:44s} nDCG@10 {n10:.4f} recall@100 {r100:.4f} "
                      f"(reference on the subset {rn10:.4f}) p50 {p50:.1f} ms", flush=True)
            conn.close()
    finally:
        for s in servers:
            s.stop()
    lines = [f"# Hybrid retrieval on {Path(args.data).name} {args.split}", "",
             f"{len(texts)} docs; {len(subset)} of {len(qids)} queries (seed 0) on the engines, "
             f"depth {args.depth}; the reference is numpy on the same queries.", ""]
    lines += table(("engine", "pipeline", "nDCG@10", "recall@100", "reference nDCG@10", "p50 ms"),
                   rows)
    print("\n" + "\n".join(lines[4:]))
    write_report(Path(args.out) / f"hybrid_{Path(args.data).name}_{args.split}.md", lines)
