"""``invoke("text")`` end to end, query encoding included, beside langchain-qdrant with
LangChain's HuggingFace embeddings on the same model, in one run.

    vectorbridge bench invoke DATA [--queries 300] [--split train]

Every latency elsewhere in the docs starts from cached query vectors; this one does not: each
side encodes every query itself (no query cache). The documents are stored once per engine
(and per langchain-qdrant mode) from the shared vector cache: float32 document vectors, since
how the documents were encoded is not what is timed, and mixing precisions was measured
harmless (``bench precision``).

Sides, each run once per query, the order rotating from query to query so the machine's drift
falls on all of them alike:

- the query encoders alone, one query per call: vectorbridge's ``DenseEncoder`` at its
  default precision (``"auto"``) and at ``"float32"`` (the default before), and LangChain's
  ``HuggingFaceEmbeddings.embed_query``;
- vectorbridge ``HybridRetriever.invoke``, dense and dense + BM25 (RRF in the engine), on Qdrant
  Edge, and on qdrant-client's local mode (langchain-qdrant's embedded engine);
- the same hybrid on Edge with a float32 encoder (the end-to-end default before);
- langchain-qdrant ``QdrantVectorStore`` (local mode) ``as_retriever().invoke``, DENSE and
  HYBRID (vectorbridge's BM25 vectors as its sparse embedding, as ``bench --anchors`` does),
  with ``HuggingFaceEmbeddings`` on the same model.

Reported per side: p50/p95 ms, p50 over vectorbridge's own query encoder alone (target on Edge:
at most 1.2x) and nDCG@10 on the timed queries. langchain-huggingface caps huggingface-hub
below 1.0, so it does not resolve with vectorbridge's lock: install it with ``pip install
--no-deps langchain-huggingface`` (it imports fine beside the lock); without it, its rows are
left out and the report says so.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, \
    store_corpus, table, write_report

Ask = Callable[[str], list[str]]


def _langchain_qdrant(c: Any, D: np.ndarray, bm25: Any, model: str, k: int
                      ) -> tuple[dict[str, Ask], Any]:
    """langchain-qdrant's DENSE and HYBRID retrievers on local mode, documents from the
    vector cache, queries through ``HuggingFaceEmbeddings``; and that embedding."""
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore, RetrievalMode
    from qdrant_client import models

    from vectorbridge.bench.anchors import probed, qdrant_sparse
    from vectorbridge.bench.data import CachedEmbeddings

    hf = HuggingFaceEmbeddings(model_name=model, model_kwargs={"device": "cpu"},
                               encode_kwargs={"normalize_embeddings": True})
    docs = probed(CachedEmbeddings(dict(zip(c.texts, D))), D.shape[1])
    sparse = qdrant_sparse(bm25)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, d)) for d in c.ds.doc_ids]
    meta = [{"doc_id": d} for d in c.ds.doc_ids]
    asks: dict[str, Ask] = {}
    for label, mode in (("dense", RetrievalMode.DENSE), ("hybrid RRF", RetrievalMode.HYBRID)):
        extra = dict(sparse_embedding=sparse) if mode == RetrievalMode.HYBRID else {}
        idf = dict(sparse_vector_params={"modifier": models.Modifier.IDF}) if extra else {}
        built = QdrantVectorStore.from_texts(
            c.texts, docs, ids=ids, metadatas=meta, location=":memory:",
            collection_name=f"lc-{mode.value}", retrieval_mode=mode, **extra, **idf)
        store = QdrantVectorStore(client=built.client, collection_name=f"lc-{mode.value}",
                                  embedding=hf, retrieval_mode=mode, **extra)
        retriever = store.as_retriever(search_kwargs={"k": k})
        asks[f"langchain-qdrant {label}, local mode"] = \
            lambda q, r=retriever: [d.metadata["doc_id"] for d in r.invoke(q)]
    return asks, hf


def _alone(encode: Callable[[str], Any]) -> Ask:
    """An encoder's single-query call as a side (it answers no documents)."""
    def ask(q: str) -> list[str]:
        encode(q)
        return []
    return ask


def _run(sides: dict[str, Ask], queries: list[str], warm: int) -> tuple[dict[str, list[float]],
                                                                         dict[str, list[list[str]]]]:
    """Every side once per query, the order rotating per query; ms and answers per side."""
    names = list(sides)
    for q in queries[:warm]:
        for n in names:
            sides[n](q)  # first calls load kernels and fill engine caches: not counted
    lat: dict[str, list[float]] = {n: [] for n in names}
    answers: dict[str, list[list[str]]] = {n: [] for n in names}
    for i, q in enumerate(queries):
        for n in names[i % len(names):] + names[:i % len(names)]:
            t = time.perf_counter()
            got = sides[n](q)
            lat[n].append((time.perf_counter() - t) * 1000)
            answers[n].append(got)
    return lat, answers


