"""Quantizers on a BEIR folder (default SciFact train): bytes, quality with and without
rescoring, and speed against each one's anchor in the same run.

    vectorbridge bench quantizers DATA [--plot quantizers.png]
    (anchors: matplotlib from `pip install -e ".[bench]"`; fastembed's Muvera with
    `pip install --no-deps fastembed==0.9.1 loguru mmh3 py-rust-stemmers pillow`, since
    fastembed caps huggingface-hub below 2.0, which the lock cannot hold)

- BinaryQuantizer(1 / 1 centred / 2 / 4 bits): candidates by Hamming distance; rescored with
  the float documents (oversample 2, 4, 10) or, sentence-transformers' way, float query .
  document bits (+-1). Anchors: sentence-transformers ``quantize_embeddings(ubinary)`` for
  encoding, faiss ``IndexBinaryFlat`` for search.
- ProductQuantizer(m=96 and 48, 8 bits): candidates by ADC, rescored with float documents.
  Anchor: faiss ``IndexPQ`` (same m, nbits), quality and train/search time.
- FDEEncoder (reps=20, k_sim=5, d_proj=16): FDE top-100, then exact MaxSim over them,
  against exact MaxSim over all documents. Anchor: fastembed ``Muvera`` encode throughput.

Quality is nDCG@10 and recall@100 of the final top 100 per query; "oversample x" means
``x * 100`` code candidates. Embeddings come from the on-disk cache of the other benchmarks.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from vectorbridge.bench.data import cache_key, split_tokens
from vectorbridge.bench.studies.common import (
    beir_parser, dense_embeddings, exact_maxsim_top, load_corpus, maxsim_rerank,
)
from vectorbridge.bench.studies.common import quality as common_quality
from vectorbridge.encoders import BinaryQuantizer, FDEEncoder, ProductQuantizer
from vectorbridge.encoders._codes import topk

K = 100


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[Any, float]:
    """Result and best-of-``repeat`` seconds."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def rescore(cand: np.ndarray, Q: np.ndarray, D: np.ndarray, k: int = K) -> np.ndarray:
    """Re-rank each query's candidates (indices) by float dot product; top ``k`` indices."""
    s = np.einsum("qd,qcd->qc", Q, D[cand])
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cand, order, axis=1)


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--plot", default=None, help="write quality vs bytes/vector to this PNG")
    ap.add_argument("--fde-docs", type=int, default=2000, help="docs for the FDE speed anchor")
    ap.add_argument("--engine-queries", type=int, default=300,
                    help="queries for the end-to-end run through HybridRetriever (0: skip)")
    ap.add_argument("--milvus-server", action="store_true",
                    help="also run the engine path on a real Milvus 2.3.5 server (PyPI `milvus`, "
                         "started on 127.0.0.1): IVF_PQ / IVF_SQ8 + exact rescoring")
    ap.add_argument("--ivf-nprobe", type=int, nargs="+", default=[16, 64],  # 64: the default
                    help="IVF clusters visited per query on Milvus (of 128), one run each")
    ap.add_argument("--fde-speed-only", action="store_true",
                    help="only the FDE encoding speed against fastembed's Muvera")
    ap.add_argument("--engine-only", action="store_true",
                    help="skip the client-side sections; float anchor + engine path only")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    ds, texts, qids, qtexts, model, cache = c.ds, c.texts, c.qids, c.qtexts, c.model, c.cache
    D, Q = dense_embeddings(c)
    rows: list[tuple[str, float, float, float, str]] = []  # name, bytes, ndcg, recall, note

    def quality(idx: np.ndarray, subset: np.ndarray | None = None) -> tuple[float, float]:
        return common_quality(ds, qids, idx, K, subset)

    def report(name: str, nbytes: float, idx: np.ndarray, note: str = "",
               subset: np.ndarray | None = None) -> None:
        n10, r100 = quality(idx, subset)
        rows.append((name, nbytes, n10, r100, note))
        print(f"  {name:46s} {nbytes:7.1f} B  nDCG@10 {n10:.4f}  recall@100 {r100:.4f}  {note}", flush=True)

    if args.fde_speed_only:
        tz = np.load(cache / f"{cache_key(model, texts, 'tokens')}.npz")
        return fde_speed(split_tokens(tz), args.fde_docs)

    print("\n[float32]")
    report("float32 dense (exact)", D.shape[1] * 4, topk(Q @ D.T, K)[1])
    float_ndcg = rows[-1][2]
    if args.engine_only:
        engine_path(ds, qids, qtexts, D, Q, args.engine_queries, report,
                    args.ivf_nprobe if args.milvus_server else [])
        return print_table(rows, float_ndcg)

    print("\n[binary]")
    from sentence_transformers.util.quantization import quantize_embeddings
    import faiss

    for bits, center in ((1, False), (1, True), (2, False), (4, False)):
        bq = BinaryQuantizer(bits, center=center).fit(D)
        codes, t_ours = timed(lambda: bq.encode(D))
        label = f"binary {bits}-bit{' centred' if center else ''}"
        note = ""
        if bits == 1 and not center:
            st, t_st = timed(lambda: quantize_embeddings(D, precision="ubinary"))
            assert np.array_equal(st, codes), "1-bit codes differ from sentence-transformers'"
            note = f"encode {len(D) / t_ours:,.0f}/s = {t_st / t_ours:.2f}x quantize_embeddings"
        report(f"{label}, Hamming top-100", bq.bytes_per_vector, bq.search(codes, Q, K)[1], note)
        if bits > 1:
            report(f"{label}, asymmetric top-100", bq.bytes_per_vector,
                   bq.search(codes, Q, K, mode="asymmetric")[1])
        for os_ in (2, 4, 10):
            cand = bq.search(codes, Q, os_ * K)[1]
            report(f"{label} + float rescore x{os_}", bq.bytes_per_vector, rescore(cand, Q, D))
        if bits == 1 and not center:
            signs = np.unpackbits(codes, axis=1).astype(np.float32) * 2 - 1
            cand = bq.search(codes, Q, 10 * K)[1]
            report(f"{label} + query . doc bits rescore x10 (ST)", bq.bytes_per_vector,
                   rescore(cand, Q, signs))
            index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
            index.add(codes)
            qcodes = bq.encode(Q)
            _, t_faiss = timed(lambda: index.search(qcodes, K))
            _, t_mine = timed(lambda: bq.search(codes, Q, K))
            print(f"    Hamming search of {len(Q)} queries: ours {t_mine * 1000:.0f} ms, faiss "
                  f"IndexBinaryFlat {t_faiss * 1000:.0f} ms (ratio {t_faiss / t_mine:.2f})")

    print("\n[product quantization]")
    for m in (96, 48):
        pq = ProductQuantizer(m=m, nbits=8)
        _, t_train = timed(lambda: pq.fit(D), repeat=1)
        codes = pq.encode(D)
        anchor = faiss.IndexPQ(D.shape[1], m, 8, faiss.METRIC_INNER_PRODUCT)
        faiss.omp_set_num_threads(1)
        _, t_atrain = timed(lambda: anchor.train(D), repeat=1)
        anchor.add(D)
        (_, aidx), t_asearch = timed(lambda: anchor.search(Q, K))
        (_, idx), t_search = timed(lambda: pq.search(codes, Q, K))
        note = (f"train {t_train:.1f}s (faiss IndexPQ {t_atrain:.1f}s), search {t_search * 1000:.0f} ms "
                f"(faiss {t_asearch * 1000:.0f} ms)")
        report(f"PQ m={m} ({D.shape[1] * 4 // m}x), ADC top-100", m, idx, note)
        report(f"faiss IndexPQ m={m}, top-100 (anchor)", m, aidx)
        for os_ in (2, 4, 10):
            cand = pq.search(codes, Q, os_ * K)[1]
            report(f"PQ m={m} + float rescore x{os_}", m, rescore(cand, Q, D))

    print("\n[MUVERA FDE]")
    tz = np.load(cache / f"{cache_key(model, texts, 'tokens')}.npz")
    qz = np.load(cache / f"{cache_key(model, qtexts, 'tokens-q')}.npz")
    doc_tok, q_tok = split_tokens(tz), split_tokens(qz)
    fde = FDEEncoder()
    t = time.perf_counter()
    F = np.concatenate([fde.encode_documents(doc_tok[i:i + 256]) for i in range(0, len(doc_tok), 256)])
    t_fde = time.perf_counter() - t
    FQ = fde.encode_queries(q_tok)
    fde_top = topk(FQ @ F.T, K)[1]
    report("FDE (10,240-d float32), top-100", F.shape[1] * 4, fde_top,
           f"encode {len(doc_tok) / t_fde:,.0f} docs/s")

    report("FDE top-100 + exact MaxSim", F.shape[1] * 4, maxsim_rerank(fde_top, doc_tok, q_tok))
    exact_top = exact_maxsim_top(doc_tok, q_tok, K)
    report("exact MaxSim over all documents (reference)", float(tz["lens"].mean() * 384 * 4), exact_top)
    fde_speed(doc_tok, args.fde_docs)

    if args.engine_queries:
        engine_path(ds, qids, qtexts, D, Q, args.engine_queries, report,
                    args.ivf_nprobe if args.milvus_server else [])

    print_table(rows, float_ndcg)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 5))
        for name, nbytes, n10, _, _ in rows:
            ax.scatter(nbytes, n10)
            ax.annotate(name, (nbytes, n10), fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel("bytes per vector (log)")
        ax.set_ylabel("nDCG@10")
        ax.set_title(f"{Path(args.data).name} {args.split}: quality vs size")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=150)
        print(f"plot written to {args.plot}")


