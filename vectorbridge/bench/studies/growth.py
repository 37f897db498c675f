"""A collection grown by ``add_texts`` against one built at once: does it rank the same?

    vectorbridge bench growth DATA [--engines qdrant-edge,milvus-lite-file] [--queries 100]
                                   [--dense] [--out DIR]

For each engine and each lexical path a ``HybridRetriever`` is built twice over the corpus:
fresh (``from_texts`` of everything) and grown (``from_texts`` of the first half, optimized,
then ``add_texts`` of the second half). Reported: on how many of ``--queries`` queries the
two top 10s differ, and nDCG@10 of each. Lexical paths:

- ``BM25Encoder()`` as the retriever chooses it for the engine (Qdrant: term counts with the
  engine's IDF; Milvus Lite: client IDF fitted on the first chunk, which later chunks now add
  to), and the same with the statistics frozen at the first half (the behaviour before);
- the engine's own BM25 over the raw text (``SparseField(bm25="engine")``, BM25 alone, through
  the connector) where the engine has it.

``--dense`` adds the cached MiniLM vectors as a dense branch (hybrid, the default fusion).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from vectorbridge.bench.pipelines import open_engine
from vectorbridge.bench.studies.common import beir_parser, load_corpus, write_report
from vectorbridge.metrics import ndcg_at_k


class _FrozenBM25:
    """A BM25Encoder whose statistics stop at its first fit (what add_texts did before)."""

    def __new__(cls) -> Any:
        from vectorbridge.encoders import BM25Encoder

        class Frozen(BM25Encoder):
            def partial_fit(self, texts: Any) -> "Frozen":
                return self if self.n_docs else super().partial_fit(texts)  # fit's own call

        return Frozen()


def _sparse(path: str) -> Any:
    from vectorbridge.encoders import BM25Encoder

    return _FrozenBM25() if path == "frozen" else BM25Encoder()


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--engines", default="qdrant-edge,milvus-lite-file")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dense", action="store_true", help="add the cached dense branch")
    ap.add_argument("--max-docs", type=int, default=None)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    from vectorbridge.retrievers import HybridRetriever

    c = load_corpus(args)
    dense = None
    if args.dense:
        from vectorbridge.bench.studies.common import dense_embeddings
        from vectorbridge.bench.data import embeddings_for

        D, Q = dense_embeddings(c)
        dense = embeddings_for(c.texts, D, c.qtexts, Q)
    qids = [c.qids[i] for i in c.subset][: args.queries]
    qtexts = [c.qtexts[i] for i in c.subset][: args.queries]
    qrels = {q: c.ds.qrels[q] for q in qids}
    ids, half = c.ds.doc_ids, len(c.texts) // 2
    work = Path(tempfile.mkdtemp(prefix="vb-growth-"))
    lines = [f"# bench growth: {len(ids):,} documents, {len(qids)} queries"
             f"{' (dense + BM25, default fusion)' if dense else ' (BM25 alone)'}", "",
             "| engine | lexical path | top 10 differs (grown vs fresh) | nDCG@10 fresh | "
             "nDCG@10 grown |", "|---|---|---|---|---|"]
    servers: list = []
    try:
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            conn = open_engine(engine, work, servers)
            paths = ["follows", "frozen"]
            if conn.capabilities.engine_bm25:
                paths.append("engine")
            for path in paths:
                runs = {}
                for how in ("fresh", "grown"):
                    name = f"g_{path}_{how}"
                    if path == "engine":
                        runs[how] = _engine_bm25(conn, name, ids, c.texts, how == "grown",
                                                 qids, qtexts)
                        continue
                    opts: dict[str, Any] = dict(connector=conn, collection=name, k=10,
                                                dense=dense, sparse=_sparse(path), recreate=True)
                    if how == "fresh":
                        r = HybridRetriever.from_texts(c.texts, ids, **opts)
                    else:
                        r = HybridRetriever.from_texts(c.texts[:half], ids[:half], **opts)
                        r.add_texts(c.texts[half:], ids[half:])
                        conn.optimize(name)
                    runs[how] = {q: [d.id for d in r.invoke(t)] for q, t in zip(qids, qtexts)}
                differ = sum(runs["fresh"][q] != runs["grown"][q] for q in qids)
                lines.append(f"| {engine} | {path} | {differ} / {len(qids)} | "
                             f"{ndcg_at_k(runs['fresh'], qrels):.4f} | "
                             f"{ndcg_at_k(runs['grown'], qrels):.4f} |")
                print(lines[-1])
            conn.close()
    finally:
        for s in servers:
            s.stop()
    write_report(Path(args.out) / f"growth_{Path(args.data).name}_{args.split}.md", lines)


def _engine_bm25(conn: Any, name: str, ids: list[str], texts: list[str], grown: bool,
                 qids: list[str], qtexts: list[str]) -> dict[str, list[str]]:
    """The engine's BM25 over raw text, BM25 alone: written at once, or half, optimize, half."""
    from vectorbridge.connectors import CollectionSpec, SparseField

    conn.create_collection(CollectionSpec(name=name, sparse={"bm25": SparseField(bm25="engine")},
                                          text_key="text"), recreate=True)
    cut = len(texts) // 2 if grown else len(texts)
    for part in (slice(0, cut), slice(cut, len(texts))):
        if part.start == part.stop:
            continue
        conn.upsert(name, ids[part], {"bm25": texts[part]}, [{"text": t} for t in texts[part]])
        conn.optimize(name)
    return {q: [h.id for h in conn.search(name, "bm25", t, k=10)] for q, t in zip(qids, qtexts)}