def main(argv: list[str] | None = None) -> None:
    from vectorbridge.connectors.registry import engine as engine_entry
    from vectorbridge.encoders import DenseEncoder
    from vectorbridge.encoders._st import cpu_has_native_bf16
    from vectorbridge.metrics import ndcg_at_k
    from vectorbridge.retrievers import FieldNames, HybridRetriever

    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--queries", type=int, default=300, help="timed queries (first N)")
    ap.add_argument("--warm", type=int, default=10, help="untimed queries first")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, _ = dense_embeddings(c)
    n = min(args.queries, len(c.qtexts))
    queries, qids = list(c.qtexts[:n]), list(c.qids[:n])
    command = ("vectorbridge bench invoke " + " ".join(argv if argv is not None
                                                       else sys.argv[1:])).strip()
    dense = DenseEncoder(c.model, device="cpu", progress=False)  # the default: "auto"
    dense32 = DenseEncoder(c.model, device="cpu", precision="float32", progress=False)
    sides: dict[str, Ask] = {
        f"vectorbridge query encoder alone (default: {dense.precision})":
            _alone(lambda q: dense.encode_queries([q])),
        "vectorbridge query encoder alone (float32)": _alone(lambda q: dense32.encode_queries([q])),
    }
    missing = ""
    with tempfile.TemporaryDirectory(prefix="vb-invoke-") as work:
        conns = []
        for engine, label in (("qdrant-edge", "Edge"), ("qdrant-local", "local mode")):
            conn = engine_entry(engine).open(Path(work), [], None)
            conns.append(conn)
            bm25 = store_corpus(conn, c, D)
            variants = [("dense", dense, None), ("hybrid RRF", dense, bm25)]
            if engine == "qdrant-edge":
                variants.append(("hybrid RRF, float32 encoder", dense32, bm25))
            for what, enc, sparse in variants:
                r = HybridRetriever(connector=conn, collection="beir", dense=enc, sparse=sparse,
                                    fields=FieldNames(dense="dense", sparse="sparse"),
                                    text_key="text", k=10)
                sides[f"vectorbridge {what}, {label}"] = \
                    lambda q, r=r: [d.id for d in r.invoke(q)]
        try:
            asks, hf = _langchain_qdrant(c, D, bm25, c.model, 10)  # local mode's BM25 (last)
            sides["HuggingFaceEmbeddings.embed_query alone"] = _alone(hf.embed_query)
            sides.update(asks)
        except ImportError as e:
            missing = (f"langchain-qdrant with HuggingFaceEmbeddings left out ({e}): "
                       '`pip install "vectorbridge[bench]"` and `pip install --no-deps '
                       'langchain-huggingface`.')
            print("  " + missing, flush=True)
        lat, answers = _run(sides, queries, args.warm)
        for conn in conns:
            conn.close()
    anchor = float(np.percentile(lat[next(iter(sides))], 50))
    rows = []
    for name in sides:
        p50, p95 = float(np.percentile(lat[name], 50)), float(np.percentile(lat[name], 95))
        run = {q: a for q, a in zip(qids, answers[name])}
        quality = f"{ndcg_at_k(run, {q: c.ds.qrels[q] for q in qids}, 10):.4f}" \
            if any(answers[name]) else "-"
        rows.append([name, f"{p50:.2f}", f"{p95:.2f}", f"{p50 / anchor:.2f}x", quality])
        print(f"  {name}: p50 {p50:.2f} ms, p95 {p95:.2f} ms ({p50 / anchor:.2f}x), "
              f"nDCG@10 {quality}", flush=True)
    write_report(Path(args.out) / "invoke.md", [
        "# invoke(\"text\") end to end, query encoding included", "",
        f"Command: `{command}`. {len(c.texts):,} documents, {n} timed queries after "
        f"{args.warm} untimed, every side once per query in rotating order; model {c.model}, "
        f"{dense!r} (native bfloat16 on this CPU: {cpu_has_native_bf16()}); no query cache.",
        *([missing] if missing else []), "", *table(
            ["side", "p50 ms", "p95 ms", "p50 x vectorbridge encoder alone", "nDCG@10"],
            rows)])


__all__ = ["main"]
