"""Token vectors in the engine: float32 vs ColBERTv2 residual codes, on Qdrant Edge (issue 9).

    vectorbridge bench token-storage DATA [--queries 300]
        [--centroids 4096] [--nbits 2] [--docs 1000] [--out DIR]

Four collections of the same documents (cached all-MiniLM-L6-v2 token vectors; by default
1,000 of SciFact's: the scored queries' relevant ones and random others), each with the
MUVERA FDE first stage: (a) float32 token vectors, MaxSim run by the engine over the FDE's
top ``k``; (b) ``MaxSim(..., codec=ResidualCodec(...))``: uint8 codes in the engine, the
top ``k`` fetched, decoded and scored client-side; (c) as (b) with
``fde_quantization="pq-x32"`` (Qdrant PQ of the FDEs, MUVERA's production setting); and
float32 tokens pooled by 4 (``TokenPooler(4)``), MaxSim in the engine. Reports the codec's
fit time, ingest time, the collection's size on disk, query latency p50/p95 over a fixed
random subset of queries (seed 0) and nDCG@10 / recall@100 over the same subset.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from vectorbridge.bench.data import CachedTokens
from vectorbridge.bench.studies.common import beir_parser, load_corpus, token_embeddings, write_report
from vectorbridge.connectors import QdrantConnector
from vectorbridge.encoders import FDEEncoder, ResidualCodec, TokenPooler
from vectorbridge.metrics import ndcg_at_k, recall_at_k
from vectorbridge.retrievers import HybridRetriever, MaxSim

K = 100


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--centroids", type=int, default=4096)
    ap.add_argument("--nbits", type=int, default=2)
    ap.add_argument("--docs", type=int, default=1000,
                    help="documents stored: the scored queries' relevant ones plus random others "
                         "(0 = all; the float collection's HNSW build over all 1.24 M SciFact "
                         "tokens ran > 20 min here)")
    ap.add_argument("--float-only", action="store_true",
                    help="only the float32 row (no codec fit): the ingest of every token")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    doc_tok, q_tok = token_embeddings(c)
    tok = CachedTokens(dict(zip(c.texts, doc_tok)), dict(zip(c.qtexts, q_tok)))
    rng = np.random.default_rng(0)
    subset = sorted(rng.choice(len(c.qids), min(args.queries, len(c.qids)), replace=False).tolist())
    keep = np.arange(len(c.texts))
    if args.docs:  # every relevant document of the scored queries, then random others
        pos = {d: i for i, d in enumerate(c.ds.doc_ids)}
        rel = {pos[d] for i in subset for d in c.ds.qrels[c.qids[i]] if d in pos}
        rest = rng.permutation([i for i in range(len(c.texts)) if i not in rel])
        keep = np.array(sorted(rel) + sorted(rest[: max(args.docs - len(rel), 0)].tolist()))
    texts, ids = [c.texts[i] for i in keep], [c.ds.doc_ids[i] for i in keep]
    doc_tok = [doc_tok[i] for i in keep]
    t = time.perf_counter()
    codec = None if args.float_only else ResidualCodec(args.centroids, args.nbits).fit(doc_tok)
    fit_s = time.perf_counter() - t
    rows = []
    variants: list[tuple[str, dict[str, Any]]] = [("float32 tokens, MaxSim in the engine", {})]
    if codec is not None:
        variants += [("float32 tokens pooled x4 (hierarchical), MaxSim in the engine",
                      {"pooling": TokenPooler(4)}),
                     (f"residual codes ({args.centroids} centroids, {args.nbits} bit), "
                      "MaxSim client-side", {"codec": codec}),
                     ("residual codes + FDE PQ x32 in the engine (rescored x4 by float FDEs)",
                      {"codec": codec, "fde_quantization": "pq-x32"})]
    for name, extra in variants:
        root = Path(tempfile.mkdtemp(prefix="vb-tokens-"))
        conn = QdrantConnector(path=str(root))
        t = time.perf_counter()
        r = HybridRetriever.from_texts(texts, ids=ids, connector=conn, collection="beir",
                                       stages=[MaxSim(tok, k=K, fde=FDEEncoder(), **extra)],
                                       k=K, batch_size=64)
        ingest = time.perf_counter() - t
        conn.close()  # flush, then measure what is on disk
        size = du(root)
        conn = QdrantConnector(path=str(root))
        r = r.model_copy(update={"connector": conn})
        ranked, lat = {}, []
        for i in subset:
            t = time.perf_counter()
            ranked[c.qids[i]] = [d.id for d in r.invoke(c.qtexts[i])]
            lat.append(time.perf_counter() - t)
        qrels = {q: c.ds.qrels[q] for q in ranked}
        row = (name, ingest, size, statistics.median(lat) * 1000,
               float(np.percentile(lat, 95)) * 1000, ndcg_at_k(ranked, qrels, 10),
               recall_at_k(ranked, qrels, K))
        rows.append(row)
        print(f"  {name}: ingest {ingest:.0f} s, {size / 2 ** 20:.0f} MiB on disk, p50 {row[3]:.1f} ms, "
              f"nDCG@10 {row[5]:.4f}", flush=True)
        conn.close()
    n_tok = sum(len(d) for d in doc_tok)
    lines = [f"# Token vectors in Qdrant Edge: float32 vs residual codes, SciFact {args.split}", "",
             f"Command: `vectorbridge bench token-storage DATA --queries {args.queries} --centroids "
             f"{args.centroids} --nbits {args.nbits} --docs {args.docs}"
             f"{' --float-only' if args.float_only else ''}`; {len(texts)} docs "
             f"({n_tok:,} tokens: the scored queries' relevant documents and random others), "
             f"{len(subset)} queries (seed 0); FDE top {K} then MaxSim. Codec fit: {fit_s:.0f} s. "
             f"Token payload alone: {n_tok * 384 * 4 / 2 ** 20:.0f} MiB float32"
             + (f" vs {n_tok * codec.bytes_per_token / 2 ** 20:.0f} MiB codes." if codec else "."),
             "",
             "| tokens | ingest s | collection on disk MiB | p50 ms | p95 ms | nDCG@10 | recall@100 |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {n} | {i:.0f} | {s / 2 ** 20:.0f} | {p50:.1f} | {p95:.1f} | {nd:.4f} | {rc:.4f} |"
              for n, i, s, p50, p95, nd, rc in rows]
    write_report(Path(args.out) / f"token_storage_{Path(args.data).name}_{args.split}.md", lines)

