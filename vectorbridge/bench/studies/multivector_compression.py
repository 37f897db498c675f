"""Multi-vector compression on SciFact: token pooling, PQ'd FDEs, ColBERTv2 residuals (issue 9).

    vectorbridge bench multivector DATA \
        [--factors 2,3,4] [--methods hierarchical,kmeans] [--fde-pq] \
        [--residual 1,2 --centroids 1024,4096] [--out DIR]

For each pooling setting, from the cached all-MiniLM-L6-v2 token vectors of the 5,183
documents (queries are never pooled): vectors and bytes per document, nDCG@10 / recall@100 of
the production path, MUVERA FDE top-100 (the FDE computed from the pooled tokens) then exact
MaxSim on the pooled tokens, and with ``--exact`` of exact MaxSim over every document. The anchor is the
unpooled pipeline in the same run. Pooled tokens are cached next to the token cache.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


from vectorbridge.bench.data import cache_key, cached, split_tokens
from vectorbridge.bench.studies.common import (
    beir_parser, exact_maxsim_top, load_corpus, maxsim_rerank, write_report,
)
from vectorbridge.bench.studies.common import quality as common_quality
from vectorbridge.encoders import FDEEncoder, ProductQuantizer
from vectorbridge.encoders.pooling import TokenPooler
from vectorbridge.encoders.residual import ResidualCodec

K = 100


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--factors", default="2,3,4")
    ap.add_argument("--methods", default="hierarchical,kmeans")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--exact", action="store_true",
                    help="also exact MaxSim over every document (~15 min per setting on 2 cores)")
    ap.add_argument("--fde-pq", action="store_true",
                    help="also PQ-compress the FDE first stage (m = dim/8, 256 centres: 32x)")
    ap.add_argument("--fde-pq-with", default="hierarchical",
                    help="the pooling method whose FDEs are also PQ-compressed")
    ap.add_argument("--residual", default="",
                    help="ColBERTv2 residual compression of the (unpooled) tokens at these bits "
                         "per dimension, e.g. 1,2; the FDE first stage stays float")
    ap.add_argument("--centroids", default="4096",
                    help="residual codec centroids (comma-separated to compare)")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    ds = c.ds
    tok_key = cache_key(c.model, c.texts, "tokens")
    doc_tok = split_tokens(np.load(c.cache / f"{tok_key}.npz"))
    q_tok = split_tokens(np.load(c.cache / f"{cache_key(c.model, c.qtexts, 'tokens-q')}.npz"))
    dim = doc_tok[0].shape[1]

    def quality(idx: np.ndarray) -> tuple[float, float]:
        return common_quality(ds, c.qids, idx, K)

    settings = [("none", 1.0)] + [(m, float(f)) for m in args.methods.split(",")
                                  for f in args.factors.split(",")]
    rows, pq_rows = [], []
    for method, factor in settings:
        t = time.perf_counter()
        if method == "none":
            pooled = doc_tok
        else:
            pooler = TokenPooler(factor, method)
            z = cached(c.cache / f"pooled-{method}-{factor:g}-{tok_key}.npz", lambda: {
                "vecs": np.concatenate(p := pooler.pool(doc_tok)),
                "lens": np.array([len(x) for x in p])})
            pooled = split_tokens(z)
        t_pool = time.perf_counter() - t
        vecs = float(np.mean([len(d) for d in pooled]))
        exact = quality(exact_maxsim_top(pooled, q_tok, K)) if args.exact else (float("nan"),) * 2
        fde = FDEEncoder()
        F = np.concatenate([fde.encode_documents(pooled[i:i + 256]) for i in range(0, len(pooled), 256)])
        fde_top = np.argsort(-(fde.encode_queries(q_tok) @ F.T), axis=1, kind="stable")[:, :K]
        staged = quality(maxsim_rerank(fde_top, pooled, q_tok))
        if method == "none":
            anchor_top = fde_top
        rows.append((method, factor, vecs, vecs * dim * 4, exact, staged, t_pool))
        if args.fde_pq and method in ("none", args.fde_pq_with):
            # MUVERA's production first stage: PQ with 256 centres per 8 FDE dimensions (32x).
            pq = ProductQuantizer(m=F.shape[1] // 8, nbits=8, train_threads=2).fit(F)
            codes = pq.encode(F)
            FQ = fde.encode_queries(q_tok)
            pq_top = np.concatenate([pq.search(codes, FQ[i:i + 64], K)[1]
                                     for i in range(0, len(FQ), 64)])
            pq_rows.append((method, factor, F.shape[1] * 4, codes.shape[1], quality(pq_top),
                            quality(maxsim_rerank(pq_top, pooled, q_tok)), staged))
            print(f"  FDE PQ {codes.shape[1]} B/doc (from {F.shape[1] * 4}): top-100 nDCG@10 "
                  f"{pq_rows[-1][4][0]:.4f}, + MaxSim {pq_rows[-1][5][0]:.4f}", flush=True)
        print(f"{method:12s} x{factor:g}: {vecs:6.1f} vectors/doc, {vecs * dim * 4 / 1024:6.1f} KiB/doc, "
              + (f"exact MaxSim nDCG@10 {exact[0]:.4f} R@100 {exact[1]:.4f}, " if args.exact else "")
              + f"FDE+MaxSim nDCG@10 {staged[0]:.4f} R@100 {staged[1]:.4f} (pool {t_pool:.0f} s)",
              flush=True)
    res_rows = []
    for n_cent in [int(x) for x in args.centroids.split(",") if x] if args.residual else []:
        for nbits in [int(x) for x in args.residual.split(",") if x]:
            t = time.perf_counter()
            codec = ResidualCodec(n_cent, nbits).fit(doc_tok)
            t_fit = time.perf_counter() - t
            t = time.perf_counter()
            decoded = [codec.decode(*codec.encode(d)) for d in doc_tok]
            t_code = time.perf_counter() - t
            cos = float(np.mean([(a * b).sum(axis=1).mean() for a, b in zip(decoded[:500], doc_tok)]))
            got = quality(maxsim_rerank(anchor_top, decoded, q_tok))
            exact = quality(exact_maxsim_top(decoded, q_tok, K)) if args.exact else (float("nan"),) * 2
            res_rows.append((n_cent, nbits, codec.bytes_per_token, got, exact, cos, t_fit, t_code))
            print(f"residual {n_cent} centroids x {nbits} bit: {codec.bytes_per_token} B/token, "
                  f"cos(decoded, original) {cos:.4f}, FDE+MaxSim nDCG@10 {got[0]:.4f} R@100 {got[1]:.4f} "
                  f"(fit {t_fit:.0f} s, encode+decode {t_code:.0f} s)", flush=True)
    base = rows[0]
    flags = f"--factors {args.factors} --methods {args.methods}" + (" --fde-pq" if args.fde_pq else "") \
        + (" --exact" if args.exact else "") \
        + (f" --residual {args.residual} --centroids {args.centroids}" if args.residual else "")
    lines = [f"# Multi-vector compression: token pooling, SciFact {args.split} "
             f"({len(doc_tok)} docs, {len(q_tok)} queries, all-MiniLM-L6-v2 tokens)", "",
             f"Command: `vectorbridge bench multivector DATA {flags}`", "",
             "| pooling | vectors/doc | KiB/doc (float32) | "
             + ("exact MaxSim nDCG@10 | vs none | " if args.exact else "")
             + "FDE top-100 + MaxSim nDCG@10 | vs none | recall@100 (FDE+MaxSim) |",
             "|---|---|---|" + ("---|---|" if args.exact else "") + "---|---|---|"]
    for method, factor, vecs, nbytes, exact, staged, _ in rows:
        name = "none (anchor)" if method == "none" else f"{method}, factor {factor:g}"
        ex = f"{exact[0]:.4f} | {exact[0] / base[4][0]:.1%} | " if args.exact else ""
        lines.append(f"| {name} | {vecs:.1f} | {nbytes / 1024:.1f} | {ex}{staged[0]:.4f} | "
                     f"{staged[0] / base[5][0]:.1%} | {staged[1]:.4f} |")
    if pq_rows:
        lines += ["", "FDE first stage compressed by PQ (MUVERA's production setting: 256 centres "
                  "per 8 dimensions), candidates then rescored by exact MaxSim:", "",
                  "| pooling | FDE bytes/doc, float32 -> PQ | PQ top-100 nDCG@10 | + MaxSim nDCG@10 | "
                  "float FDE + MaxSim nDCG@10 |", "|---|---|---|---|---|"]
        for method, factor, fb, pb, first, both, ref in pq_rows:
            name = "none" if method == "none" else f"{method}, factor {factor:g}"
            lines.append(f"| {name} | {fb:,} -> {pb:,} ({fb // pb}x) | {first[0]:.4f} | "
                         f"{both[0]:.4f} | {ref[0]:.4f} |")
    if res_rows:
        n_tok = float(np.mean([len(d) for d in doc_tok]))
        lines += ["", "ColBERTv2 residual compression of the token vectors (centroid id + `nbits` per "
                  "dimension, per-dimension quantile buckets); FDE top-100 from the float tokens, then "
                  "MaxSim over the decoded tokens. `--residual "
                  f"{args.residual} --centroids {args.centroids}`:", "",
                  "| codec | bytes/token | KiB/doc | vs float32 | vs float16 | mean cos(decoded, original) | "
                  "FDE + MaxSim nDCG@10 | vs none | recall@100 | "
                  + ("exact MaxSim nDCG@10 | " if args.exact else "") + "fit s | encode+decode s |",
                  "|---|---|---|---|---|---|---|---|---|" + ("---|" if args.exact else "") + "---|---|"]
        for n_cent, nbits, bpt, got, exact, cos, t_fit, t_code in res_rows:
            ex = f"{exact[0]:.4f} | " if args.exact else ""
            lines.append(f"| {n_cent} centroids, {nbits} bit | {bpt} | {n_tok * bpt / 1024:.1f} | "
                         f"{dim * 4 / bpt:.1f}x smaller | {dim * 2 / bpt:.1f}x smaller | {cos:.4f} | "
                         f"{got[0]:.4f} | {got[0] / base[5][0]:.1%} | {got[1]:.4f} | {ex}{t_fit:.0f} | "
                         f"{t_code:.0f} |")
    write_report(Path(args.out) / f"multivector_compression_{Path(args.data).name}_{args.split}.md", lines)

