"""Retrieval quality of the foundation's pipelines on a BEIR folder (default: SciFact train).

    vectorbridge bench exact-quality DATA [--cache .cache]

Pipelines: dense (DenseEncoder -> Qdrant Edge search), BM25 (BM25Encoder vectors, scored
for the full query set with a sparse dot product and checked against Milvus Lite's sparse
index on a sample), and exact MaxSim over TokenEncoder token vectors (brute force in numpy: the
reference any multi-vector engine path must reach). BM25 with Qdrant's engine IDF ranks the
same as client IDF (tests/test_bm25.py); local mode's pure-Python sparse search is only timed
on a few queries here. Embeddings are cached on disk keyed by model and corpus hash, so reruns skip
encoding. Prints nDCG@10 and recall@100 per pipeline.
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from vectorbridge.bench.data import dense_vectors, sparse_matrices, token_vectors
from vectorbridge.bench.studies.common import beir_parser, load_corpus
from vectorbridge.connectors import CollectionSpec, MilvusConnector, QdrantConnector, SparseField
from vectorbridge.encoders import BM25Encoder, DenseEncoder, TokenEncoder
from vectorbridge.metrics import ndcg_at_k, recall_at_k


def main(argv: list[str] | None = None) -> None:
    args = beir_parser(__doc__, __name__).parse_args(argv)
    c = load_corpus(args)
    ds, texts, qids, qtexts, model, cache = c.ds, c.texts, c.qids, c.qtexts, c.model, c.cache

    dense = DenseEncoder(model, device="cpu", precision="float32")
    D = dense_vectors(model, texts, "dense", cache, dense.encode_documents)
    Qd = dense.encode_queries(qtexts)

    tok = TokenEncoder(dense.model)

    doc_tok = token_vectors(model, texts, "tokens", cache, tok.encode_documents)
    Qt = tok.encode_queries(qtexts)

    runs: dict[str, dict[str, list[str]]] = {}
    qdrant = QdrantConnector(path=tempfile.mkdtemp(prefix="vb-edge-"))  # Qdrant Edge
    qdrant.create_collection(CollectionSpec(name="beir", dense={"dense": dense.dim},
                                            sparse={"bm25": SparseField(idf=True)}))
    engine_bm25 = BM25Encoder(idf="engine").fit(texts)
    qdrant.upsert("beir", ds.doc_ids, {"dense": D, "bm25": engine_bm25.encode_documents(texts)},
                  batch_size=512)
    runs["dense (Qdrant Edge)"] = {
        q: [h.id for h in qdrant.search("beir", "dense", v, k=100)] for q, v in zip(qids, Qd)}
    # qdrant-client's local mode scores sparse vectors in pure Python, point by point:
    # time a few queries to report it, the full query set would take many minutes.
    sample = engine_bm25.encode_queries(qtexts[:20])
    t = time.perf_counter()
    for v in sample:
        qdrant.search("beir", "bm25", v, k=100)
    print(f"  Qdrant local-mode BM25 (engine IDF): {(time.perf_counter() - t) / len(sample) * 1000:.0f} ms/query")

    milvus = MilvusConnector(uri=str(cache / "quality-milvus.db"))
    milvus.create_collection(CollectionSpec(name="beir", sparse=["bm25"]), recreate=True)
    client_bm25 = BM25Encoder(idf="client").fit(texts)
    doc_bm25 = client_bm25.encode_documents(texts)
    milvus.upsert("beir", ds.doc_ids, {"bm25": doc_bm25}, batch_size=512)
    q_bm25 = client_bm25.encode_queries(qtexts)
    t = time.perf_counter()
    milvus_top = [[h.id for h in milvus.search("beir", "bm25", v, k=100)] for v in q_bm25[:20]]
    print(f"  Milvus Lite BM25 (client IDF): {(time.perf_counter() - t) / 20 * 1000:.0f} ms/query")
    # Full query set: the same sparse vectors scored with a scipy dot product (both engine
    # paths equal this ranking: tests/test_bm25.py); checked against Milvus on the sample.
    qm, dm = sparse_matrices(q_bm25, doc_bm25)
    scores = (qm @ dm.T).tocsr()
    bm25_run = {}
    for row, q in enumerate(qids):
        s_row = scores.getrow(row).toarray().ravel()
        top = [i for i in np.argsort(-s_row, kind="stable")[:100] if s_row[i] > 0]
        bm25_run[q] = [ds.doc_ids[i] for i in top]
    same = np.mean([bm25_run[q][:10] == m[:10] for q, m in zip(qids, milvus_top)])
    print(f"  BM25 top-10 identical to Milvus Lite's on {same:.0%} of the 20 timed queries")
    runs["BM25 (bm25s tokenizer, Lucene IDF)"] = bm25_run

    vecs = np.concatenate(doc_tok)
    starts = np.concatenate([[0], np.cumsum([len(m) for m in doc_tok])[:-1]])
    maxsim_run = {}
    for q, m in zip(qids, Qt):
        best = np.maximum.reduceat(m @ vecs.T, starts, axis=1).sum(axis=0)  # (n_docs,)
        top = np.argsort(-best)[:100]
        maxsim_run[q] = [ds.doc_ids[i] for i in top]
    runs["MaxSim, exact (TokenEncoder)"] = maxsim_run

    print(f"\n{'pipeline':42s} nDCG@10  recall@100")
    for name, run in runs.items():
        print(f"{name:42s} {ndcg_at_k(run, ds.qrels, 10):.4f}   {recall_at_k(run, ds.qrels, 100):.4f}")

