"""Streamed ingest against the encoder alone, per indexing policy: what indexing during a
long ingest costs, and what searches gain from it.

    vectorbridge bench streamed-ingest [--n 60000] [--rate 2000] [--dim 384]
        [--engines qdrant-edge,milvus-lite-file] [--policies today,1000,engine]
        [--queries 200] [--seed 0]

``--n`` seeded synthetic texts stream, as one generator, through ``VectorBridgeStore.
add_texts`` into a fresh collection. The encoder is a fake that sleeps ``1 / --rate`` s per
text and returns seeded random unit vectors, so the encoder alone runs at ``--rate`` docs/s
and the ratio ``ingest docs/s / encoder docs/s`` is what the write path costs on top. Per
engine and policy (``--policies``, in one run):

- ``today``: the store before the engines chose (``index_after=0`` during the call, then one
  blocking ``optimize`` after it, since it wrote >= 1,000 points);
- ``N`` (an int): ``VectorBridgeStore(index_after=N)``: index after every N written points,
  in the ingest's writer thread;
- ``engine``: ``index_after=None``, the engine's ``capabilities.index_every``;
- ``none``: ``index_after=0``, never.

Then the dense p50 / p95 of ``--queries`` ``similarity_search_by_vector`` calls (k=10, query
vectors near random documents), as the collection was left.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from langchain_core.embeddings import Embeddings

from vectorbridge.bench.studies.common import study_parser, write_report
from vectorbridge.connectors.registry import engine as engine_entry
from vectorbridge.retrievers.ingest import CHUNK_SIZE


class SleepEncoder(Embeddings):
    """Texts ``"<i> ..."`` -> row ``i`` of a seeded unit matrix, after ``len(texts) / rate``
    seconds of sleep (an encoder of that rate that leaves the CPUs to the engine)."""

    def __init__(self, vectors: np.ndarray, rate: float) -> None:
        self.vectors, self.rate = vectors, rate

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        time.sleep(len(texts) / self.rate)
        rows = [int(t.split(" ", 1)[0]) for t in texts]
        return self.vectors[rows].tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def synthetic_texts(n: int, seed: int) -> Iterator[str]:
    rng = np.random.default_rng(seed)
    words = np.array(["vector", "index", "segment", "graph", "seal", "query", "encoder",
                      "stream", "chunk", "milvus", "qdrant", "edge", "latency", "recall"])
    for i in range(n):
        yield f"{i} " + " ".join(words[rng.integers(0, len(words), 12)])


def ingest(entry: Any, policy: str, texts: list[str], enc: SleepEncoder,
           queries: np.ndarray) -> dict[str, Any]:
    from vectorbridge.retrievers import VectorBridgeStore

    with tempfile.TemporaryDirectory() as work:
        servers: list[Any] = []
        conn = entry.open(Path(work), servers)
        try:
            index_after: int | None = {"today": 0, "none": 0, "engine": None}.get(policy)
            if index_after is None and policy != "engine":
                index_after = int(policy)
            store = VectorBridgeStore(connector=conn, collection="stream", embedding=enc,
                                      index_after=index_after)
            t = time.perf_counter()
            store.add_texts(t for t in texts)
            if policy == "today":  # the store's old count: >= 1,000 written -> optimize
                conn.optimize("stream")
            seconds = time.perf_counter() - t
            assert conn.count("stream") == len(texts)
            store.similarity_search_by_vector(queries[0].tolist(), k=10)  # warm
            lat = []
            for q in queries:
                t = time.perf_counter()
                store.similarity_search_by_vector(q.tolist(), k=10)
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            return {"seconds": seconds, "p50": statistics.median(lat),
                    "p95": lat[int(0.95 * (len(lat) - 1))],
                    "index_every": conn.capabilities.index_every}
        finally:
            conn.close()
            for s in servers:
                s.stop()


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(__doc__, __name__)
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--rate", type=float, default=2000.0, help="the fake encoder's docs/s")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--engines", default="qdrant-edge,milvus-lite-file")
    ap.add_argument("--policies", default="today,1000,engine")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    vectors = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picks = rng.integers(0, args.n, args.queries)
    queries = vectors[picks] + 0.3 * rng.standard_normal((args.queries, args.dim)).astype(
        np.float32) / np.sqrt(args.dim)
    texts = list(synthetic_texts(args.n, args.seed))
    enc = SleepEncoder(vectors, args.rate)

    t = time.perf_counter()  # the anchor: the encoder alone, chunk by chunk as the ingest
    for s in range(0, len(texts), CHUNK_SIZE):
        enc.embed_documents(texts[s:s + CHUNK_SIZE])
    anchor = len(texts) / (time.perf_counter() - t)
    print(f"encoder alone: {anchor:,.0f} docs/s", flush=True)

    lines = ["# Streamed ingest per indexing policy", "",
             f"Command: `vectorbridge bench streamed-ingest --n {args.n} --rate {args.rate:g} "
             f"--dim {args.dim} --engines {args.engines} --policies {args.policies} "
             f"--queries {args.queries} --seed {args.seed}`.", "",
             f"Encoder alone (sleep-based, chunks of {CHUNK_SIZE}): {anchor:,.0f} docs/s.", "",
             "| engine | policy | docs/s | x encoder | dense p50 ms | p95 ms |",
             "|---|---|---|---|---|---|"]
    for name in args.engines.split(","):
        entry = engine_entry(name)
        for policy in args.policies.split(","):
            r = ingest(entry, policy, texts, enc, queries)
            rate = len(texts) / r["seconds"]
            label = f"engine ({r['index_every']})" if policy == "engine" else policy
            row = (f"| {name} | {label} | {rate:,.0f} | {rate / anchor:.3f} | "
                   f"{r['p50']:.2f} | {r['p95']:.2f} |")
            print(row, flush=True)
            lines.append(row)
    write_report(Path(args.out) / "streamed-ingest.md", lines)


if __name__ == "__main__":
    main()
