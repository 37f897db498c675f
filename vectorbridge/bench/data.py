"""What every benchmark part shares: the corpus in a fixed order, embeddings cached on disk
(keyed by model, precision and a hash of the texts, so reruns skip encoding), and an
``Embeddings`` that serves cached vectors so only the database path is timed."""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from vectorbridge.beir import BeirDataset, load_beir


@dataclass
class Corpus:
    """A BEIR split in a fixed order, with the queries the engines run (a seeded subset)."""

    ds: BeirDataset
    texts: list[str]
    qids: list[str]
    qtexts: list[str]
    subset: list[int]  # indices into qids: the queries timed on the engines
    source: str = ""

    def qrels(self, indices: Sequence[int]) -> dict[str, dict[str, int]]:
        return {self.qids[i]: self.ds.qrels[self.qids[i]] for i in indices}


def load_corpus(folder: str | Path, split: str = "train", queries: int = 300,
                max_docs: int | None = None, seed: int = 0) -> Corpus:
    """Load ``folder`` and pick ``queries`` random queries (seed ``seed``; all if fewer)."""
    ds = load_beir(folder, split=split, max_docs=max_docs)
    texts = [ds.doc_text(i) for i in range(len(ds.doc_ids))]
    qids = sorted(ds.queries)
    n = min(queries, len(qids)) if queries > 0 else len(qids)
    subset = sorted(random.Random(seed).sample(range(len(qids)), n))
    return Corpus(ds, texts, qids, [ds.queries[q] for q in qids], subset, str(folder))


def cache_key(model: str, texts: Sequence[str], kind: str) -> str:
    """``<kind>-<16 hex>``: a hash of the model and every text (order included)."""
    h = hashlib.sha256(model.encode())
    for t in texts:
        h.update(t.encode())
    return f"{kind}-{h.hexdigest()[:16]}"


def cached(path: Path, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays saved at ``path`` (``.npz``, no pickle), computed by ``make`` on a miss."""
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    t = time.perf_counter()
    arrays = make()
    print(f"  encoded {path.stem} in {time.perf_counter() - t:.0f}s", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def dense_vectors(model: str, texts: Sequence[str], kind: str, cache: Path,
                  encode: Callable[[Sequence[str]], np.ndarray], precision: str = "float32") -> np.ndarray:
    """Cached dense vectors of ``texts`` (``kind``: "dense" for documents, "dense-q" for
    queries; other precisions than float32 get their own entries). A cache file holds one
    array, whatever its name (older files name it "docs" / "q")."""
    tag = kind if precision == "float32" else f"{kind}-{precision}"
    arrays = cached(cache / f"{cache_key(model, texts, tag)}.npz", lambda: {"v": encode(texts)})
    return next(iter(arrays.values()))


def split_tokens(z: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The per-text token matrices of a token cache entry (``vecs`` stacked, ``lens``)."""
    return np.split(z["vecs"].astype(np.float32), np.cumsum(z["lens"])[:-1])


def token_vectors(model: str, texts: Sequence[str], kind: str, cache: Path,
                  encode: Callable[[Sequence[str]], list[np.ndarray]]) -> list[np.ndarray]:
    """Cached per-token matrices of ``texts`` (``kind``: "tokens" for documents, "tokens-q"
    for queries), the one token cache every study and ``--tokens`` read, so a corpus is
    encoded once whichever part runs first: float16 stacked with their lengths (half the disk
    of float32). ``encode`` runs only on a miss."""
    def make() -> dict[str, np.ndarray]:
        mats = encode(texts)
        return {"vecs": np.concatenate(mats).astype(np.float16),
                "lens": np.array([len(m) for m in mats], dtype=np.int64)}

    return split_tokens(cached(cache / f"{cache_key(model, texts, kind)}.npz", make))


def sparse_matrices(queries: Sequence[Any], docs: Sequence[Any]) -> tuple[Any, Any]:
    """Stack SparseVectors into two CSR matrices over the terms the documents use (term ids
    are 32-bit hashes: columns are renumbered, and query terms absent from the corpus score 0)."""
    import scipy.sparse

    vocab = np.unique(np.concatenate([v.indices for v in docs]))

    def stack(vectors: Sequence[Any]) -> Any:
        cols = [np.searchsorted(vocab, v.indices) for v in vectors]
        keep = [(c < len(vocab)) & (vocab[np.minimum(c, len(vocab) - 1)] == v.indices)
                for c, v in zip(cols, vectors)]
        indptr = np.cumsum([0] + [int(k.sum()) for k in keep])
        indices = np.concatenate([c[k] for c, k in zip(cols, keep)])
        data = np.concatenate([v.values[k] for v, k in zip(vectors, keep)]).astype(np.float64)
        return scipy.sparse.csr_matrix((data, indices, indptr), shape=(len(vectors), len(vocab)))

    return stack(queries), stack(docs)


class CachedEmbeddings(Embeddings):
    """Serves precomputed vectors by text, so a benchmark times the database path only."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text].tolist()


class CachedTokens:
    """A TokenEncoder stand-in serving cached token matrices by text, so MaxSim stages time
    the database path and their matmuls, never the model."""

    def __init__(self, docs: dict[str, np.ndarray], queries: dict[str, np.ndarray]) -> None:
        self.docs, self.queries = docs, queries

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.docs[t] for t in texts]

    def encode_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.queries[t] for t in texts]


def embeddings_for(texts: Sequence[str], vectors: np.ndarray, qtexts: Sequence[str],
                   qvectors: np.ndarray) -> CachedEmbeddings:
    return CachedEmbeddings({**dict(zip(texts, vectors)), **dict(zip(qtexts, qvectors))})


__all__ = ["Corpus", "load_corpus", "cache_key", "cached", "dense_vectors", "split_tokens",
           "token_vectors", "CachedEmbeddings", "CachedTokens", "embeddings_for", "sparse_matrices"]
