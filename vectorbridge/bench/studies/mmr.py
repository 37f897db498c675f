"""MMR in the engine (Qdrant's ``Mmr``) vs LangChain's selection client-side, on one corpus.

    vectorbridge bench mmr DATA [--split train] [--fetch-k 50] [--out DIR]

The corpus's cached all-MiniLM-L6-v2 vectors go into Qdrant Edge; every query of the split
asks for k=10 by MMR from the ``fetch_k`` nearest, two ways: ``Connector.mmr_search`` (one
request) and ``search(with_vectors=True)`` + ``langchain_core``'s
``maximal_marginal_relevance`` (what engines without MMR get). Reports p50 / p95 latency and
how often the two choose the same ten documents in the same order.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, write_report
from vectorbridge.connectors import CollectionSpec, QdrantConnector


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--fetch-k", type=int, default=50)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, Q = dense_embeddings(c)
    conn = QdrantConnector(path=tempfile.mkdtemp(prefix="vb-mmr-"))
    conn.create_collection(CollectionSpec(name="mmr", dense={"dense": D.shape[1]}))
    conn.upsert("mmr", c.ds.doc_ids, {"dense": D}, batch_size=512)
    conn.optimize("mmr")
    rows = []
    for lam in (0.5, 0.8):
        native, client, same = [], [], 0
        for q in Q:
            t = time.perf_counter()
            a = [h.id for h in conn.mmr_search("mmr", "dense", q, k=10, fetch_k=args.fetch_k,
                                               lambda_mult=lam)]
            native.append(time.perf_counter() - t)
            t = time.perf_counter()
            hits = conn.search("mmr", "dense", q, k=args.fetch_k, with_vectors=True)
            keep = maximal_marginal_relevance(q, [h.vectors["dense"] for h in hits],
                                              lambda_mult=lam, k=10)
            b = [hits[i].id for i in keep]
            client.append(time.perf_counter() - t)
            same += a == b
        for name, lat in (("Qdrant Edge Mmr (engine)", native),
                          ("search with vectors + LangChain MMR (client)", client)):
            ms = np.array(lat) * 1000
            rows.append((lam, name, statistics.median(ms), float(np.percentile(ms, 95)),
                         same / len(Q)))
            print(f"  lambda {lam} {name:46s} p50 {rows[-1][2]:.2f} ms p95 {rows[-1][3]:.2f} ms "
                  f"same top-10 {rows[-1][4]:.1%}", flush=True)
    lines = [f"# MMR in the engine vs client-side: {Path(args.data).name} {args.split}", "",
             f"Command: `vectorbridge bench mmr DATA --split {args.split} --fetch-k {args.fetch_k}`; "
             f"{len(c.texts)} docs, {len(Q)} queries, k=10, Qdrant Edge (HNSW built).", "",
             "| lambda_mult | path | p50 ms | p95 ms | same 10 in the same order |", "|---|---|---|---|---|"]
    lines += [f"| {lam} | {n} | {p50:.2f} | {p95:.2f} | {s:.1%} |" for lam, n, p50, p95, s in rows]
    write_report(Path(args.out) / f"mmr_{Path(args.data).name}_{args.split}.md", lines)
    conn.close()
