"""Shared pieces of the studies: BEIR loading arguments, the embedding cache, quality."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorbridge.bench.data import Corpus as BenchCorpus
from vectorbridge.bench.data import dense_vectors
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
            dense.append(DenseEncoder(c.model, device="cpu"))
        return dense[0]

    D = dense_vectors(c.model, c.texts, "dense", c.cache, lambda t: encoder().encode_documents(t))
    Q = dense_vectors(c.model, c.qtexts, "dense-q", c.cache, lambda t: encoder().encode_queries(t))
    return D, Q


def quality(ds, qids, idx: np.ndarray, k_recall: int = 100, subset=None) -> tuple[float, float]:
    """nDCG@10 and recall@k_recall of ranked document indices (one row per query in ``qids``;
    ``subset``: a mask of the queries to score)."""
    from vectorbridge.metrics import ndcg_at_k, recall_at_k

    run = {q: [ds.doc_ids[i] for i in row] for j, (q, row) in enumerate(zip(qids, idx))
           if subset is None or subset[j]}
    qrels = {q: ds.qrels[q] for q in run}
    return ndcg_at_k(run, qrels, 10), recall_at_k(run, qrels, k_recall)


def split_tokens(z) -> list[np.ndarray]:
    """The per-document token matrices of a token cache (``vecs`` stacked, ``lens``)."""
    return np.split(z["vecs"].astype(np.float32), np.cumsum(z["lens"])[:-1])


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


def write_report(out: Path, lines: list[str]) -> None:
    """A Markdown report, its folder created."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
