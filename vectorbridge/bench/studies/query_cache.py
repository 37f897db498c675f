"""Repeated queries: ``invoke("text")`` with and without a query cache, on a query log with
repeats.

    vectorbridge bench query-cache DATA [--engine qdrant-edge] [--replays 2000] [--zipf 1.1]
        [--cache-size 1024] [--split train]

The BEIR corpus is stored once (cached document vectors, BM25 in the engine where it can);
the log is ``--replays`` queries drawn from the split's queries with Zipf(``--zipf``)
popularity (seeded; the same log for every row). Each row is a ``HybridRetriever`` (dense +
BM25, the engine's default fusion) whose dense encoder is the model itself, so ``invoke``
includes encoding the query: without a cache, and with ``DenseEncoder(query_cache=N)``.
Reported: p50 / mean ``invoke`` ms over the log, the cache's hit rate, and how many distinct
queries the log holds (the best a cache can do is ``1 - distinct / replays``).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, \
    store_corpus, table, write_report
from vectorbridge.connectors.registry import engine as engine_entry


def query_log(n_queries: int, replays: int, exponent: float, seed: int = 0) -> list[int]:
    """Indices of queries: Zipf(``exponent``) popularity over a seeded shuffle of them."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_queries)
    weights = 1.0 / np.arange(1, n_queries + 1) ** exponent
    return [int(order[i]) for i in rng.choice(n_queries, replays, p=weights / weights.sum())]


def main(argv: list[str] | None = None) -> None:
    from vectorbridge.encoders import DenseEncoder
    from vectorbridge.retrievers import FieldNames, HybridRetriever

    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--engine", default="qdrant-edge")
    ap.add_argument("--replays", type=int, default=2000)
    ap.add_argument("--zipf", type=float, default=1.1)
    ap.add_argument("--cache-size", type=int, default=1024)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, _ = dense_embeddings(c)
    log = query_log(len(c.qtexts), args.replays, args.zipf)
    command = ("vectorbridge bench query-cache " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])).strip()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vb-qcache-") as work:
        conn = engine_entry(args.engine).open(Path(work), [], None)
        bm25 = store_corpus(conn, c, D)
        sizes = (("no cache", None), (f"query_cache={args.cache_size}", args.cache_size))
        for label, cache in sizes:
            dense = DenseEncoder(c.model, device="cpu", query_cache=cache)
            r = HybridRetriever(connector=conn, collection="beir", dense=dense, sparse=bm25,
                                fields=FieldNames(dense="dense", sparse="sparse"),
                                text_key="text", k=10)
            r.invoke(c.qtexts[0])  # warm the model and the engine (not counted)
            if dense.query_cache is not None:
                dense.query_cache.clear()
            lat, answers = [], []
            for i in log:
                t = time.perf_counter()
                answers.append([d.id for d in r.invoke(c.qtexts[i])])
                lat.append((time.perf_counter() - t) * 1000)
            hit = dense.query_cache.stats().hit_rate if dense.query_cache else 0.0
            rows.append((label, float(np.percentile(lat, 50)), statistics.mean(lat), hit,
                         answers))
            print(f"  {label}: invoke p50 {rows[-1][1]:.2f} ms, mean {rows[-1][2]:.2f} ms, "
                  f"hit rate {hit:.3f}", flush=True)
        conn.close()
    same = rows[0][4] == rows[1][4]
    distinct = len(set(log))
    write_report(Path(args.out) / "query_cache.md", [
        "# Repeated queries: invoke with and without a query cache", "",
        f"Command: `{command}`. Engine {args.engine}, {len(c.texts):,} documents, queries "
        f"encoded in {dense.precision}; a log of "
        f"{len(log):,} queries (Zipf {args.zipf}) holding {distinct} distinct ones (best "
        f"possible hit rate {1 - distinct / len(log):.3f}); the same top 10 with and without "
        f"the cache: {'yes' if same else 'NO'}.", "", *table(
            ["dense encoder", "invoke p50 ms", "invoke mean ms", "hit rate"],
            [[label, f"{p50:.2f}", f"{mean:.2f}", f"{hit:.3f}"]
             for label, p50, mean, hit, _ in rows])])


__all__ = ["main", "query_log"]
