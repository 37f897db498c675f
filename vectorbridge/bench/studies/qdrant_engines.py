"""Embedded Qdrant engines side by side on a BEIR folder (default SciFact train), one run:
Qdrant Edge (the real engine in-process, what ``QdrantConnector(path=...)`` uses) vs
qdrant-client's local mode (``":memory:"``, a Python emulation) through vectorbridge, and
langchain-qdrant's ``QdrantVectorStore`` on local mode (what it uses embedded).

    vectorbridge bench qdrant-engines DATA [--queries 300] [--repeat 2]
    (langchain-qdrant needs `pip install -e ".[bench]"`)

Everyone gets the same precomputed MiniLM vectors (an ``Embeddings`` serving the on-disk
cache) and the same BM25 vectors (vectorbridge's BM25Encoder; IDF applied by the engine,
``Modifier.IDF``, for all three), so only the database path is timed:

- ingest: documents/s to store dense + BM25 vectors and payloads (BM25 document encoding
  included, the same work for everyone);
- dense / BM25 / hybrid (RRF, k=2) per-query latency p50 / p95 and nDCG@10 on a fixed random
  subset of ``--queries`` queries (seed 0). vectorbridge's hybrid prefetches 100 per branch;
  langchain-qdrant's HYBRID mode prefetches k per branch (its design), so its quality is
  reported as it comes;
- "connector" rows time ``QdrantConnector.hybrid_search`` with vectors already encoded;
  "retriever" rows time ``HybridRetriever.invoke(text)`` (BM25 query encoding, Documents);
  "Edge API directly" times the same query written against ``qdrant_edge`` by hand, the
  floor any wrapper of the engine pays.

Latencies are per-query medians over ``--repeat`` passes; passes alternate between engines,
and within an engine each query runs on every searcher in turn, so machine noise hits the
rows of one engine alike (their per-query differences are paired).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from vectorbridge.bench.data import CachedEmbeddings
from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus
from vectorbridge.connectors import QdrantConnector
from vectorbridge.encoders import BM25Encoder
from vectorbridge.metrics import ndcg_at_k
from vectorbridge.retrievers import HybridRetriever

K = 10


def percentiles(lat: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    a = np.asarray(lat) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=2, help="timed passes over the queries")
    ap.add_argument("--out", default=None, help="also write the table to this Markdown file")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    ds, texts, qids, qtexts = c.ds, c.texts, c.qids, c.qtexts
    D, Q = dense_embeddings(c)
    emb = CachedEmbeddings({**dict(zip(texts, D)), **dict(zip(qtexts, Q))})
    subset = sorted(random.Random(0).sample(range(len(qids)), min(args.queries, len(qids))))
    sub_q = [qtexts[i] for i in subset]
    qrels = {qids[i]: ds.qrels[qids[i]] for i in subset}

    def ndcg(runs: list[list[str]]) -> float:
        return ndcg_at_k({qids[i]: r for i, r in zip(subset, runs)}, qrels, K)

    # -- build: one collection per engine, same vectors --------------------------------------
    searchers: dict[str, dict[str, Callable[[int], list[str]]]] = {}
    ingest: dict[str, float] = {}
    for label, make in (("vectorbridge + Qdrant Edge",
                         lambda: QdrantConnector(path=tempfile.mkdtemp(prefix="vb-edge-"))),
                        ("vectorbridge + qdrant-client local mode",
                         lambda: QdrantConnector(location=":memory:"))):
        conn = make()
        bm25 = BM25Encoder()  # engine IDF on both
        t = time.perf_counter()
        r = HybridRetriever.from_texts(texts, ids=ds.doc_ids, connector=conn, collection="sf",
                                       dense=emb, sparse=bm25, k=K, fusion="rrf")
        ingest[label] = len(texts) / (time.perf_counter() - t)
        dq = {q: Q[i] for q, i in zip(sub_q, subset)}
        sq = {q: bm25.encode_queries([q])[0] for q in sub_q}
        dense_r = HybridRetriever(connector=conn, collection="sf", dense=emb, k=K)
        sparse_r = HybridRetriever(connector=conn, collection="sf", sparse=bm25, k=K)
        fusion = r.fusion
        searchers[label] = {
            "dense (retriever)": lambda j, d=dense_r: [x.id for x in d.invoke(sub_q[j])],
            "BM25 (retriever)": lambda j, s=sparse_r: [x.id for x in s.invoke(sub_q[j])],
            "hybrid (retriever)": lambda j, h=r: [x.id for x in h.invoke(sub_q[j])],
            "hybrid (connector)": lambda j, c=conn, dq=dq, sq=sq: [h.id for h in c.hybrid_search(
                "sf", {"dense": dq[sub_q[j]], "sparse": sq[sub_q[j]]}, k=K, fusion=fusion,
                prefetch_k=100)],
        }
        if conn.edge:  # the engine alone: Edge's own request objects, no vectorbridge code
            import qdrant_edge as qe

            shard = conn.client._get("sf").shard  # noqa: SLF001 - measuring the engine itself

            def raw(j: int, shard: Any = shard, dq: Any = dq, sq: Any = sq) -> list[str]:
                d, s = dq[sub_q[j]], sq[sub_q[j]]
                points = shard.query(qe.QueryRequest(limit=K, query=qe.Fusion.Rrf(k=fusion.k), prefetches=[
                    qe.Prefetch(limit=100, query=qe.Query.Nearest(d.tolist(), using="dense")),
                    qe.Prefetch(limit=100, query=qe.Query.Nearest(
                        qe.SparseVector(s.indices.tolist(), s.values.tolist()), using="sparse"))],
                    with_payload=True))
                return [p.payload["_vb_id"] for p in points]

            searchers[label]["hybrid (Edge API directly)"] = raw
        print(f"{label}: ingest {ingest[label]:,.0f} docs/s", flush=True)
    try:
        from langchain_qdrant import QdrantVectorStore, RetrievalMode
        from qdrant_client import models

        from vectorbridge.bench.anchors import probed, qdrant_sparse

        bm25 = BM25Encoder()

        label = "langchain-qdrant + qdrant-client local mode"
        lc_emb = probed(emb, D.shape[1])
        t = time.perf_counter()
        store = QdrantVectorStore.from_texts(
            texts, lc_emb, ids=[str(uuid.uuid5(uuid.NAMESPACE_URL, d)) for d in ds.doc_ids],
            metadatas=[{"doc_id": d} for d in ds.doc_ids], location=":memory:",
            collection_name="sf", retrieval_mode=RetrievalMode.HYBRID, sparse_embedding=qdrant_sparse(bm25),
            sparse_vector_params={"modifier": models.Modifier.IDF})
        ingest[label] = len(texts) / (time.perf_counter() - t)
        modes = {m: QdrantVectorStore(client=store.client, collection_name="sf", embedding=lc_emb,
                                      retrieval_mode=m, sparse_embedding=qdrant_sparse(bm25))
                 for m in (RetrievalMode.DENSE, RetrievalMode.SPARSE, RetrievalMode.HYBRID)}
        searchers[label] = {
            f"{name} (retriever)": lambda j, s=modes[m]: [d.metadata["doc_id"] for d in
                                                          s.similarity_search(sub_q[j], k=K)]
            for name, m in (("dense", RetrievalMode.DENSE), ("BM25", RetrievalMode.SPARSE),
                            ("hybrid", RetrievalMode.HYBRID))}
        print(f"{label}: ingest {ingest[label]:,.0f} docs/s", flush=True)
    except ImportError as e:
        print(f"langchain-qdrant anchor skipped ({e}); pip install -e '.[bench]'")

    # -- query: passes alternate between engines; within one, queries interleave ----------------
    # Within an engine each query runs on every searcher in turn before the next query, so
    # this machine's minute-to-minute speed drift (up to 1.5x) hits those rows alike and
    # their per-query differences are paired. Engines take turns by pass: interleaving a
    # 300 ms pure-Python local-mode query between two Edge queries would leave Edge's caches
    # cold, which is not how a process serving one engine runs.
    keys = [(label, kind) for label, table in searchers.items() for kind in table]
    lat: dict[tuple[str, str], list[list[float]]] = {key: [] for key in keys}
    runs: dict[tuple[str, str], list[list[str]]] = {key: [] for key in keys}
    for rep in range(args.repeat):
        for label, table in searchers.items():
            times: dict[str, list[float]] = {kind: [] for kind in table}
            for j in range(len(sub_q)):
                for kind, fn in table.items():
                    t = time.perf_counter()
                    out = fn(j)
                    times[kind].append(time.perf_counter() - t)
                    if rep == 0:
                        runs[(label, kind)].append(out)
            for kind in table:
                lat[(label, kind)].append(times[kind])
        print(f"pass {rep + 1}/{args.repeat} done", flush=True)

    lines = [f"{Path(args.data).name} {args.split}: {len(texts):,} docs, {len(sub_q)} queries, "
             f"{args.repeat} passes, k={K}", "",
             "| engine | ingest docs/s | query | p50 ms | p95 ms | nDCG@10 |", "|---|---|---|---|---|---|"]
    for (label, kind), passes in lat.items():
        per_query = [statistics.median(ts) for ts in zip(*passes)]
        p50, p95 = percentiles(per_query)
        lines.append(f"| {label} | {ingest[label]:,.0f} | {kind} | {p50:.2f} | {p95:.2f} | "
                     f"{ndcg(runs[(label, kind)]):.3f} |")
    edge, local = "vectorbridge + Qdrant Edge", "vectorbridge + qdrant-client local mode"
    lc = "langchain-qdrant + qdrant-client local mode"
    ratios = []
    for kind in ("dense (retriever)", "BM25 (retriever)", "hybrid (retriever)"):
        for other in (local, lc):
            if (other, kind) in lat:
                a = [statistics.median(ts) for ts in zip(*lat[(edge, kind)])]
                b = [statistics.median(ts) for ts in zip(*lat[(other, kind)])]
                ratios.append(f"- {kind}: {other} / Edge p50 = "
                              f"{statistics.median(b) / statistics.median(a):.0f}x")
    floor = (edge, "hybrid (Edge API directly)")
    if floor in lat:  # what vectorbridge adds to the engine, paired per query
        base = [statistics.median(ts) for ts in zip(*lat[floor])]
        for kind in ("hybrid (connector)", "hybrid (retriever)"):
            mine = [statistics.median(ts) for ts in zip(*lat[(edge, kind)])]
            extra = statistics.median(a - b for a, b in zip(mine, base)) * 1000
            ratios.append(f"- {kind} on Edge minus the Edge API alone: median {extra:.2f} ms per query")
    text = "\n".join(lines + ["", "Latency ratios (median per-query time):", *ratios])
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text + "\n")

