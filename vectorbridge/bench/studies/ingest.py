"""Upsert throughput: N precomputed dense vectors into each embedded/local engine.

    vectorbridge bench ingest [--n 5000] [--dim 384] [--batch-size 256] [--repeats 3] [--engines LIST]

Vectors are seeded random unit vectors with a small payload (text, lang, year): only the
database path is timed, not encoding. Each engine gets a fresh collection per repeat; the
median points/s is reported, with the run-to-run spread.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vectorbridge.bench.pipelines import open_engine
from vectorbridge.bench.studies.common import study_parser
from vectorbridge.connectors import CollectionSpec


def run(conn, n: int, dim: int, batch: int, X, payloads) -> float:
    ids = [f"doc-{i}" for i in range(n)]
    conn.create_collection(CollectionSpec(name="ingest", dense={"dense": dim}), recreate=True)
    t = time.perf_counter()
    conn.upsert("ingest", ids, {"dense": X}, payloads, batch_size=batch)
    secs = time.perf_counter() - t
    assert conn.count("ingest") == n
    return n / secs


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(__doc__, __name__)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--engines", default="qdrant-local,qdrant-edge,milvus-lite-file,milvus-lite-server",
                    help="comma list of registry names (vectorbridge.connectors.ENGINES)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    payloads = [{"text": f"document {i}", "lang": ["en", "de"][i % 2], "year": 1990 + i % 30}
                for i in range(args.n)]
    work = Path(tempfile.mkdtemp(prefix="vb-ingest-"))
    servers: list = []
    print(f"upsert of {args.n} x {args.dim}-d float32 vectors, batch {args.batch_size}, "
          f"median of {args.repeats}")
    try:
        for name in args.engines.split(","):
            conn = open_engine(name, work, servers)
            rates = [run(conn, args.n, args.dim, args.batch_size, X, payloads) for _ in range(args.repeats)]
            conn.close()
            print(f"  {name:40s} {statistics.median(rates):8.0f} points/s "
                  f"(min {min(rates):.0f}, max {max(rates):.0f})")
    finally:
        for s in servers:
            s.stop()
