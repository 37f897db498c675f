"""Calibrated relevance filtering on SciFact: precision / recall of the kept set (issue 9).

    vectorbridge bench calibration DATA [--folds 5]
        [--out DIR]

Dense retrieval (cached all-MiniLM-L6-v2 vectors), top-``depth`` candidates per query. Every
cutoff is chosen on the training folds and scored on the held-out fold (``--folds``-fold
cross-validation over the split's labelled queries, seed 0), so no figure is tuned on the
queries it is scored on:

- raw top-k (k fixed; also the k with the best training F1),
- a raw cosine cutoff (one global threshold, best training F1),
- :class:`ScoreCalibrator` (query-dependent map, one global threshold on the calibrated
  score, best training F1), with the query's top scores as input (default) and with the
  embedding alone (the paper's input),
- and at matched result counts: each cutoff set on the training folds to keep ~1, 2, 3
  documents per query on average.

Precision and recall are pooled over queries (relevant kept / kept, relevant kept / relevant).
The calibrated rows are re-run through ``HybridRetriever(stages=[Calibrate(calibrator,
threshold=)])`` on Qdrant Edge; its kept sets must equal the numpy ones (checked, the count of differences is
printed).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from vectorbridge.bench.data import embeddings_for
from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, write_report
from vectorbridge.connectors import CollectionSpec, QdrantConnector
from vectorbridge.encoders._codes import topk
from vectorbridge.retrievers import Calibrate, HybridRetriever
from vectorbridge.retrievers.calibration import ScoreCalibrator, relevance_labels


def pooled(keep: np.ndarray, labels: np.ndarray, n_rel: np.ndarray) -> dict[str, float]:
    """Pooled precision / recall / F1 of boolean ``keep`` masks over the candidates."""
    kept, hit = keep.sum(), (keep & labels).sum()
    p = hit / kept if kept else 0.0
    r = hit / n_rel.sum()
    return {"P": p, "R": r, "F1": 2 * p * r / (p + r) if p + r else 0.0,
            "kept": keep.sum(axis=1).mean(), "empty": (keep.sum(axis=1) == 0).mean()}


def best_threshold(values: np.ndarray, labels: np.ndarray, n_rel: np.ndarray) -> float:
    """The global threshold on ``values`` with the best pooled F1 (candidates: quantiles)."""
    grid = np.unique(np.quantile(values, np.linspace(0.5, 1.0, 400)))
    return float(max(grid, key=lambda t: pooled(values >= t, labels, n_rel)["F1"]))


def size_threshold(values: np.ndarray, size: float) -> float:
    """The global threshold keeping ~``size`` candidates per query on average."""
    flat = np.sort(values.ravel())[::-1]
    return float(flat[min(int(round(size * len(values))) - 1, len(flat) - 1)])


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, Q = dense_embeddings(c)
    S, idx = topk(Q @ D.T, args.depth)
    qrels = [c.ds.qrels[q] for q in c.qids]
    Y = relevance_labels([[c.ds.doc_ids[j] for j in row] for row in idx], qrels)
    n_rel = np.array([sum(v > 0 for v in r.values()) for r in qrels])  # relevant beyond depth count too
    folds = np.array_split(np.random.default_rng(0).permutation(len(Q)), args.folds)

    methods: dict[str, np.ndarray] = {}  # name -> held-out keep mask (n_queries, depth)
    calibrated = {name: np.zeros_like(S) for name in ("calibrated", "calibrated, embedding only")}
    cals: dict[str, list[tuple[np.ndarray, ScoreCalibrator, float]]] = {n: [] for n in calibrated}
    ranks = np.arange(args.depth)[None, :]

    def add(name: str, test: np.ndarray, keep: np.ndarray) -> None:
        methods.setdefault(name, np.zeros_like(S, dtype=bool))[test] = keep

    t0 = time.perf_counter()
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(Q)), test)
        Ytr = Y[train]
        for k in (1, 3, 5, 10):
            add(f"raw top-{k}", test, np.broadcast_to(ranks < k, (len(test), args.depth)))
        best_k = max(range(1, 21), key=lambda k: pooled(np.broadcast_to(ranks < k, Ytr.shape), Ytr,
                                                         n_rel[train])["F1"])
        add("raw top-k, k by training F1", test, np.broadcast_to(ranks < best_k, (len(test), args.depth)))
        t = best_threshold(S[train], Ytr, n_rel[train])
        add("raw cosine cutoff, by training F1", test, S[test] >= t)
        for size in (1, 2, 3):
            add(f"raw cosine cutoff, ~{size}/query", test, S[test] >= size_threshold(S[train], size))
        for name, nfeat in (("calibrated", 5), ("calibrated, embedding only", 0)):
            cal = ScoreCalibrator(score_features=nfeat).fit(Q[train], S[train], Ytr)
            Ptr, Pte = cal.calibrate(Q[train], S[train]), cal.calibrate(Q[test], S[test])
            calibrated[name][test] = Pte
            tau = best_threshold(Ptr, Ytr, n_rel[train])
            add(f"{name}, threshold by training F1", test, Pte >= tau)
            cals[name].append((test, cal, tau))
            for size in (1, 2, 3):
                add(f"{name}, ~{size}/query", test, Pte >= size_threshold(Ptr, size))
        print(f"  fold {f + 1}/{args.folds}: top-k k={best_k}, cosine cutoff {t:.3f}, "
              f"calibrated threshold {cals['calibrated'][-1][2]:.3f}", flush=True)
    fit_s = (time.perf_counter() - t0) / args.folds

    # Brier score and the reliability of the default calibrator's probabilities (held out)
    P = calibrated["calibrated"]
    brier = float(((P - Y) ** 2).mean())
    bins = np.linspace(0, 1, 6)
    reliab = [(lo, hi, float(P[(P >= lo) & (P < hi)].mean()), float(Y[(P >= lo) & (P < hi)].mean()),
               int(((P >= lo) & (P < hi)).sum())) for lo, hi in zip(bins[:-1], bins[1:])
              if ((P >= lo) & (P < hi)).any()]

    # The real path: HybridRetriever on Qdrant Edge, each fold's calibrator and threshold.
    emb = embeddings_for(c.texts, D, c.qtexts, Q)
    conn = QdrantConnector(path=tempfile.mkdtemp(prefix="vb-relfilter-"))
    conn.create_collection(CollectionSpec(name="beir", dense={"dense": D.shape[1]}, text_key="text"))
    conn.upsert("beir", c.ds.doc_ids, {"dense": D}, [{"text": t} for t in c.texts], batch_size=512)
    conn.optimize("beir")
    differ, lat = 0, []
    want = methods["calibrated, threshold by training F1"]
    for test, cal, tau in cals["calibrated"]:
        r = HybridRetriever(connector=conn, collection="beir", dense=emb, k=args.depth,
                            stages=[Calibrate(cal, threshold=tau)])
        for i in test:
            t = time.perf_counter()
            got = [d.id for d in r.invoke(c.qtexts[i])]
            lat.append(time.perf_counter() - t)
            differ += got != [c.ds.doc_ids[j] for j in idx[i][want[i]]]
    conn.close()

    lines = [f"# Calibrated relevance filtering on SciFact {args.split}", "",
             f"Command: `vectorbridge bench calibration DATA --folds {args.folds}`; "
             f"{len(c.texts)} docs, {len(c.qids)} queries with qrels ({int(n_rel.sum())} relevant "
             f"pairs, {(Y.sum(axis=1) > 0).mean():.1%} of queries with one in the dense top "
             f"{args.depth}), all-MiniLM-L6-v2 cosine. {args.folds}-fold cross-validation: every "
             "cutoff and calibrator is fitted on the other folds; figures pooled over held-out queries.",
             "", "| method | precision | recall | F1 | kept / query | queries with none kept |",
             "|---|---|---|---|---|---|"]
    for name, keep in methods.items():
        m = pooled(keep, Y, n_rel)
        lines.append(f"| {name} | {m['P']:.3f} | {m['R']:.3f} | {m['F1']:.3f} | {m['kept']:.2f} "
                     f"| {m['empty']:.1%} |")
    keep = methods["calibrated, threshold by training F1"]
    empty = keep.sum(axis=1) == 0
    lines += ["", f"Queries the calibrated threshold leaves empty: {empty.sum()}; their raw top-1 "
              f"is relevant for {Y[empty, 0].mean():.1%} of them, against {Y[~empty, 0].mean():.1%} "
              "for the queries it keeps something for."]
    lines += ["", f"Held-out Brier score of the calibrated probabilities (top {args.depth}): "
              f"{brier:.4f}. Reliability (held out):", "",
              "| predicted | mean predicted | observed relevant | candidates |", "|---|---|---|---|"]
    lines += [f"| {lo:.1f}-{hi:.1f} | {mp:.3f} | {ob:.3f} | {n} |" for lo, hi, mp, ob, n in reliab]
    lines += ["", f"Fitting one calibrator: {fit_s:.1f} s per fold (both variants, CPU). Through "
              f"`HybridRetriever(stages=[Calibrate(calibrator, threshold=)])` on Qdrant Edge: {differ} of "
              f"{len(Q)} kept sets differ from the numpy figures above; p50 "
              f"{np.median(lat) * 1000:.1f} ms per query (top {args.depth} + calibration)."]
    print("\n".join(lines))
    write_report(Path(args.out) / f"relevance_filter_{Path(args.data).name}_{args.split}.md", lines)

