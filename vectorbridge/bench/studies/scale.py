"""Scale: the same synthetic collection at growing sizes, per engine, as curves.

    vectorbridge bench scale [--sizes 10000,100000] [--engines qdrant-edge,milvus-lite-file]
        [--storage ram,disk-scalar-int8] [--milvus-index HNSW] [--hnsw-ef 256] [--url URL]
        [--queries 200] [--tenants N]
        [--dim 384] [--seed 0]
        [--plot PNG] [--out DIR]
    (--plot needs matplotlib: `pip install -e ".[bench]"`)

Points are clustered unit vectors (``--dim``, 256 centres, seed ``--seed``) with a ~40-term
sparse vector and a payload (``g``: 100 values, ``h``: 10 values, both declared in
``payload_indexes``), generated and written in batches of 10,000, so the client never holds a
whole collection of them. ``--storage``: ``ram`` keeps the float vectors in memory,
``ram-<quantization>`` adds the engine's quantized copies, ``disk-<quantization>`` is
``DenseField(on_disk=True, quantization=...)`` (engines with ``on_disk_vectors``). Per engine, storage and size: upsert points/s, ``optimize`` seconds
(index build), p50 / p95 of dense, hybrid and filtered dense queries (1 % and 10 % of the
points match), recall@10 of dense and filtered dense against exact search, the resident
memory the build added (this process and the local servers it started, from ``/proc``),
the memory a fresh process needs to serve the collection (embedded engines: reopened in a
new process that runs the queries; anonymous and file-backed pages apart, since mapped
files are counted in RSS but can be dropped by the kernel) and bytes on disk per point.
Queries are vectors near the centres; exact answers come from the float vectors, kept in
memory as float16. Latencies are of warm queries (each query run once before timing).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vectorbridge.bench.studies.common import study_parser, write_report
from vectorbridge.connectors import CollectionSpec, DenseField, F, SparseField
from vectorbridge.connectors.registry import engine as engine_entry
from vectorbridge.encoders import SparseVector

BATCH, CENTRES, VOCAB, TERMS = 10_000, 256, 30_000, 40
#: Engines whose files a fresh process reopens for the serving-memory probe (Milvus Lite's
#: file stays locked by its server process for a while after close).
SERVING_PROBE = ("qdrant-edge",)
#: The payload keys the filters select on, indexed as a user is told to.
INDEXES = {"g": "integer", "h": "integer"}


def dense_field(storage: str, dim: int) -> DenseField:
    """``ram``, ``ram-<quantization>`` or ``disk-<quantization>`` as the dense field."""
    if storage == "ram":
        return DenseField(dim)
    place, _, quantization = storage.partition("-")
    if place not in ("ram", "disk") or not quantization:
        raise SystemExit(f"--storage {storage!r}: use ram, ram-<quantization> or "
                         "disk-<quantization> (e.g. disk-scalar-int8)")
    return DenseField(dim, quantization=quantization, on_disk=place == "disk")


def rss_mb(kind: str = "VmRSS") -> float:
    """Resident memory of this process and its descendants (local engine servers), MiB:
    ``VmRSS`` in all, or ``RssAnon`` (heap) / ``RssFile`` (mapped files) apart."""
    def rss(pid: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(kind + ":"):
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


def _serving_memory(name: str, folder: str, Q: np.ndarray) -> dict[str, float]:
    """In a fresh process: open an embedded collection, run the dense and filtered queries,
    and report the memory that added (so build-time heap is not counted)."""
    import importlib

    importlib.import_module("vectorbridge.connectors.qdrant.edge")  # imports are not the data
    anon, file = rss_mb("RssAnon"), rss_mb("RssFile")
    conn = engine_entry(name).connect(folder)
    for q in Q:
        conn.search("scale", "dense", q, k=10)
        conn.search("scale", "dense", q, k=10, filter=F("g") == 7)
    out = {"serve_anon_mb": rss_mb("RssAnon") - anon, "serve_file_mb": rss_mb("RssFile") - file}
    conn.close()
    return out


def serving_memory(name: str, folder: Path, Q: np.ndarray) -> dict[str, float]:
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_serving_memory, (name, str(folder), Q))


def _open(name: str, workdir: Path, servers: list[Any], url: str | None,
          milvus_index: str | None) -> Any:
    entry = engine_entry(name)
    if milvus_index and entry.family == "milvus" and entry.where == "embedded":
        from vectorbridge.connectors import MilvusConnector

        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
        return MilvusConnector(uri=str(folder / "milvus.db"), index_type=milvus_index)
    return entry.open(workdir, servers, url)


def measure(name: str, n: int, data: Synthetic, n_queries: int, workdir: Path,
            storage: str = "ram", url: str | None = None,
            milvus_index: str | None = None, hnsw_ef: int | None = None) -> dict[str, Any]:
    """One engine at one size: build, time, query, compare with exact search."""
    servers: list[Any] = []
    entry = engine_entry(name)
    exact = np.zeros((n, data.dim), np.float16)
    exact[:] = 0  # resident before the baseline, so the engine's memory is what grows
    before = rss_mb()
    conn = _open(name, workdir, servers, url, milvus_index)
    try:
        sparse = SparseField(idf=True) if conn.capabilities.engine_idf else SparseField()
        fields: dict[str, Any] = {"dense": {"dense": dense_field(storage, data.dim)}}
        if conn.capabilities.sparse and conn.capabilities.multiple_vector_fields:
            fields["sparse"] = {"sparse": sparse}
        conn.create_collection(CollectionSpec(name="scale", payload_indexes=INDEXES, **fields),
                               recreate=True)
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
        for q in Q:  # warm: timings are of a serving engine, not of its first page faults
            conn.search("scale", "dense", q, k=10)
        dense, dense_lat = _timed(lambda q: conn.search("scale", "dense", q, k=10), list(Q))
        one, one_lat = _timed(lambda q: conn.search("scale", "dense", q, k=10,
                                                    filter=F("g") == 7), list(Q))
        ten, ten_lat = _timed(lambda q: conn.search("scale", "dense", q, k=10,
                                                    filter=F("h") == 3), list(Q))
        wide, wide_lat = [], []
        if hnsw_ef and entry.family == "qdrant":  # the same build, a wider graph walk
            conn.backend.hnsw_ef = hnsw_ef
            wide, wide_lat = _timed(lambda q: conn.search("scale", "dense", q, k=10), list(Q))
            conn.backend.hnsw_ef = None
        hybrid_lat: list[float] = []
        if "sparse" in fields:
            _, hybrid_lat = _timed(lambda i: conn.hybrid_search(
                "scale", {"dense": Q[i], "sparse": QS[i]}, k=10), list(range(len(Q))))
    finally:
        conn.close()
        for s in servers:
            s.stop()
    E = exact.astype(np.float32)
    del exact
    ids = np.arange(n)
    recall: dict[str, list[float]] = {"recall10": [], "recall10_filter1": [],
                                      "recall10_filter10": [], "recall10_ef": []}
    for i, q in enumerate(Q):
        s = E @ q
        for key, hits, mask in (("recall10", dense, None), ("recall10_filter1", one, ids % 100 == 7),
                                ("recall10_filter10", ten, ids % 10 == 3),
                                ("recall10_ef", wide, None)):
            if not hits:
                continue
            sm = s if mask is None else np.where(mask, s, -np.inf)
            truth = {str(j) for j in np.argpartition(-sm, 10)[:10]}
            recall[key].append(len({h.id for h in hits[i]} & truth) / 10)
    del E
    row: dict[str, Any] = {"serve_anon_mb": float("nan"), "serve_file_mb": float("nan")}
    on_disk = 0
    if entry.where == "embedded":
        folder = next(p for p in workdir.iterdir() if p.is_dir())
        on_disk = disk_bytes(folder)
        if name in SERVING_PROBE:
            row.update(serving_memory(name, folder, Q))

    def p(lat: list[float], q: float) -> float:
        return float(np.percentile(np.asarray(lat) * 1000, q)) if lat else float("nan")

    label = f"{name} ({milvus_index})" if milvus_index and entry.family == "milvus" else name
    row.update({"engine": label, "storage": storage, "n": n, "upsert_pts_s": n / upsert_s,
                "optimize_s": optimize_s, "dense_p50": p(dense_lat, 50),
                "dense_p95": p(dense_lat, 95), "hybrid_p50": p(hybrid_lat, 50),
                "filter1_p50": p(one_lat, 50), "filter10_p50": p(ten_lat, 50),
                **{k: statistics.mean(v) if v else float("nan") for k, v in recall.items()},
                "hnsw_ef": hnsw_ef if wide else None, "dense_ef_p50": p(wide_lat, 50),
                "rss_mb": rss,
                "raw_mb": n * data.dim * 4 / 2 ** 20, "disk_b_per_pt": on_disk / n})
    return row


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(15, 5))
    for name, storage in dict.fromkeys((r["engine"], r["storage"]) for r in rows):
        mine = sorted((r for r in rows if (r["engine"], r["storage"]) == (name, storage)),
                      key=lambda r: r["n"])
        ns, label = [r["n"] for r in mine], f"{name} {storage}"
        axes[0].loglog(ns, [r["dense_p50"] for r in mine], "o-", label=f"{label} dense")
        axes[0].loglog(ns, [r["hybrid_p50"] for r in mine], "s--", label=f"{label} hybrid")
        axes[0].loglog(ns, [r["filter1_p50"] for r in mine], "^:", label=f"{label} 1 % filter")
        axes[1].loglog(ns, [r["rss_mb"] for r in mine], "o-", label=f"{label} build RSS")
        serving = [(r["n"], r["serve_anon_mb"] + r["serve_file_mb"]) for r in mine
                   if r["serve_anon_mb"] == r["serve_anon_mb"]]  # embedded engines only
        if serving:
            axes[1].loglog(*zip(*serving), "s--", label=f"{label} serving")
    raw = sorted({(r["n"], r["raw_mb"]) for r in rows})
    axes[1].loglog([x for x, _ in raw], [y for _, y in raw], "k:", label="raw float vectors")
    axes[0].set(xlabel="points", ylabel="p50 ms", title="query latency")
    axes[1].set(xlabel="points", ylabel="MiB", title="memory")
    for ax in axes:  # beside each plot, never over the curves
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def _wide(r: dict[str, Any]) -> str:
    if not r.get("hnsw_ef"):
        return "—"
    return f"{r['hnsw_ef']}, {r['dense_ef_p50']:.2f}, {r['recall10_ef']:.3f}"


def report(rows: list[dict[str, Any]], command: str) -> list[str]:
    lines = ["# Scale: synthetic collections at growing sizes", "", command, "",
             "| engine | storage | N | upsert pts/s | optimize s | dense p50 / p95 ms | "
             "hybrid p50 ms | 1 % filter p50 ms | 10 % filter p50 ms | recall@10 dense / 1 % / "
             "10 % filter | wider walk: hnsw_ef, dense p50 ms, recall@10 | build RSS added MiB "
             "(raw floats) | serving MiB anon + file | disk B/point |", "|---" * 14 + "|"]
    lines += [f"| {r['engine']} | {r['storage']} | {r['n']:,} | {r['upsert_pts_s']:,.0f} | "
              f"{r['optimize_s']:.1f} | {r['dense_p50']:.2f} / {r['dense_p95']:.2f} | "
              f"{r['hybrid_p50']:.2f} | {r['filter1_p50']:.2f} | {r['filter10_p50']:.2f} | "
              f"{r['recall10']:.3f} / {r['recall10_filter1']:.3f} / {r['recall10_filter10']:.3f} | "
              f"{_wide(r)} | {r['rss_mb']:,.0f} ({r['raw_mb']:,.0f}) | {r['serve_anon_mb']:,.0f} + "
              f"{r['serve_file_mb']:,.0f} | {r['disk_b_per_pt']:,.0f} |" for r in rows]
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = study_parser(__doc__, __name__)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--engines", default="qdrant-edge,milvus-lite-file")
    ap.add_argument("--storage", default="ram",
                    help="comma-separated: ram, ram-<quantization>, disk-<quantization> "
                         "(e.g. disk-scalar-int8)")
    ap.add_argument("--url", default=None, help="a server (or cluster) URL for a server engine")
    ap.add_argument("--milvus-index", default=None,
                    help="the dense index Milvus Lite builds (MilvusConnector(index_type=...)): "
                         "FLAT (its default here, exact), HNSW (faiss)")
    ap.add_argument("--hnsw-ef", type=int, default=None,
                    help="Qdrant: also time dense queries with this hnsw_ef on the same build")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--tenants", type=int, default=0,
                    help="N > 0: one collection of N tenants, tenant-scoped queries against "
                         "unscoped ones in the same run (bench/studies/tenants.py)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="write the curves to this PNG")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--replot", action="store_true",
                    help="measure nothing: rewrite the table and plot from OUT/scale.jsonl "
                         "(the rows of every run so far)")
    args = ap.parse_args(argv)
    data = Synthetic(args.dim, args.seed)
    command = ("vectorbridge bench scale " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    out = Path(args.out)
    if args.tenants:
        from vectorbridge.bench.studies.tenants import run_scale

        run_scale(args, data, command)
        return
    if args.replot:
        rows = [json.loads(line) for line in (out / "scale.jsonl").read_text().splitlines()]
        write_report(out / "scale.md", report(
            rows, "The rows of every run in `scale.jsonl` (`vectorbridge bench scale --replot`; "
                  "each run's command: docs/scale.md)."))
        if args.plot:
            plot(rows, Path(args.plot))
        return
    rows = []
    for name in args.engines.split(","):
        entry = engine_entry(name)
        for storage in args.storage.split(","):
            dense_field(storage, args.dim)  # a bad --storage fails here, before any build
            if storage.startswith("disk") and not entry.capabilities.on_disk_vectors:
                print(f"  {name}: no on-disk vectors (capability on_disk_vectors); {storage} "
                      "skipped", flush=True)
                continue
            for n in (int(x) for x in args.sizes.split(",")):
                with tempfile.TemporaryDirectory(prefix=f"vb-scale-{name}-") as work:
                    r = measure(name, n, data, args.queries, Path(work), storage, args.url,
                                args.milvus_index, args.hnsw_ef)
                rows.append(r)
                print(f"  {name} {storage} N={n:,}: upsert {r['upsert_pts_s']:,.0f} pts/s, "
                      f"optimize {r['optimize_s']:.1f} s, dense p50 {r['dense_p50']:.2f} ms, "
                      f"hybrid {r['hybrid_p50']:.2f} ms, 1% filter {r['filter1_p50']:.2f} ms, "
                      f"recall@10 {r['recall10']:.3f} (1% filter {r['recall10_filter1']:.3f}), "
                      f"RSS +{r['rss_mb']:,.0f} MiB, serving {r['serve_anon_mb']:,.0f} + "
                      f"{r['serve_file_mb']:,.0f} MiB", flush=True)
                out.mkdir(parents=True, exist_ok=True)
                with open(out / "scale.jsonl", "a") as f:  # each row as it lands
                    f.write(json.dumps(r) + "\n")
                write_report(out / "scale.md", report(rows, f"Command: `{command}`."))
    if args.plot and rows:
        plot(rows, Path(args.plot))
