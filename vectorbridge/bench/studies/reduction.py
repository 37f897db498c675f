"""LinearReducer (LeanVec-style) through HybridRetriever on Qdrant Edge: reduced dimensions x
engine quantization x full-vector rescoring, against the full-dimension fields in the same run.

    vectorbridge bench reduction DATA [--dims 64,96,128,192]
        [--quant float,scalar-int8,binary-1bit] [--folds 5] [--plot PATH] [--out DIR]

Cached all-MiniLM-L6-v2 vectors of the corpus go into Qdrant Edge (HNSW, the defaults) once
per configuration with ``HybridRetriever.from_texts(stages=[Reduction(LinearReducer(dim),
quantization=q, oversample=4)])``: the reduced field is indexed (and quantized), the full
vectors are stored beside it without a graph. Every query of the split runs twice on each
build: the reduced field alone (``Reduction(..., full_vectors=False)``: the engine's own
quantized search, with its usual rescoring by the reduced floats) and with the top
``4 x 100`` re-ranked by the full vectors.

- **PCA** (``fit(X)``): fitted on the documents only; one build per configuration.
- **OOD** (``fit(X, queries=Q)``): fitted on the documents and the *unlabelled* query vectors
  of the training folds (``--folds``, seed 0); each fold's held-out queries run on that
  fold's build, so every query is scored held out.

Anchors, same run and engine: the full 384-d field as float, and with the same engine
quantizations (rescored by the engine with the float originals, oversampling 4). Reports
bytes per searched vector, recall@100 before the full-vector rescoring, nDCG@10 after,
p50 latency of ``invoke`` (k=100), and ingest + index build seconds (mean over folds).

``--scale N`` (default 100,000) adds what 5,183 documents cannot show, graph build and
search cost growing with the dimension: N synthetic vectors drawn from a Gaussian with the
corpus vectors' mean and covariance (seed 0, unit length), built once as the full field and
once per ``--scale-dims`` reduced field (PCA, float and each quantization, full rescore x4);
the corpus' real queries measure p50 and recall@10 against the exact top 10 of the N.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vectorbridge.bench.data import embeddings_for
from vectorbridge.bench.pipelines import quantized_bytes
from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, \
    write_report
from vectorbridge.connectors import QdrantConnector
from vectorbridge.encoders import LinearReducer
from vectorbridge.metrics import ndcg_at_k, recall_at_k
from vectorbridge.retrievers import HybridRetriever, Quantized, Reduction

K, OVERSAMPLE = 100, 4


def first_stage(quant: str | None, reducer: LinearReducer | None = None) -> list[Any]:
    """The stages of one configuration, oversampling ``OVERSAMPLE``: the reduced field
    (quantized by the engine with ``quant``) ranked again by the full vectors, or the full
    field quantized with ``quant`` (none when ``quant`` is ``None``: float)."""
    if reducer is not None:
        return [Reduction(reducer, quantization=quant, oversample=OVERSAMPLE)]
    return [Quantized(quant, oversample=OVERSAMPLE)] if quant is not None else []


def without_full_vectors(r: HybridRetriever) -> HybridRetriever:
    """``r`` searching the reduced field alone (its ``Reduction`` with ``full_vectors=False``)."""
    return r.model_copy(update={"stages": [
        dataclasses.replace(s, full_vectors=False) if isinstance(s, Reduction) else s
        for s in r.stages]})


class Run:
    """One corpus on one Edge folder: builds retrievers, scores query subsets, keeps rows."""

    def __init__(self, c: Any, D: np.ndarray, Q: np.ndarray) -> None:
        self.c, self.D, self.Q = c, D, Q
        self.emb = embeddings_for(c.texts, D, c.qtexts, Q)
        self.conn = QdrantConnector(path=tempfile.mkdtemp(prefix="vb-reduction-"))
        self.n = 0

    def build(self, quant: str | None,
              reducer: LinearReducer | None = None) -> tuple[HybridRetriever, float]:
        self.n += 1
        t = time.perf_counter()
        r = HybridRetriever.from_texts(self.c.texts, ids=self.c.ds.doc_ids, connector=self.conn,
                                       collection=f"c{self.n}", dense=self.emb, k=K,
                                       stages=first_stage(quant, reducer))
        return r, time.perf_counter() - t

    def rank(self, r: HybridRetriever, rows: np.ndarray, ranked: dict[str, list[str]],
             lat: list[float]) -> None:
        for i in rows:
            t = time.perf_counter()
            docs = r.invoke(self.c.qtexts[i])
            lat.append(time.perf_counter() - t)
            ranked[self.c.qids[i]] = [d.id for d in docs]

    def close(self) -> None:
        self.conn.close()


def score(c: Any, ranked: dict[str, list[str]]) -> tuple[float, float]:
    qrels = {q: c.ds.qrels[q] for q in ranked}
    return ndcg_at_k(ranked, qrels, 10), recall_at_k(ranked, qrels, K)


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--dims", default="64,96,128,192")
    ap.add_argument("--quant", default="float,scalar-int8,binary-1bit",
                    help="engine quantizations of the searched field ('float': none)")
    ap.add_argument("--folds", type=int, default=5, help="folds of the OOD fit (0: skip OOD)")
    ap.add_argument("--plot", default=None, help="write nDCG@10 vs bytes per vector here")
    ap.add_argument("--scale", type=int, default=100_000, help="synthetic points (0: skip)")
    ap.add_argument("--scale-dims", default="96")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, Q = dense_embeddings(c)
    run = Run(c, D, Q)
    everyone = np.arange(len(c.qids))
    quants = [None if q == "float" else q for q in args.quant.split(",")]
    rows: list[tuple[Any, ...]] = []  # label, dim, quant, bytes, recall before, nDCG, recall, p50, build s

    def nbytes(quant: str | None, dim: int) -> float:
        return 4.0 * dim if quant is None else quantized_bytes(quant, dim)

    def add(label: str, dim: int, quant: str | None, before: tuple[float, float] | None,
            after: dict[str, list[str]], lat: list[float], build_s: float) -> None:
        n10, r100 = score(c, after)
        row = (label, dim, quant or "float", nbytes(quant, dim), before[1] if before else r100,
               n10, r100, statistics.median(lat) * 1000, build_s)
        rows.append(row)
        print(f"  {label:44s} {row[3]:7.1f} B  recall@100 before {row[4]:.4f}  nDCG@10 {n10:.4f}  "
              f"recall@100 {r100:.4f}  p50 {row[7]:.2f} ms  build {build_s:.1f} s", flush=True)

    print(f"\n[anchors: the full {D.shape[1]}-d field on {run.conn.engine}]")
    for quant in quants:
        r, t = run.build(quant)
        ranked, lat = {}, []
        run.rank(r, everyone, ranked, lat)
        add(f"full {D.shape[1]}-d {quant or 'float'}", D.shape[1], quant, None, ranked, lat, t)

    folds = np.random.default_rng(0).permutation(len(c.qids)) % max(args.folds, 1)
    for dim in [int(x) for x in args.dims.split(",")]:
        for quant in quants:
            variants = [("PCA", [(everyone, None)])]
            if args.folds:
                variants.append(("OOD", [(np.flatnonzero(folds == f), np.flatnonzero(folds != f))
                                         for f in range(args.folds)]))
            for variant, splits in variants:
                plain, full, lat_plain, lat_full, builds = {}, {}, [], [], []
                for test, train in splits:
                    red = LinearReducer(dim).fit(D, queries=None if train is None else Q[train])
                    r, t = run.build(quant, red)
                    builds.append(t)
                    run.rank(without_full_vectors(r), test, plain, lat_plain)
                    run.rank(r, test, full, lat_full)
                label = f"{variant} {dim}-d {quant or 'float'}"
                add(f"{label}, no full rescore", dim, quant, None, plain, lat_plain,
                    statistics.mean(builds))
                add(f"{label} + full rescore x{OVERSAMPLE}", dim, quant, score(c, plain), full,
                    lat_full, statistics.mean(builds))
    run.close()
    scale_rows = at_scale(D, Q, args.scale, [int(x) for x in args.scale_dims.split(",")], quants) \
        if args.scale else []
    write(args, c, D, rows, scale_rows)


def at_scale(D: np.ndarray, Q: np.ndarray, n: int, dims: list[int],
             quants: list[str | None], n_queries: int = 300) -> list[tuple[Any, ...]]:
    """Build seconds, p50 and recall@10 of full and reduced fields over ``n`` synthetic points."""
    from vectorbridge.bench.data import CachedEmbeddings

    rng = np.random.default_rng(0)
    mean, cov = D.mean(axis=0), np.cov(D, rowvar=False)
    X = rng.multivariate_normal(mean, cov, size=n, method="cholesky").astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Qs = Q[:n_queries] / np.linalg.norm(Q[:n_queries], axis=1, keepdims=True)
    exact = [set(np.argsort(-(X @ q))[:10].tolist()) for q in Qs]
    texts, qtexts = [f"s{i}" for i in range(n)], [f"q{i}" for i in range(len(Qs))]
    emb = CachedEmbeddings({**dict(zip(texts, X)), **dict(zip(qtexts, Qs))})
    conn = QdrantConnector(path=tempfile.mkdtemp(prefix="vb-reduction-scale-"))
    print(f"\n[{n:,} synthetic points on {conn.engine}]")
    rows = []
    configs = [(D.shape[1], q, None) for q in quants] + \
        [(d, q, LinearReducer(d).fit(X[:50_000])) for d in dims for q in quants]
    for i, (dim, quant, red) in enumerate(configs):
        t = time.perf_counter()
        r = HybridRetriever.from_texts(texts, ids=[str(j) for j in range(n)], connector=conn,
                                       collection=f"s{i}", dense=emb, k=10,
                                       stages=first_stage(quant, red))
        build = time.perf_counter() - t
        lat, hit = [], []
        for _ in range(2):  # the first pass warms the page cache; the second is timed
            lat, hit = [], []
            for j, q in enumerate(qtexts):
                t = time.perf_counter()
                got = r.invoke(q)
                lat.append(time.perf_counter() - t)
                hit.append(len({int(d.id) for d in got} & exact[j]) / 10)
        label = f"{'full' if red is None else 'PCA'} {dim}-d {quant or 'float'}" + \
            ("" if red is None else f" + full rescore x{OVERSAMPLE}")
        rows.append((label, build, statistics.median(lat) * 1000, float(np.mean(hit))))
        print(f"  {label:44s} build {build:6.1f} s  p50 {rows[-1][2]:.2f} ms  "
              f"recall@10 {rows[-1][3]:.4f}", flush=True)
        conn.drop_collection(f"s{i}")
    conn.close()
    return rows


def write(args: Any, c: Any, D: np.ndarray, rows: list[tuple[Any, ...]],
          scale_rows: list[tuple[Any, ...]]) -> None:
    anchor = rows[0]
    lines = [f"# Linear reduction (LinearReducer) on {Path(args.data).name} {args.split}", "",
             f"Command: `vectorbridge bench reduction DATA --dims {args.dims} --quant {args.quant} "
             f"--folds {args.folds}`; {len(c.texts)} docs, {len(c.qids)} queries, Qdrant Edge "
             f"(HNSW defaults), HybridRetriever(k={K}, oversample={OVERSAMPLE}). Bytes: the "
             "searched field per vector (a full-rescore row also keeps the "
             f"{D.shape[1] * 4} B float vector, without a graph). Build: ingest + index, seconds.",
             "", "| configuration | bytes | recall@100 before full rescore | nDCG@10 | "
             "Δ nDCG vs full float | recall@100 | p50 ms | build s |",
             "|---|---|---|---|---|---|---|---|"]
    for label, _, _, b, before, n10, r100, p50, build in rows:
        lines.append(f"| {label} | {b:g} | {before:.4f} | {n10:.4f} | {n10 - anchor[5]:+.4f} | "
                     f"{r100:.4f} | {p50:.2f} | {build:.1f} |")
    if scale_rows:
        base = scale_rows[0]
        lines += ["", f"## {args.scale:,} synthetic points (the corpus vectors' Gaussian, seed 0)",
                  "", "Exact top 10 of the synthetic set as the truth; 300 corpus queries, "
                  "HybridRetriever(k=10), second pass timed.", "",
                  "| configuration | ingest + build s | build vs full float | p50 ms | "
                  "p50 vs full float | recall@10 |", "|---|---|---|---|---|---|"]
        lines += [f"| {label} | {b:.1f} | {b / base[1]:.2f}x | {p:.2f} | {p / base[2]:.2f}x | "
                  f"{rec:.4f} |" for label, b, p, rec in scale_rows]
    write_report(Path(args.out) / f"reduction_{Path(args.data).name}_{args.split}.md", lines)
    if args.plot:
        plot(rows, args.plot)


def plot(rows: list[tuple[Any, ...]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    groups: dict[str, list[tuple[float, float]]] = {}
    for label, _, quant, b, _, n10, *_ in rows:
        kind = "full-d anchors" if label.startswith("full") else \
            f"{label.split()[0]} {'+ full rescore' if 'rescore x' in label else 'alone'}"
        groups.setdefault(kind, []).append((b, n10))
        if label.startswith("full"):
            ax.annotate(quant, (b, n10), fontsize=7)
    for kind, pts in groups.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o" if "anchor" in kind else ".",
                label=kind, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("bytes per searched vector (log)")
    ax.set_ylabel("nDCG@10")
    ax.legend(fontsize=8)
    ax.set_title("LinearReducer x engine quantization, Qdrant Edge")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    print(f"plot written to {path}")
