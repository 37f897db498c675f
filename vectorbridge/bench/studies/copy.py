"""Copy between engines: points/s of ``copy_collection`` per engine pair against each side's
bare upsert rate, in the same run, and the copying process's memory as N grows.

    vectorbridge bench copy [--n 100000] [--dim 384] [--engines qdrant-edge,milvus-lite-file]
                            [--rss-sizes 10000,100000] [--out bench-results]

Each engine first gets a source collection of ``--n`` seeded random unit vectors with a small
payload; its bare upsert rate is the time of that write. Each ordered pair (same engine
included) is then copied without verification (the copy's own rate), then verified once
(reported separately). The target is a copy at >= 0.8x the slower side's bare upsert rate:
a copy reads and writes, so its time is the write plus the pages read.

Memory: for each ``--rss-sizes`` N, a fresh process copies an N-point Edge collection into a
Milvus Lite server (a process of its own: a Milvus Lite file runs the engine in the copying
process, and its memory grows with its data) and reports its peak RSS (sampled every 20 ms)
above the RSS it had once both connectors were open, and the peak of Python allocations
during the copy (tracemalloc, which slows the copy: no rate is reported from this run). The
source's Edge shard is read through the page cache and counts in RSS as it is read.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vectorbridge.bench.pipelines import open_engine
from vectorbridge.bench.studies.common import study_parser, write_report
from vectorbridge.connectors import CollectionSpec, copy_collection


def _data(n: int, dim: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    payloads = [{"text": f"document {i}", "lang": ["en", "de"][i % 2], "year": 1990 + i % 30}
                for i in range(n)]
    return [f"doc-{i}" for i in range(n)], X, payloads


def _fill(conn: Any, name: str, dim: int, ids: list[str], X: np.ndarray, payloads: list[dict],
          batch: int) -> float:
    conn.create_collection(CollectionSpec(name=name, dense={"dense": dim}), recreate=True)
    t = time.perf_counter()
    conn.upsert(name, ids, {"dense": X}, payloads, batch_size=batch)
    return len(ids) / (time.perf_counter() - t)


def _rss(pid: int | None = None) -> float:
    """Resident memory of a process now (MB), from /proc."""
    with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1024


def _rss_child(src_path: str, dst_uri: str, batch: int, queue: Any) -> None:
    import threading
    import tracemalloc

    from vectorbridge.connectors import MilvusConnector, QdrantConnector

    src, dst = QdrantConnector(path=src_path), MilvusConnector(uri=dst_uri)
    src.count("src")  # both open, their clients loaded
    base, peak, stop = _rss(), [0.0], threading.Event()

    def sample() -> None:  # the process's RSS every 20 ms while the copy runs
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    tracemalloc.start()
    copy_collection(src, "src", dst, "dst", batch_size=batch, verify=False)
    peak_py = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    stop.set()
    sampler.join()
    queue.put({"rss_mb": max(peak[0], _rss()) - base, "python_peak_mb": peak_py / 2 ** 20,
               "copied": dst.count("dst")})
    src.close()
    dst.close()


def rss_curve(sizes: list[int], dim: int, batch: int, work: Path) -> list[dict[str, Any]]:
    """Peak memory of a copy process at each size (Edge -> Milvus Lite file)."""
    from vectorbridge.connectors import QdrantConnector

    from vectorbridge.local_servers import MilvusLiteServer

    rows = []
    ctx = multiprocessing.get_context("spawn")
    for n in sizes:
        src_path = work / f"rss-edge-{n}"
        ids, X, payloads = _data(n, dim, seed=1)
        src = QdrantConnector(path=str(src_path))
        _fill(src, "src", dim, ids, X, payloads, batch)
        src.close()
        # the destination in a process of its own: its memory is the engine's, not the copy's
        server = MilvusLiteServer(work / f"rss-lite-{n}")
        try:
            queue = ctx.Queue()
            proc = ctx.Process(target=_rss_child, args=(str(src_path), server.uri, batch, queue))
            proc.start()
            row = queue.get(timeout=3600)
            proc.join()
        finally:
            server.stop()
        rows.append({"n": n, **row})
        print(f"  n={n:>8,}: copy process peak RSS +{row['rss_mb']:.0f} MB over its start, "
              f"Python allocations peak {row['python_peak_mb']:.1f} MB, {row['copied']:,} copied")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(__doc__, __name__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--engines", default="qdrant-edge,milvus-lite-file",
                    help="comma list of registry names (vectorbridge.connectors.ENGINES)")
    ap.add_argument("--rss-sizes", default="10000,100000",
                    help="sizes of the memory curve ('' to skip)")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    work = Path(tempfile.mkdtemp(prefix="vb-copy-"))
    servers: list = []
    ids, X, payloads = _data(args.n, args.dim)
    lines = [f"# bench copy: {args.n:,} x {args.dim}-d points, batch {args.batch_size}", "",
             "| source | destination | copy points/s | bare upsert: source, destination "
             "(points/s) | copy / slower side | verify s | verified |", "|---|---|---|---|---|---|---|"]
    rows: list[dict[str, Any]] = []
    try:
        conns = {name: open_engine(name, work, servers) for name in names}
        bare = {}
        for name, conn in conns.items():
            bare[name] = _fill(conn, "src", args.dim, ids, X, payloads, args.batch_size)
            print(f"{name}: bare upsert {bare[name]:,.0f} points/s")
        for a in names:
            for b in names:
                dst = f"copy_from_{a.replace('-', '_')}"
                conns[b].drop_collection(dst)
                report = copy_collection(conns[a], "src", conns[b], dst,
                                         batch_size=args.batch_size, verify=False)
                t = time.perf_counter()
                from vectorbridge.connectors.verify import verify_copy

                v = verify_copy(conns[a], "src", conns[b], dst, batch_size=args.batch_size,
                                sample_queries=20)
                verify_s = time.perf_counter() - t
                ratio = report.points_per_second / min(bare[a], bare[b])
                rows.append({"source": a, "destination": b, "copy_pps": report.points_per_second,
                             "bare_source": bare[a], "bare_destination": bare[b],
                             "ratio": ratio, "verify_s": verify_s, "ok": v.ok,
                             "agreement": v.top10_agreement})
                lines.append(f"| {a} | {b} | {report.points_per_second:,.0f} | {bare[a]:,.0f}, "
                             f"{bare[b]:,.0f} | {ratio:.2f}x | {verify_s:.1f} | "
                             f"{'yes' if v.ok else 'NO'} (top-10 {v.top10_agreement['dense']:.2f}) |")
                print(lines[-1])
                conns[b].drop_collection(dst)
        for conn in conns.values():
            conn.close()
    finally:
        for s in servers:
            s.stop()
    sizes = [int(s) for s in args.rss_sizes.split(",") if s.strip()]
    curve = rss_curve(sizes, args.dim, args.batch_size, work) if sizes else []
    if curve:
        lines += ["", "| N (Edge -> a Milvus Lite server) | copy process: peak RSS over its "
                  "start (MB) | Python allocations peak (MB) |", "|---|---|---|"]
        lines += [f"| {r['n']:,} | {r['rss_mb']:.0f} | {r['python_peak_mb']:.1f} |"
                  for r in curve]
    out = Path(args.out)
    write_report(out / "copy.md", lines)
    (out / "copy.json").write_text(json.dumps({"pairs": rows, "memory": curve}, indent=1))
