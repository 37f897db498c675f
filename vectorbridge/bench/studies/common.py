"""Shared pieces of the studies: BEIR loading arguments, the embedding caches, the corpus
stored in a registry engine, quality, and the Markdown report."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vectorbridge.bench.data import Corpus as BenchCorpus
from vectorbridge.bench.data import dense_vectors, token_vectors
from vectorbridge.bench.data import load_corpus as bench_corpus
from vectorbridge.demo import default_model


def study_parser(doc: str | None, module: str) -> argparse.ArgumentParser:
    """The parser of the study in ``module``, named as it is called."""
    from vectorbridge.bench.studies import study_of

    return argparse.ArgumentParser(prog=f"vectorbridge bench {study_of(module)}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def beir_parser(doc: str | None, module: str) -> argparse.ArgumentParser:
    """A study's parser with DATA (a BEIR folder), --split, --model and --cache."""
    ap = study_parser(doc, module)
    ap.add_argument("data", help="a BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--model", default=None, help="sentence-transformers name or folder")
    ap.add_argument("--cache", default=".cache", help="embedding cache folder")
    return ap


@dataclass
class Corpus(BenchCorpus):
    """``vectorbridge bench``'s corpus (every query) plus the model and cache the studies use."""

    model: str = ""
    cache: Path = Path(".cache")


def load_corpus(args: argparse.Namespace) -> Corpus:
    base = bench_corpus(args.data, args.split, queries=0)
    c = Corpus(**vars(base), model=args.model or default_model(), cache=Path(args.cache))
    print(f"{len(c.texts)} docs, {len(c.qids)} queries, model {c.model}")
    return c


def dense_embeddings(c: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """DenseEncoder vectors of the documents and queries, from the cache ``vectorbridge
    bench`` shares (encoded once, whichever study runs first)."""
    from vectorbridge.encoders import DenseEncoder

    dense: list[DenseEncoder] = []  # loaded only on a cache miss

    def encoder() -> DenseEncoder:
        if not dense:
            dense.append(DenseEncoder(c.model, device="cpu", precision="float32"))
        return dense[0]

    D = dense_vectors(c.model, c.texts, "dense", c.cache, lambda t: encoder().encode_documents(t))
    Q = dense_vectors(c.model, c.qtexts, "dense-q", c.cache, lambda t: encoder().encode_queries(t))
    return D, Q


def token_embeddings(c: Corpus) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """TokenEncoder matrices of the documents and queries, from the shared token cache
    (:func:`~vectorbridge.bench.data.token_vectors`; the model loads only on a miss)."""
    from vectorbridge.encoders import TokenEncoder

    tok: list[TokenEncoder] = []

    def encoder() -> TokenEncoder:
        if not tok:
            tok.append(TokenEncoder(c.model, device="cpu", precision="float32"))
        return tok[0]

    docs = token_vectors(c.model, c.texts, "tokens", c.cache, lambda t: encoder().encode_documents(t))
    queries = token_vectors(c.model, c.qtexts, "tokens-q", c.cache,
                            lambda t: encoder().encode_queries(t))
    return docs, queries


def store_corpus(conn: Any, c: Corpus, D: np.ndarray, exact: bool = False) -> Any:
    """The corpus in collection ``beir`` of a registry engine (dense, BM25, text), and the
    BM25Encoder its queries need: IDF in the engine where it has ``engine_idf``, else fitted
    on the corpus, so every engine ranks by the same BM25. ``exact``: no HNSW graph on Qdrant
    Edge (a threshold no segment reaches), so differences between a study's rows are its
    methods', not an approximate index's build-to-build variation."""
    from vectorbridge.connectors import CollectionSpec, SparseField
    from vectorbridge.encoders import BM25Encoder

    if exact and hasattr(conn.client, "index_threshold_kb"):
        conn.client.index_threshold_kb = 10 ** 9
    idf = conn.capabilities.engine_idf
    bm25 = BM25Encoder(idf="engine" if idf else "client").fit(c.texts)
    conn.create_collection(CollectionSpec(name="beir", dense={"dense": D.shape[1]},
                                          sparse={"sparse": SparseField(idf=idf)}, text_key="text"),
                           recreate=True)
    conn.upsert("beir", c.ds.doc_ids, {"dense": D, "sparse": bm25.encode_documents(c.texts)},
                [{"text": t} for t in c.texts], batch_size=512)
    conn.optimize("beir")
    return bm25


def engine_names(spec: str) -> list[str]:
    """The entries of an ``--engines`` list (registry names, ``NAME=URL``, older aliases)."""
    return [e.strip() for e in spec.split(",") if e.strip()]


def quality(ds, qids, idx: np.ndarray, k_recall: int = 100, subset=None) -> tuple[float, float]:
    """nDCG@10 and recall@k_recall of ranked document indices (one row per query in ``qids``;
    ``subset``: a mask of the queries to score)."""
    from vectorbridge.metrics import ndcg_at_k, recall_at_k

    run = {q: [ds.doc_ids[i] for i in row] for j, (q, row) in enumerate(zip(qids, idx))
           if subset is None or subset[j]}
    qrels = {q: ds.qrels[q] for q in run}
    return ndcg_at_k(run, qrels, 10), recall_at_k(run, qrels, k_recall)


def maxsim_rerank(cands: np.ndarray, doc_tok, q_tok) -> np.ndarray:
    """Each query's candidate rows re-sorted by exact MaxSim."""
    out = []
    for qi, row in enumerate(cands):
        s = np.array([float((q_tok[qi] @ doc_tok[j].T).max(axis=1).sum()) for j in row])
        out.append(row[np.argsort(-s, kind="stable")])
    return np.array(out)


def exact_maxsim_top(doc_tok, q_tok, k: int) -> np.ndarray:
    """Top-k documents by exact MaxSim over every document, for every query."""
    import torch

    starts = np.concatenate([[0], np.cumsum([len(d) for d in doc_tok])[:-1]])
    allvecs = torch.from_numpy(np.concatenate(doc_tok))  # contiguous: no copy per query
    return np.array([np.argsort(-np.maximum.reduceat((allvecs @ torch.from_numpy(q).T).numpy(),
                                                     starts, axis=0).sum(axis=1), kind="stable")[:k]
                     for q in q_tok])


def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table's lines (cells as given: format numbers before)."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *["| " + " | ".join(str(x) for x in row) + " |" for row in rows]]


def write_report(out: Path, lines: list[str]) -> None:
    """A Markdown report, its folder created."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
