"""Load: throughput of 1,000 dense queries, sequential vs 16 threads vs 64 asyncio tasks,
on every engine this machine runs; every concurrent answer checked against the sequential one.

    vectorbridge bench load DATA [--queries 1000] \
        [--engines edge,qdrant-local,milvus-lite,milvus-lite-server,milvus-2.3] [--out DIR]

SciFact's cached MiniLM vectors (5,183 docs; queries cycle through the 809 train queries),
k=10, one connector per engine shared by all threads and tasks. The anchor of each ratio is
the sequential run on the same engine in the same process, repeated until two passes in a
row agree (a server still loading its index answers differently from pass to pass). Milvus collections use Bounded consistency (the data is static,
and Strong would time Milvus 2.3's 200 ms time tick); on a Milvus server the run starts once
the index covers every row.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


from vectorbridge.bench.load import load
from vectorbridge.bench.pipelines import open_engine as open_registry_engine
from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, write_report
from vectorbridge.connectors import CollectionSpec, Connector, MilvusConnector


def open_engine(name: str, work: Path, servers: list) -> Connector:
    """A registry engine; Milvus with Bounded consistency (the data is static, and Strong
    would time Milvus 2.3's 200 ms time tick)."""
    conn = open_registry_engine(name, work, servers)
    if isinstance(conn, MilvusConnector):
        conn.consistency_level = "Bounded"
    return conn


def wait_indexed(conn: MilvusConnector, name: str, timeout: float = 300) -> None:
    """Flush, then wait until the server's index covers every row: a search before that
    scans growing segments exactly and one after walks the graph, so answers would change
    mid-run for reasons that have nothing to do with concurrency."""
    conn.client.flush(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = conn.client.describe_index(name, "dense")
        if info.get("indexed_rows") == info.get("total_rows") and info.get("pending_index_rows", 0) == 0:
            return
        time.sleep(1)
    raise SystemExit(f"index of {name!r} not built within {timeout} s: {info}")


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--engines", default="qdrant-edge,qdrant-local,milvus-lite-file,"
                    "milvus-lite-server,milvus-2.3-server")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, Q = dense_embeddings(c)
    queries = Q[np.arange(args.queries) % len(Q)]
    ids = [str(d) for d in c.ds.doc_ids]
    work = Path(tempfile.mkdtemp(prefix="vb-load-"))
    rows = []
    for engine in args.engines.split(","):
        servers: list = []
        try:
            conn = open_engine(engine, work, servers)
            conn.create_collection(CollectionSpec(name="load", dense={"dense": D.shape[1]}), recreate=True)
            conn.upsert("load", ids, {"dense": D}, batch_size=512)
            while conn.count("load") < len(ids):
                pass  # Bounded: wait until every write is visible
            if hasattr(conn, "optimize"):
                conn.optimize("load")
            if isinstance(conn, MilvusConnector) and not conn.is_lite:
                wait_indexed(conn, "load")
            seq, thr, tsk = load(conn, "load", "dense", queries, k=10, threads=args.threads,
                                 n_tasks=args.tasks, settle=5)
            for run in (seq, thr, tsk):
                rows.append((engine, run.mode, run.workers, len(run.errors),
                             len(run.mismatches(seq)), run.qps, run.qps / seq.qps))
                print(f"{engine:20s} {run.mode:10s} x{run.workers:<3d} errors {len(run.errors)} "
                      f"mismatches {len(run.mismatches(seq))} {run.qps:8.1f} QPS "
                      f"({run.qps / seq.qps:.2f}x sequential)", flush=True)
        finally:
            for s in servers:
                s.stop()
    lines = [f"# Load: {args.queries} queries, SciFact {args.split} ({len(ids)} docs, MiniLM), k=10",
             "", f"Command: `vectorbridge bench load DATA --queries {args.queries} --engines {args.engines}`",
             "", "| engine | mode | workers | errors | answers differing from sequential | QPS | vs sequential |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {e} | {m} | {w} | {er} | {mm} | {q:.1f} | {r:.2f}x |" for e, m, w, er, mm, q, r in rows]
    write_report(Path(args.out) / f"load_{Path(args.data).name}_{args.split}.md", lines)