def fde_speed(doc_tok: list[np.ndarray], n_docs: int, pairs: int = 3) -> None:
    """FDE encoding throughput against fastembed's ``Muvera`` (same config), alternating
    runs: the ratio is the median of the pairwise ratios, so machine noise hits both."""
    try:
        from fastembed.postprocess import Muvera
    except ImportError as e:
        print(f"    fastembed anchor skipped ({e}); pip install --no-deps fastembed==0.9.1 "
              "loguru mmh3 py-rust-stemmers pillow")
        return
    import statistics

    sample = doc_tok[:n_docs]
    fde = FDEEncoder()
    mv = Muvera(dim=sample[0].shape[1], k_sim=5, dim_proj=16, r_reps=20, random_seed=42)
    ours, theirs = [], []
    for _ in range(pairs):
        theirs.append(timed(lambda: [mv.process_document(d) for d in sample], repeat=1)[1])
        ours.append(timed(lambda: [fde.encode_documents(sample[i:i + 256])
                                   for i in range(0, len(sample), 256)], repeat=1)[1])
    ratio = statistics.median(t / o for t, o in zip(theirs, ours))
    print(f"    FDE encode, {len(sample)} docs, {pairs} alternating pairs: ours "
          f"{len(sample) / statistics.median(ours):,.0f} docs/s, fastembed Muvera "
          f"{len(sample) / statistics.median(theirs):,.0f} docs/s (median pairwise ratio "
          f"{ratio:.1f}x; per pair {', '.join(f'{t / o:.1f}x' for t, o in zip(theirs, ours))})")


