"""Upsert throughput: N precomputed dense vectors into each embedded/local engine.

    python benchmarks/ingest.py [--n 5000] [--dim 384] [--batch-size 256] [--repeats 3]

Vectors are seeded random unit vectors with a small payload (text, lang, year): only the
database path is timed, not encoding. Each engine gets a fresh collection per repeat; the
median points/s is reported, with the run-to-run spread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.backends import MilvusLiteServer  # noqa: E402  (the same server fixture the tests use)
from vectorbridge.connectors import CollectionSpec, MilvusConnector, QdrantConnector  # noqa: E402


def run(conn, n: int, dim: int, batch: int, X, payloads) -> float:
    ids = [f"doc-{i}" for i in range(n)]
    conn.create_collection(CollectionSpec(name="ingest", dense={"dense": dim}), recreate=True)
    t = time.perf_counter()
    conn.upsert("ingest", ids, {"dense": X}, payloads, batch_size=batch)
    secs = time.perf_counter() - t
    assert conn.count("ingest") == n
    return n / secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    payloads = [{"text": f"document {i}", "lang": ["en", "de"][i % 2], "year": 1990 + i % 30}
                for i in range(args.n)]
    work = Path(tempfile.mkdtemp(prefix="vb-ingest-"))
    server = MilvusLiteServer(work / "server")
    try:
        engines = {
            "qdrant :memory:": lambda: QdrantConnector(location=":memory:"),
            "qdrant edge (path)": lambda: QdrantConnector(path=str(work / "qdrant")),
            "milvus-lite file": lambda: MilvusConnector(uri=str(work / "milvus.db")),
            "milvus-lite server (gRPC, 127.0.0.1)": lambda: MilvusConnector(uri=server.uri),
        }
        print(f"upsert of {args.n} x {args.dim}-d float32 vectors, batch {args.batch_size}, "
              f"median of {args.repeats}")
        for label, make in engines.items():
            conn = make()
            rates = [run(conn, args.n, args.dim, args.batch_size, X, payloads) for _ in range(args.repeats)]
            conn.close()
            print(f"  {label:40s} {statistics.median(rates):8.0f} points/s "
                  f"(min {min(rates):.0f}, max {max(rates):.0f})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
