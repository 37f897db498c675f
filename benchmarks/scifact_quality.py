"""Retrieval quality of the foundation's pipelines on a BEIR folder (default: SciFact train).

    python benchmarks/scifact_quality.py [--data ../shared/datasets/scifact] [--cache .cache]

Pipelines: dense (DenseEncoder -> Qdrant :memory: search), BM25 with engine IDF (Qdrant
``Modifier.IDF``), BM25 with client IDF (same index, IDF in the query), and exact MaxSim over
TokenEncoder token vectors (brute force in numpy: the reference any multi-vector engine path
must reach). Embeddings are cached on disk keyed by model and corpus hash, so reruns skip
encoding. Prints nDCG@10 and recall@100 per pipeline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from vectorbridge.beir import load_beir  # noqa: E402
from vectorbridge.connectors import CollectionSpec, QdrantConnector, SparseField  # noqa: E402
from vectorbridge.demo import default_model  # noqa: E402
from vectorbridge.encoders import BM25Encoder, DenseEncoder, TokenEncoder  # noqa: E402
from vectorbridge.metrics import ndcg_at_k, recall_at_k  # noqa: E402


def cache_key(model: str, texts: list[str], kind: str) -> str:
    h = hashlib.sha256(model.encode())
    for t in texts:
        h.update(t.encode())
    return f"{kind}-{h.hexdigest()[:16]}"


def cached(path: Path, make):
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    t = time.perf_counter()
    arrays = make()
    print(f"  encoded {path.stem} in {time.perf_counter() - t:.0f}s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/datasets/scifact"))
    ap.add_argument("--split", default="train")
    ap.add_argument("--model", default=None)
    ap.add_argument("--cache", default=".cache")
    args = ap.parse_args()
    ds = load_beir(args.data, split=args.split)
    texts = [ds.doc_text(i) for i in range(len(ds.doc_ids))]
    qids = sorted(ds.queries)
    qtexts = [ds.queries[q] for q in qids]
    model = args.model or default_model()
    cache = Path(args.cache)
    print(f"{len(texts)} docs, {len(qids)} queries, model {model}")

    dense = DenseEncoder(model, device="cpu")
    dz = cached(cache / f"{cache_key(model, texts, 'dense')}.npz",
                lambda: {"docs": dense.encode_documents(texts)})
    Qd = dense.encode_queries(qtexts)

    tok = TokenEncoder(dense.model)

    def encode_tokens():
        mats = tok.encode_documents(texts)
        return {"vecs": np.concatenate(mats).astype(np.float16),
                "lens": np.array([len(m) for m in mats], dtype=np.int64)}

    tz = cached(cache / f"{cache_key(model, texts, 'tokens')}.npz", encode_tokens)
    Qt = tok.encode_queries(qtexts)

    runs: dict[str, dict[str, list[str]]] = {}
    conn = QdrantConnector(location=":memory:")
    engine_bm25 = BM25Encoder(idf="engine").fit(texts)
    client_bm25 = BM25Encoder(idf="client").fit(texts)
    spec = CollectionSpec(name="beir", dense={"dense": dense.dim},
                          sparse={"bm25": SparseField(idf=True), "bm25_plain": SparseField()})
    conn.create_collection(spec)
    doc_sparse = engine_bm25.encode_documents(texts)
    conn.upsert("beir", ds.doc_ids, {"dense": dz["docs"], "bm25": doc_sparse, "bm25_plain": doc_sparse},
                batch_size=512)
    for name, field, queries in (
        ("dense (Qdrant)", "dense", list(Qd)),
        ("BM25, engine IDF (Qdrant Modifier.IDF)", "bm25", engine_bm25.encode_queries(qtexts)),
        ("BM25, client IDF", "bm25_plain", client_bm25.encode_queries(qtexts)),
    ):
        runs[name] = {q: [h.id for h in conn.search("beir", field, v, k=100)] for q, v in zip(qids, queries)}

    vecs = tz["vecs"].astype(np.float32)
    starts = np.concatenate([[0], np.cumsum(tz["lens"])[:-1]])
    maxsim_run = {}
    for q, m in zip(qids, Qt):
        best = np.maximum.reduceat(m @ vecs.T, starts, axis=1).sum(axis=0)  # (n_docs,)
        top = np.argsort(-best)[:100]
        maxsim_run[q] = [ds.doc_ids[i] for i in top]
    runs["MaxSim, exact (TokenEncoder)"] = maxsim_run

    print(f"\n{'pipeline':42s} nDCG@10  recall@100")
    for name, run in runs.items():
        print(f"{name:42s} {ndcg_at_k(run, ds.qrels, 10):.4f}   {recall_at_k(run, ds.qrels, 100):.4f}")


if __name__ == "__main__":
    main()