def print_table(rows: list[tuple[str, float, float, float, str]], float_ndcg: float) -> None:
    """The results as a Markdown table, quality relative to exact float32 search."""
    print("\n| method | bytes/vector | nDCG@10 | vs float | recall@100 | note |\n|---|---|---|---|---|---|")
    for name, nbytes, n10, r100, note in rows:
        print(f"| {name} | {nbytes:,.0f} | {n10:.3f} | {n10 / float_ndcg:.1%} | {r100:.3f} | {note} |")


def engine_path(ds: Any, qids: list[str], qtexts: list[str], D: np.ndarray, Q: np.ndarray,
                n_queries: int, report: Callable[..., None], nprobes: list[int]) -> None:
    """Quantized first stages through HybridRetriever and a real engine, against the float
    dense retriever on the same engine and queries.

    Embedded Qdrant (Qdrant Edge, the real engine): BinaryQuantizer codes searched in the
    engine with float rescoring in the engine, and Qdrant's own quantization (binary 1-bit,
    PQ x16; oversampling 4, rescoring in the engine). With ``nprobes``: a real Milvus 2.3.5
    server (PyPI ``milvus``) with engine quantization (IVF_PQ x16 and IVF_SQ8 indexes,
    oversample 4, exact rescoring by the connector), once per nprobe; Milvus 2.3 holds one
    vector field per collection, so each variant is its own collection. Its collections use
    ``Bounded`` consistency: the data is static and flushed before the queries.
    """
    import random
    import statistics
    import tempfile

    from vectorbridge.bench.data import CachedEmbeddings
    from vectorbridge.bench.pipelines import quantized_bytes
    from vectorbridge.connectors import CollectionSpec, DenseField, MilvusConnector, QdrantConnector
    from vectorbridge.retrievers import HybridRetriever, Quantized

    texts = [ds.doc_text(i) for i in range(len(ds.doc_ids))]
    subset = sorted(random.Random(0).sample(range(len(qids)), min(n_queries, len(qids))))
    emb = CachedEmbeddings({**dict(zip(texts, D)), **dict(zip(qtexts, Q))})
    pos = {d: i for i, d in enumerate(ds.doc_ids)}
    keep = np.zeros(len(qids), bool)
    keep[subset] = True

    def run(label: str, r: HybridRetriever, nbytes: float) -> None:
        idx = np.zeros((len(qids), K), dtype=np.int64)
        lat = []
        for i in subset:
            t = time.perf_counter()
            docs = r.invoke(qtexts[i])
            lat.append(time.perf_counter() - t)
            idx[i, :len(docs)] = [pos[d.id] for d in docs]
        report(f"{label} (subset)", nbytes, idx, f"p50 {statistics.median(lat) * 1000:.1f} ms",
               subset=keep)

    def build(conn: Any, name: str, **kw: Any) -> HybridRetriever:
        t = time.perf_counter()
        r = HybridRetriever.from_texts(texts, ids=ds.doc_ids, connector=conn, collection=name,
                                       dense=emb, k=K, **kw)
        print(f"    {name}: ingest {len(texts) / (time.perf_counter() - t):,.0f} docs/s")
        return r

    conn = QdrantConnector(path=tempfile.mkdtemp(prefix="vb-edge-"))
    print(f"\n[through the engine: {conn.engine}, {len(subset)} queries]")
    bq = BinaryQuantizer(bits=1)
    binary = build(conn, "bq", stages=[Quantized(bq, oversample=4)])
    run(f"float dense via HybridRetriever, {conn.engine}",
        HybridRetriever(connector=conn, collection="bq", dense=emb, k=K), D.shape[1] * 4)
    run(f"binary 1-bit codes + engine float rescore x4, {conn.engine}", binary,
        bq.bytes_per_vector)
    for name in ("binary-1bit", "pq-x16", "turbo-1bit", "turbo-2bit", "turbo-4bit"):
        nbytes = quantized_bytes(name, D.shape[1])
        r = build(conn, name.replace("-", "_").replace(".", "_"),
                  stages=[Quantized(name, oversample=4)])
        run(f"engine {name} + engine rescore x4, {conn.engine}", r, nbytes)
        if name.startswith("turbo-"):  # the same codes, ranked without the float originals
            plain = f"{name.replace('-', '_')}_norescore"
            conn.create_collection(CollectionSpec(name=plain, dense={"dense": DenseField(
                D.shape[1], quantization=name, rescore=False)}, text_key="text"))
            conn.upsert(plain, ds.doc_ids, {"dense": D}, [{"text": t} for t in texts],
                        batch_size=512)
            conn.optimize(plain)
            run(f"engine {name}, no rescoring, {conn.engine}",
                HybridRetriever(connector=conn, collection=plain, dense=emb, k=K,
                                stages=[Quantized(name)]),
                nbytes)
    conn.close()
    if not nprobes:
        return
    from vectorbridge.local_servers import Milvus23Server

    server = Milvus23Server(Path(tempfile.mkdtemp(prefix="vb-milvus23-")))
    try:
        for nprobe in nprobes:
            conn = MilvusConnector(uri=server.uri, ivf_nlist=128, ivf_nprobe=nprobe,
                                   consistency_level="Bounded")
            print(f"\n[through the engine: {conn.engine}, {len(subset)} queries, "
                  f"IVF nlist 128, nprobe {nprobe}]")
            variants = [("ivfpq", "pq-x16", D.shape[1] * 4 / 16, "IVF_PQ x16"),
                        ("ivfsq8", "scalar-int8", D.shape[1], "IVF_SQ8")]
            if nprobe == nprobes[0]:
                variants.insert(0, ("flat", None, D.shape[1] * 4, "float dense (AUTOINDEX)"))
            for name, quantizer, nbytes, label in variants:
                name = f"{name}_{nprobe}"
                r = build(conn, name,
                          stages=[Quantized(quantizer, oversample=4)] if quantizer else [])
                while conn.client.describe_index(name, "dense")["indexed_rows"] < len(texts):
                    time.sleep(0.5)  # from_texts flushed: indexes build on the sealed segments
                conn.client.release_collection(name)
                conn.client.load_collection(name)
                run(f"{label}{' + exact rescore x4' if quantizer else ''}, nprobe {nprobe}, "
                    f"{conn.engine}", r, nbytes)
            conn.close()
    finally:
        server.stop()

