"""Scale: the same synthetic collection at growing sizes, per engine, as curves.

    vectorbridge bench scale [--sizes 10000,100000] [--engines qdrant-edge,milvus-lite-file]
        [--queries 200] [--dim 384] [--seed 0] [--plot PNG] [--out DIR]
    (--plot needs matplotlib: `pip install -e ".[bench]"`)

Points are clustered unit vectors (``--dim``, 256 centres, seed ``--seed``) with a ~40-term
sparse vector and a payload (``g``: 100 values, ``h``: 10 values), generated and written in
batches of 10,000, so the client never holds a whole collection of them. Per engine and size:
upsert points/s, ``optimize`` seconds (index build), p50 / p95 of dense, hybrid and filtered
dense queries (1 % and 10 % of the points match), recall@10 of dense and of 1 %-filtered
dense against exact search, the resident memory the engine added (this process and the
local servers it started, from ``/proc``) and bytes on disk per point. Queries are vectors
near the centres; exact answers come from the float vectors, kept in memory as float16.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vectorbridge.bench.studies.common import study_parser, write_report
from vectorbridge.connectors import CollectionSpec, F, SparseField
from vectorbridge.connectors.registry import engine as engine_entry
from vectorbridge.encoders import SparseVector

BATCH, CENTRES, VOCAB, TERMS = 10_000, 256, 30_000, 40


def rss_mb() -> float:
    """Resident memory of this process and its descendants (local engine servers), MiB."""
    def rss(pid: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def children(pid: str) -> list[str]:
        out = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                out += (task / "children").read_text().split()
            except OSError:
                pass
        return out

    total, todo = 0, [str(os.getpid())]
    while todo:
        pid = todo.pop()
        total += rss(pid)
        todo += children(pid)
    return total / 1024


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Synthetic:
    """The collection and its queries, reproducible from a seed."""

    def __init__(self, dim: int, seed: int) -> None:
        self.dim, self.seed = dim, seed
        rng = np.random.default_rng(seed)
        self.centres = rng.normal(size=(CENTRES, dim)).astype(np.float32)

    def batches(self, n: int) -> Iterator[tuple[list[str], np.ndarray, list[SparseVector], list[dict]]]:
        for start in range(0, n, BATCH):
            rng = np.random.default_rng([self.seed, start])
            m = min(BATCH, n - start)
            X = self.centres[rng.integers(0, CENTRES, m)] + rng.normal(size=(m, self.dim)) * 0.6
            X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
            terms = np.minimum(rng.zipf(1.3, size=(m, TERMS)), VOCAB) - 1
            sparse = []
            for row in terms:
                idx = np.unique(row)
                sparse.append(SparseVector(idx, rng.uniform(0.2, 2.0, len(idx))))
            ids = [str(i) for i in range(start, start + m)]
            payloads = [{"g": i % 100, "h": i % 10} for i in range(start, start + m)]
            yield ids, X, sparse, payloads

    def queries(self, q: int) -> tuple[np.ndarray, list[SparseVector]]:
        rng = np.random.default_rng([self.seed, 10 ** 9])
        Q = self.centres[rng.integers(0, CENTRES, q)] + rng.normal(size=(q, self.dim)) * 0.6
        Q = (Q / np.linalg.norm(Q, axis=1, keepdims=True)).astype(np.float32)
        terms = np.minimum(rng.zipf(1.3, size=(q, 5)), VOCAB) - 1
        return Q, [SparseVector(np.unique(t), np.ones(len(np.unique(t)))) for t in terms]


def _timed(fn: Any, items: list[Any]) -> tuple[list[Any], list[float]]:
    out, lat = [], []
    for x in items:
        t = time.perf_counter()
        out.append(fn(x))
        lat.append(time.perf_counter() - t)
    return out, lat


def measure(name: str, n: int, data: Synthetic, n_queries: int, workdir: Path) -> dict[str, Any]:
    """One engine at one size: build, time, query, compare with exact search."""
    servers: list[Any] = []
    entry = engine_entry(name)
    exact = np.zeros((n, data.dim), np.float16)
    exact[:] = 0  # resident before the baseline, so the engine's memory is what grows
    before = rss_mb()
    conn = entry.open(workdir, servers)
    try:
        sparse = SparseField(idf=True) if conn.capabilities.engine_idf else SparseField()
        fields = {"dense": {"dense": data.dim}}
        if conn.capabilities.sparse and conn.capabilities.multiple_vector_fields:
            fields["sparse"] = {"sparse": sparse}
        conn.create_collection(CollectionSpec(name="scale", **fields), recreate=True)
        t = time.perf_counter()
        for ids, X, sp, payloads in data.batches(n):
            vectors = {"dense": X, "sparse": sp} if "sparse" in fields else {"dense": X}
            conn.upsert("scale", ids, vectors, payloads, batch_size=BATCH)
            exact[int(ids[0]):int(ids[0]) + len(ids)] = X
        upsert_s = time.perf_counter() - t
        t = time.perf_counter()
        conn.optimize("scale")
        optimize_s = time.perf_counter() - t
        rss = rss_mb() - before
        Q, QS = data.queries(n_queries)
        dense, dense_lat = _timed(lambda q: conn.search("scale", "dense", q, k=10), list(Q))
        one, one_lat = _timed(lambda q: conn.search("scale", "dense", q, k=10,
                                                    filter=F("g") == 7), list(Q))
        _, ten_lat = _timed(lambda q: conn.search("scale", "dense", q, k=10,
                                                  filter=F("h") == 3), list(Q))
        hybrid_lat: list[float] = []
        if "sparse" in fields:
            _, hybrid_lat = _timed(lambda i: conn.hybrid_search(
                "scale", {"dense": Q[i], "sparse": QS[i]}, k=10), list(range(len(Q))))
        E = exact.astype(np.float32)
        mask = (np.arange(n) % 100) == 7
        rec, rec1 = [], []
        for q, hits, fhits in zip(Q, dense, one):
            s = E @ q
            rec.append(len({h.id for h in hits} & {str(i) for i in np.argsort(-s)[:10]}) / 10)
            s[~mask] = -np.inf
            rec1.append(len({h.id for h in fhits} & {str(i) for i in np.argsort(-s)[:10]}) / 10)
        on_disk = disk_bytes(workdir) if entry.where == "embedded" else 0
    finally:
        conn.close()
        for s in servers:
            s.stop()

    def p(lat: list[float], q: float) -> float:
        return float(np.percentile(np.asarray(lat) * 1000, q)) if lat else float("nan")

    return {"engine": name, "n": n, "upsert_pts_s": n / upsert_s, "optimize_s": optimize_s,
            "dense_p50": p(dense_lat, 50), "dense_p95": p(dense_lat, 95),
            "hybrid_p50": p(hybrid_lat, 50), "filter1_p50": p(one_lat, 50),
            "filter10_p50": p(ten_lat, 50), "recall10": statistics.mean(rec),
            "recall10_filter1": statistics.mean(rec1), "rss_mb": rss,
            "raw_mb": n * data.dim * 4 / 2 ** 20, "disk_b_per_pt": on_disk / n}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in dict.fromkeys(r["engine"] for r in rows):
        mine = [r for r in rows if r["engine"] == name]
        ns = [r["n"] for r in mine]
        axes[0].loglog(ns, [r["dense_p50"] for r in mine], "o-", label=f"{name} dense")
        axes[0].loglog(ns, [r["hybrid_p50"] for r in mine], "s--", label=f"{name} hybrid")
        axes[1].loglog(ns, [r["rss_mb"] for r in mine], "o-", label=f"{name} RSS added")
    axes[1].loglog(sorted({r["n"] for r in rows}), sorted({r["raw_mb"] for r in rows}), "k:",
                   label="raw float vectors")
    axes[0].set(xlabel="points", ylabel="p50 ms", title="query latency")
    axes[1].set(xlabel="points", ylabel="MiB", title="memory")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(__doc__, __name__)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--engines", default="qdrant-edge,milvus-lite-file")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="write the curves to this PNG")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    data = Synthetic(args.dim, args.seed)
    rows = []
    for name in args.engines.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            with tempfile.TemporaryDirectory(prefix=f"vb-scale-{name}-") as work:
                r = measure(name, n, data, args.queries, Path(work))
            rows.append(r)
            print(f"  {name} N={n:,}: upsert {r['upsert_pts_s']:,.0f} pts/s, optimize "
                  f"{r['optimize_s']:.1f} s, dense p50 {r['dense_p50']:.2f} ms, hybrid "
                  f"{r['hybrid_p50']:.2f} ms, 1% filter {r['filter1_p50']:.2f} ms, recall@10 "
                  f"{r['recall10']:.3f} (1% filter {r['recall10_filter1']:.3f}), RSS "
                  f"+{r['rss_mb']:,.0f} MiB", flush=True)
    lines = ["# Scale: synthetic collections at growing sizes", "",
             f"Command: `vectorbridge bench scale --sizes {args.sizes} --engines {args.engines} "
             f"--queries {args.queries} --dim {args.dim} --seed {args.seed}`.", "",
             "| engine | N | upsert pts/s | optimize s | dense p50 / p95 ms | hybrid p50 ms | "
             "1 % filter p50 ms | 10 % filter p50 ms | recall@10 | recall@10, 1 % filter | "
             "RSS added MiB (raw floats) | disk B/point |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['engine']} | {r['n']:,} | {r['upsert_pts_s']:,.0f} | {r['optimize_s']:.1f} | "
              f"{r['dense_p50']:.2f} / {r['dense_p95']:.2f} | {r['hybrid_p50']:.2f} | "
              f"{r['filter1_p50']:.2f} | {r['filter10_p50']:.2f} | {r['recall10']:.3f} | "
              f"{r['recall10_filter1']:.3f} | {r['rss_mb']:,.0f} ({r['raw_mb']:,.0f}) | "
              f"{r['disk_b_per_pt']:,.0f} |" for r in rows]
    write_report(Path(args.out) / "scale.md", lines)
    if args.plot:
        plot(rows, Path(args.plot))
