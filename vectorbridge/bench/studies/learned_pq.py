"""Learned PQ (Distill-VQ-style centroid distillation) vs k-means PQ at the same code size (issue 9).

    vectorbridge bench learned-pq DATA [--m 24,48,96]
        [--epochs 20] [--out DIR]

Cached all-MiniLM-L6-v2 vectors of the corpus. The queries are split in two halves (seed 0);
each half's *unlabelled* query vectors train :meth:`ProductQuantizer.distill` and the other
half is scored, then the halves swap, so every query is scored held out. For each code size
(``m`` bytes per vector, 256 centroids per subspace): the overlap of the ADC top-10 with the
exact top-10, nDCG@10 of ADC alone, recall@100 of ADC's top 100, and nDCG@10 after exact
rescoring of that top 100 (the retriever's path). The anchor is k-means PQ with the same
codes' size, fitted the same way, in the same run; exact float search is listed for reference.
"""

from __future__ import annotations

import time
from pathlib import Path


import numpy as np

from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, quality, write_report
from vectorbridge.encoders import ProductQuantizer


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--m", default="24,48,96")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, Q = dense_embeddings(c)
    exact = np.argsort(-(Q @ D.T), axis=1, kind="stable")[:, :100]
    halves = np.array_split(np.random.default_rng(0).permutation(len(Q)), 2)
    rows = [("exact float32", 4 * D.shape[1], 1.0, *quality(c.ds, c.qids, exact), float("nan"),
             quality(c.ds, c.qids, exact)[0], 0.0)]
    for m in [int(x) for x in args.m.split(",")]:
        for learned in (False, True):
            top = np.zeros_like(exact)
            t_train = 0.0
            for a, b in ((0, 1), (1, 0)):
                pq = ProductQuantizer(m).fit(D)
                codes = pq.encode(D)  # kept: distillation trains the centroids for these codes
                if learned:
                    t = time.perf_counter()
                    pq.distill(Q[halves[a]], D, epochs=args.epochs)
                    t_train += time.perf_counter() - t
                top[halves[b]] = pq.search(codes, Q[halves[b]], 100)[1]
            overlap = float(np.mean([len(set(x[:10]) & set(y[:10])) / 10 for x, y in zip(top, exact)]))
            n10, r100 = quality(c.ds, c.qids, top)
            rescored = np.array([row[np.argsort(-(D[row] @ Q[i]), kind="stable")] for i, row in enumerate(top)])
            name = f"{'Distill-VQ' if learned else 'k-means'} PQ, m={m}"
            rows.append((name, m, overlap, n10, r100, float("nan"),
                         quality(c.ds, c.qids, rescored)[0], t_train / 2))
            print(f"  {name}: overlap@10 {overlap:.4f}, ADC nDCG@10 {n10:.4f}, R@100 {r100:.4f}, "
                  f"rescored nDCG@10 {rows[-1][6]:.4f}", flush=True)
    lines = [f"# Learned PQ (Distill-VQ-style) vs k-means PQ, SciFact {args.split}", "",
             f"Command: `vectorbridge bench learned-pq DATA --m {args.m} --epochs {args.epochs}`; "
             f"{len(D)} docs, {len(Q)} queries, each scored with the centroids distilled on the other "
             "half's unlabelled queries.", "",
             "| codes | bytes/vector | overlap@10 with exact | ADC nDCG@10 | ADC recall@100 | "
             "nDCG@10 after exact rescoring of the top 100 | distill s (per half) |",
             "|---|---|---|---|---|---|---|"]
    for name, nbytes, ov, n10, r100, _, resc, t in rows:
        lines.append(f"| {name} | {nbytes} | {ov:.4f} | {n10:.4f} | {r100:.4f} | {resc:.4f} | {t:.1f} |")
    write_report(Path(args.out) / f"learned_pq_{Path(args.data).name}_{args.split}.md", lines)

