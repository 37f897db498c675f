"""``vectorbridge bench [pipelines] DATA``: every pipeline on every chosen engine over a BEIR
folder, the LangChain anchors side by side, encoder throughput and async concurrency, in one
run. ``vectorbridge bench <study> DATA`` runs one of the other studies (``--help`` lists them).

    vectorbridge bench ../shared/datasets/scifact     # defaults: ~5 minutes once the corpus is cached
    vectorbridge bench DATA --engines qdrant-edge,milvus-lite-file --pipelines dense,hybrid-rrf,pq-x16
    vectorbridge bench DATA --anchors --encoders --concurrency 1,4,16 --out bench-results
    vectorbridge bench prf DATA --grid

Dense vectors come from an on-disk cache keyed by model, precision and a hash of the texts
(``--cache``): the first run encodes the corpus (minutes with MiniLM on 2 CPU cores), reruns
skip it. Query vectors are served from the same cache, so latencies are the database path
(BM25 query encoding included) and never the dense model. Nothing here is a test: numbers
depend on the machine, and comparisons are ratios from alternating runs in the same process.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from vectorbridge.bench import anchors, pipelines
from vectorbridge.bench.data import dense_vectors, embeddings_for, load_corpus
from vectorbridge.bench.pipelines import DEFAULT_PIPELINES, ENGINES, PIPELINES, Encoded, Row
from vectorbridge.bench.report import ratios_table, rows_table, write


def _epilog() -> str:
    from vectorbridge.bench.studies import STUDIES

    width = max(map(len, STUDIES))
    lines = [f"  {name:<{width}}  {what}" for name, (_, what) in STUDIES.items()]
    return ("studies (vectorbridge bench <study> DATA ...; <study> -h for its options):\n"
            f"  {'pipelines':<{width}}  this command (the default): every pipeline x engine, "
            "and the flags below\n" + "\n".join(lines))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="vectorbridge bench [pipelines]", description=__doc__,
                                 epilog=_epilog(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="a BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/)")
    ap.add_argument("--split", default="train", help="qrels split (default: train)")
    ap.add_argument("--model", default=None,
                    help="sentence-transformers name or folder (default: the packaged MiniLM)")
    ap.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"),
                    help="precision the corpus is encoded with (default: float32)")
    ap.add_argument("--engines", default="qdrant-edge,milvus-lite-file",
                    help=f"comma list of {', '.join(ENGINES)}, qdrant-server=URL, "
                         "milvus-server=URI (older names: edge, milvus-lite, qdrant-url=, "
                         "milvus-uri=; default: qdrant-edge,milvus-lite-file)")
    ap.add_argument("--pipelines", default=",".join(DEFAULT_PIPELINES),
                    help=f"comma list of {', '.join(PIPELINES)} (default: all but splade and "
                         "rerank-maxsim, which need extra encodings)")
    ap.add_argument("--queries", type=int, default=300,
                    help="random queries (seed --seed) run on the engines; 0 = all (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-k", type=int, default=100, help="results per query (recall@100 needs 100)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="timed passes per pipeline; latency is the per-query median (default 1)")
    ap.add_argument("--max-docs", type=int, default=None, help="keep the first N documents")
    ap.add_argument("--anchors", action="store_true",
                    help="also run langchain-qdrant and langchain-milvus on the same vectors "
                         "(pip install -e '.[bench]')")
    ap.add_argument("--anchor-queries", type=int, default=100,
                    help="queries for the anchor comparison (local mode takes ~0.3 s per hybrid "
                         "query; default 100)")
    ap.add_argument("--encoders", action="store_true",
                    help="measure DenseEncoder docs/s of each --encoder-variants (rotating runs)")
    ap.add_argument("--encoder-variants", default="float32,auto,onnx-float32,onnx-int8",
                    help="comma list of float32 (torch, the anchor), auto (the default: "
                         "bfloat16 where native), bfloat16 (torch), "
                         "onnx-float32, onnx-int8 (ONNX Runtime; pip install -e '.[onnx]')")
    ap.add_argument("--encoder-quality", action="store_true",
                    help="also nDCG@10 of exact dense search with the whole corpus and the "
                         "queries encoded by each variant (cached; minutes per variant on a CPU)")
    ap.add_argument("--encode-docs", type=int, default=256, help="documents per encoder run")
    ap.add_argument("--concurrency", default=None,
                    help="comma list of in-flight levels (e.g. 1,4,16) for async ingest and "
                         "query against a milvus-lite server (or MILVUS_URI)")
    ap.add_argument("--splade", default=None, help="SPLADE model folder for the splade pipeline")
    ap.add_argument("--tokens", action="store_true",
                    help="encode (once, cached) per-token vectors for rerank-maxsim")
    ap.add_argument("--fusion-grid", action="store_true",
                    help="nDCG@10 of every fusion kind x RRF k x branch depth over exact branch "
                         "rankings of all queries, with paired bootstrap CIs against the "
                         "default (how the defaults were chosen)")
    ap.add_argument("--tie-cost", action="store_true",
                    help="p50 and repeat-stability of hybrid queries on Qdrant Edge with the "
                         "tie-safe cut and with the engine's own order (--queries of them)")
    ap.add_argument("--cache", default=".cache", help="embedding cache folder (default .cache)")
    ap.add_argument("--out", default=None, help="folder for <name>.json, <name>.md and plots")
    ap.add_argument("--no-plots", action="store_true")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """``vectorbridge bench [pipelines] DATA ...`` or ``vectorbridge bench <study> ...``."""
    from vectorbridge.bench.studies import STUDIES, study_main

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in STUDIES:
        study_main(argv[0])(argv[1:])
        return 0
    if argv and argv[0] == "pipelines":
        argv = argv[1:]
    return pipelines_main(argv)


def pipelines_main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from tqdm.auto import tqdm

    from vectorbridge.demo import default_model
    from vectorbridge.encoders import DenseEncoder

    c = load_corpus(args.data, args.split, args.queries, args.max_docs, args.seed)
    model = args.model or default_model()
    cache = Path(args.cache)
    print(f"{len(c.texts):,} docs, {len(c.qids)} queries ({len(c.subset)} timed), model {model}")
    loaded: list[DenseEncoder] = []

    def encoder() -> DenseEncoder:  # loaded only on a cache miss
        if not loaded:
            loaded.append(DenseEncoder(model, device="cpu", precision=args.precision, progress=True))
        return loaded[0]

    D = dense_vectors(model, c.texts, "dense", cache, lambda t: encoder().encode_documents(t),
                      args.precision)
    Q = dense_vectors(model, c.qtexts, "dense-q", cache, lambda t: encoder().encode_queries(t),
                      args.precision)
    emb = embeddings_for(c.texts, D, c.qtexts, Q)
    enc = Encoded(emb, D.shape[1], tokens=_tokens(args, model, c, cache), splade=_splade(args))
    chosen = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PIPELINES]
    if unknown:
        raise SystemExit(f"unknown pipelines {unknown}: choose from {PIPELINES}")

    workdir = Path(tempfile.mkdtemp(prefix="vb-bench-"))
    servers: list[Any] = []
    rows: list[Row] = []
    ratios: list[anchors.Ratio] = []
    extra: dict[str, Any] = {}
    try:
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            print(f"\n== {engine}", flush=True)
            got = pipelines.run_engine(c, enc, engine, chosen, args.k, args.repeat, workdir,
                                       servers, tqdm)
            rows += got
            print(rows_table(got), flush=True)
        if args.anchors:
            few = replace(c, subset=c.subset[:args.anchor_queries])
            for name, fn in (("langchain-qdrant", lambda: anchors.qdrant(few, emb, D.shape[1], 10,
                                                                        args.repeat, workdir)),
                             ("langchain-milvus", lambda: anchors.milvus(few, emb, 10, args.repeat,
                                                                        workdir))):
                print(f"\n== anchors: {name}", flush=True)
                try:
                    r, q = fn()
                except ImportError as e:
                    print(f"{name} skipped ({e}): pip install -e '.[bench]'")
                    continue
                rows += r
                ratios += q
                print(rows_table(r) + "\n\n" + ratios_table(q), flush=True)
        if args.encoders:
            from vectorbridge.bench.encoders import quality, throughput

            variants = [v.strip() for v in args.encoder_variants.split(",") if v.strip()]
            print("\n== encoders", flush=True)
            extra["encoders"] = e = throughput(model, c.texts[:args.encode_docs], variants)
            if args.encoder_quality:
                e["quality"] = quality(c, model, variants, cache)
            print(e, flush=True)
        if args.fusion_grid:
            from vectorbridge.bench import fusion

            print("\n== fusion grid (exact branches, all queries)", flush=True)
            extra["fusion_grid"] = fusion.grid(D, Q, c.texts, c.qtexts, c.ds.doc_ids,
                                               [c.ds.qrels[q] for q in c.qids])
        if args.tie_cost:
            from vectorbridge.bench import ties

            print("\n== tie-safe cut vs the engine's order (Qdrant Edge, hybrid RRF k=2)", flush=True)
            extra["ties"] = ties.measure(c.texts, c.ds.doc_ids, [c.qtexts[i] for i in c.subset],
                                         emb, workdir)
            print(extra["ties"], flush=True)
        if args.concurrency:
            from vectorbridge.bench.concurrency import scale

            uri = os.environ.get("MILVUS_URI")
            if not uri:
                from vectorbridge.local_servers import MilvusLiteServer

                servers.append(MilvusLiteServer(workdir / "conc-server"))
                uri = servers[-1].uri
            levels = [int(x) for x in args.concurrency.split(",")]
            print(f"\n== concurrency against {uri}", flush=True)
            extra["concurrency"] = scale(uri, c.ds.doc_ids, D, Q[c.subset], levels)
            extra["concurrency_uri"] = "MILVUS_URI" if os.environ.get("MILVUS_URI") else \
                "milvus-lite server on 127.0.0.1"
            print(extra["concurrency"], flush=True)
    finally:
        for s in servers:
            s.stop()

    meta = {"data": Path(args.data).name, "split": args.split, "docs": len(c.texts),
            "queries": len(c.subset), "seed": args.seed, "k": args.k, "model": _model_name(model),
            "precision": args.precision, "cpu": f"{platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs", "python": platform.python_version(),
            "command": "vectorbridge bench " + " ".join(shlex.quote(a) for a in argv)}
    print("\n" + rows_table(rows))
    if ratios:
        print("\n" + ratios_table(ratios))
    if "fusion_grid" in extra:
        from vectorbridge.bench import fusion

        lines = fusion.report(extra.pop("fusion_grid"),
                              {**meta, "docs": len(c.texts), "queries": len(c.qids),
                               "baseline": "RRF k=2, depth 100"})
        print("\n".join(lines))
        if args.out:
            out = Path(args.out) / f"fusion_{meta['data']}_{args.split}.md"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join(lines) + "\n")
            print(f"wrote {out}")
    if args.out and (rows or ratios or extra):
        stem = f"bench_{meta['data']}_{args.split}"
        for p in write(Path(args.out), stem, meta, rows, ratios, extra, not args.no_plots):
            print(f"wrote {p}")
    return 0


def _model_name(model: str) -> str:
    """A readable model name: a hub name as is, a packaged folder by its package."""
    p = Path(model)
    return f"{p.parent.name}/{p.name}" if p.name == "model" and p.parent.name else model


def _tokens(args: argparse.Namespace, model: str, c: Any, cache: Path) -> Any:
    """Cached per-token vectors (``--tokens``) behind a TokenEncoder-shaped object."""
    if not args.tokens:
        return None
    from vectorbridge.bench.data import CachedTokens, token_vectors
    from vectorbridge.encoders import TokenEncoder

    tok: list[TokenEncoder] = []

    def encoder() -> TokenEncoder:  # loaded only on a cache miss
        if not tok:
            tok.append(TokenEncoder(model, device="cpu", precision="float32", progress=True))
        return tok[0]

    docs = token_vectors(model, c.texts, "tokens", cache, lambda t: encoder().encode_documents(t))
    queries = token_vectors(model, c.qtexts, "tokens-q", cache,
                            lambda t: encoder().encode_queries(t))
    return CachedTokens(dict(zip(c.texts, docs)), dict(zip(c.qtexts, queries)))


def _splade(args: argparse.Namespace) -> Any:
    if args.splade is None:
        return None
    from vectorbridge.encoders import SpladeEncoder

    return SpladeEncoder(args.splade, device="cpu", precision=args.precision)


__all__ = ["main", "parser"]
