"""BM25 in the engine vs BM25 made by the client, and what happens when a collection grows.

    vectorbridge bench bm25 DATA [--split train] [--out DIR]

Every query of the split searches the corpus through a connector, BM25 alone, top 100:

- the anchor: the ``bm25s`` library in memory (its tokenizer and Lucene IDF);
- ``BM25Encoder(idf="client")`` vectors in Milvus Lite (IDF fitted on the corpus, in the query);
- Milvus Lite's BM25 function over the raw text (``SparseField(bm25="engine")``);
- ``BM25Encoder`` term counts in Qdrant Edge with ``Modifier.IDF`` (``SparseField(idf=True)``);
- Qdrant's BM25 model over the raw text in Edge (``SparseField(bm25="engine")``).

Then the same paths on a collection that grew: the first half of the corpus written and
optimized (a flush: its own segment), then the second half — against a client encoder
fitted on the first half only. Reports nDCG@10 with the paired bootstrap 95 % interval of
its difference to the anchor, recall@100, and p50 query latency.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vectorbridge.bench.fusion import paired_ci
from vectorbridge.bench.studies.common import beir_parser, load_corpus, write_report
from vectorbridge.connectors import CollectionSpec, MilvusConnector, QdrantConnector, SparseField
from vectorbridge.encoders import BM25Encoder
from vectorbridge.metrics import ndcg_at_k, recall_at_k

K = 100


def bm25s_run(texts: list[str], ids: list[str], queries: list[str]) -> tuple[list[list[str]], list[float]]:
    """The anchor: bm25s' own tokenizer (English stop words, Snowball stemmer) and index."""
    import bm25s
    import Stemmer

    stem = Stemmer.Stemmer("english")
    index = bm25s.BM25()
    index.index(bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False),
                show_progress=False)
    ranked, lat = [], []
    for q in queries:
        t = time.perf_counter()
        docs, scores = index.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stem,
                                                     show_progress=False),
                                      k=min(K, len(texts)), show_progress=False)
        ranked.append([ids[i] for i, s in zip(docs[0], scores[0]) if s > 0])
        lat.append(time.perf_counter() - t)
    return ranked, lat


def _write(conn: Any, field: SparseField, values: Callable[[list[str]], Any], ids: list[str],
           texts: list[str], halves: bool) -> None:
    """Create ``bm25`` with ``field`` and write the corpus: at once, or half, optimize, half."""
    conn.create_collection(CollectionSpec(name="bm25", sparse={"bm25": field}), recreate=True)
    cut = len(texts) // 2 if halves else len(texts)
    for part in (slice(0, cut), slice(cut, len(texts))):
        if part.start == part.stop:
            continue
        conn.upsert("bm25", ids[part], {"bm25": values(texts[part])}, batch_size=512)
        conn.optimize("bm25")


def _search(conn: Any, queries: list[Any]) -> tuple[list[list[str]], list[float]]:
    ranked, lat = [], []
    for q in queries:
        t = time.perf_counter()
        ranked.append([h.id for h in conn.search("bm25", "bm25", q, k=K)])
        lat.append(time.perf_counter() - t)
    return ranked, lat


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    ids, texts, qids, qtexts = c.ds.doc_ids, c.texts, c.qids, c.qtexts
    qrels = {q: c.ds.qrels[q] for q in qids}
    work = Path(tempfile.mkdtemp(prefix="vb-bm25-"))
    milvus = MilvusConnector(uri=str(work / "milvus.db"))
    edge = QdrantConnector(path=str(work / "edge"))
    whole = BM25Encoder(idf="client").fit(texts)
    half = BM25Encoder(idf="client").fit(texts[: len(texts) // 2])
    counts = BM25Encoder(idf="engine")
    as_text = SparseField(bm25="engine")

    rows: list[tuple[str, list[list[str]], list[float]]] = []

    def run(name: str, conn: Any, field: SparseField, docs: Callable[[list[str]], Any],
            queries: list[Any], halves: bool = False) -> None:
        _write(conn, field, docs, ids, texts, halves)
        ranked, lat = _search(conn, queries)
        rows.append((name, ranked, lat))
        print(f"  {name:62s} nDCG@10 {ndcg_at_k(dict(zip(qids, ranked)), qrels, 10):.4f} "
              f"p50 {statistics.median(lat) * 1000:.2f} ms", flush=True)

    ranked, lat = bm25s_run(texts, ids, qtexts)
    rows.append(("bm25s (library, in memory): anchor", ranked, lat))
    for halves, tag in ((False, ""), (True, "grown: half, optimize, half — ")):
        enc = half if halves else whole
        run(f"{tag}Milvus Lite, BM25Encoder(idf='client')" + (" fitted on the first half" if halves else ""),
            milvus, SparseField(), enc.encode_documents, enc.encode_queries(qtexts), halves)
        run(f"{tag}Milvus Lite, BM25 function (bm25='engine')", milvus, as_text,
            lambda t: t, qtexts, halves)
        run(f"{tag}Qdrant Edge, BM25Encoder counts + Modifier.IDF (idf=True)", edge,
            SparseField(idf=True), counts.encode_documents, counts.encode_queries(qtexts), halves)
        run(f"{tag}Qdrant Edge, Qdrant BM25 model (bm25='engine')", edge, as_text,
            lambda t: t, qtexts, halves)

    per_query = {n: np.array([ndcg_at_k({q: r}, {q: qrels[q]}, 10) for q, r in zip(qids, ranked)])
                 for n, ranked, _ in rows}
    anchor = per_query[rows[0][0]]
    lines = [f"# BM25 in the engine vs made by the client: {Path(args.data).name} {args.split}", "",
             f"Command: `vectorbridge bench bm25 DATA --split {args.split}`; {len(texts)} docs, "
             f"{len(qids)} queries, top {K} per query, BM25 alone.", "",
             "| path | nDCG@10 | Δ vs bm25s [95 % CI] | recall@100 | p50 ms |", "|---|---|---|---|---|"]
    for name, ranked, lat in rows:
        run_ = dict(zip(qids, ranked))
        d = per_query[name] - anchor
        lo, hi = paired_ci(d, resamples=2000)
        delta = "—" if name == rows[0][0] else f"{d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]"
        lines.append(f"| {name} | {ndcg_at_k(run_, qrels, 10):.4f} | {delta} | "
                     f"{recall_at_k(run_, qrels, K):.4f} | {statistics.median(lat) * 1000:.2f} |")
    write_report(Path(args.out) / f"bm25_{Path(args.data).name}_{args.split}.md", lines)
    milvus.close()
    edge.close()
