"""Engines x pipelines: build each collection once per engine, then measure every pipeline's
quality (nDCG@10, recall@100, MRR@10 against the qrels), per-query latency through
``HybridRetriever.invoke`` (p50 / p95 / p99), bytes per stored vector of the field the first
stage searches, and ingest throughput (``from_texts`` end to end with cached dense vectors:
BM25 encoding, upsert, index build)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pymilvus.exceptions import MilvusException

from vectorbridge.bench.data import Corpus
from vectorbridge.bench.timing import percentiles_ms, timed
from vectorbridge.connectors import Connector
from vectorbridge.connectors.registry import ENGINES as REGISTRY
from vectorbridge.connectors.registry import engine
from vectorbridge.encoders import BM25Encoder
from vectorbridge.errors import UnsupportedFeatureError
from vectorbridge.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from vectorbridge.retrievers import HybridRetriever, Quantized

#: Pipelines of ``--pipelines``; the default set skips the two that need extra encodings.
PIPELINES = ("dense", "bm25", "hybrid-rrf", "hybrid-dbsf", "hybrid-weighted", "splade",
             "rerank-maxsim", "binary-1bit", "scalar-int8", "pq-x16")
DEFAULT_PIPELINES = ("dense", "bm25", "hybrid-rrf", "hybrid-dbsf", "hybrid-weighted",
                     "binary-1bit", "scalar-int8", "pq-x16")
#: Engines of ``--engines`` (plus ``qdrant-url=URL`` and ``milvus-uri=URI``).
ENGINES = tuple(n for n, e in REGISTRY.items() if e.where != "server")
#: Names earlier versions of ``--engines`` took (and recorded commands use).
ALIASES = {"edge": "qdrant-edge", "milvus-lite": "milvus-lite-file", "qdrant-url": "qdrant-server",
           "milvus-uri": "milvus-server", "qdrant": "qdrant-edge", "milvus": "milvus-lite-file"}
QUANTIZERS = ("binary-1bit", "scalar-int8", "pq-x16")


@dataclass
class Row:
    """One measured line of the report."""

    part: str
    engine: str
    pipeline: str
    ndcg10: float | None = None
    recall100: float | None = None
    mrr10: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    bytes_per_vector: float | None = None
    ingest_docs_s: float | None = None
    note: str = ""
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class Encoded:
    """What the pipelines need from the encoders, computed (or loaded from cache) once."""

    dense: Any  # an Embeddings serving cached vectors
    dim: int
    tokens: Any = None  # a TokenEncoder stand-in over cached token matrices (rerank-maxsim)
    splade: Any = None  # a SpladeEncoder (splade)


def open_engine(name: str, workdir: Path, servers: list[Any]) -> Connector:
    """A connector for an ``--engines`` entry: a registry name (a local server is started and
    kept in ``servers``), ``NAME=URL`` for a server, or an older alias."""
    name, _, url = name.partition("=")
    return engine(ALIASES.get(name, name)).open(workdir, servers, url or None)


def _collection(pipeline: str) -> str:
    """A valid collection name for a pipeline's own collection (letters, digits, ``_``)."""
    return "bench_" + "".join(ch if ch.isalnum() else "_" for ch in pipeline)


def evaluate(c: Corpus, runs: list[list[str]]) -> dict[str, float]:
    """nDCG@10, recall@100 and MRR@10 of ``runs`` (one per query of ``c.subset``)."""
    run = {c.qids[i]: r for i, r in zip(c.subset, runs)}
    qrels = c.qrels(c.subset)
    return {"ndcg10": ndcg_at_k(run, qrels, 10), "recall100": recall_at_k(run, qrels, 100),
            "mrr10": mrr_at_k(run, qrels, 10)}


def measure(c: Corpus, engine: str, name: str, retriever: HybridRetriever, k: int,
            repeat: int, bytes_per_vector: float | None, ingest: float | None,
            progress: Callable[[Any], Any]) -> Row:
    """Quality from the first pass; latency as the per-query median over ``repeat`` passes."""
    runs: list[list[str]] = []
    per_query: list[list[float]] = [[] for _ in c.subset]
    for rep in range(repeat):
        for n, i in enumerate(progress(c.subset) if rep == 0 else c.subset):
            docs, dt = timed(lambda: retriever.invoke(c.qtexts[i], k=k))
            per_query[n].append(dt)
            if rep == 0:
                runs.append([d.id for d in docs])
    lat = [float(np.median(t)) for t in per_query]
    return Row("pipelines", engine, name, **evaluate(c, runs), **percentiles_ms(lat),
               bytes_per_vector=bytes_per_vector, ingest_docs_s=ingest,
               latencies_ms=[x * 1000 for x in lat])


def sparse_bytes(vectors: list[Any]) -> float:
    """Mean stored size of sparse vectors: 4-byte index + 4-byte weight per term."""
    return float(np.mean([8 * len(v) for v in vectors])) if vectors else 0.0


def quantized_bytes(name: str, dim: int) -> float:
    """Bytes per vector of an engine quantization (the float originals kept for rescoring
    are on disk and not counted)."""
    if name.startswith(("binary-", "turbo-")):  # bits per dimension
        return float(name.split("-")[1].removesuffix("bit")) * dim / 8
    if name == "scalar-int8":
        return float(dim)
    return 4 * dim / int(name.removeprefix("pq-x"))


def run_engine(c: Corpus, enc: Encoded, engine: str, pipelines: list[str], k: int,
               repeat: int, workdir: Path, servers: list[Any],
               progress: Callable[..., Any]) -> list[Row]:
    """Every pipeline of ``pipelines`` on one engine (unsupported ones get a note row)."""
    rows: list[Row] = []
    conn = open_engine(engine, workdir, servers)
    ids = c.ds.doc_ids
    try:
        base_needed = [p for p in pipelines if p in ("dense", "bm25", "rerank-maxsim")
                       or p.startswith("hybrid-")]
        if base_needed:
            bm25 = BM25Encoder()
            hybrid, secs = timed(lambda: HybridRetriever.from_texts(
                c.texts, ids=ids, connector=conn, collection="bench", dense=enc.dense,
                sparse=bm25, recreate=True, k=k, fusion="rrf"))
            ingest = len(ids) / secs
            sp = bm25.encode_documents(c.texts[:2000])
            base = dict(connector=conn, collection="bench", k=k)
            made = {
                "dense": (HybridRetriever(dense=enc.dense, **base), 4.0 * enc.dim),
                "bm25": (HybridRetriever(sparse=bm25, **base), sparse_bytes(sp)),
                "hybrid-rrf": (hybrid, None),
                "hybrid-dbsf": (HybridRetriever(dense=enc.dense, sparse=bm25, fusion="dbsf", **base), None),
                "hybrid-weighted": (HybridRetriever(dense=enc.dense, sparse=bm25, fusion="weighted",
                                                    **base), None),
            }
            if "rerank-maxsim" in pipelines and enc.tokens is not None:
                from vectorbridge.retrievers import MaxSimReranker, Rerank

                made["rerank-maxsim"] = (HybridRetriever(
                    dense=enc.dense, sparse=bm25, stages=[Rerank(MaxSimReranker(enc.tokens), k=100)],
                    fusion="rrf", **base), None)
            for name in base_needed:
                if name not in made:
                    rows.append(Row("pipelines", engine, name, note="needs --tokens (cached token vectors)"))
                    continue
                r, nbytes = made[name]
                rows.append(measure(c, engine, name, r, k, repeat, nbytes,
                                    ingest if name == "hybrid-rrf" else None,
                                    lambda it, n=name: progress(it, desc=f"{engine} {n}")))
        for name in [p for p in pipelines if p in QUANTIZERS]:
            try:
                r, secs = timed(lambda: HybridRetriever.from_texts(
                    c.texts, ids=ids, connector=conn, collection=_collection(name), dense=enc.dense,
                    stages=[Quantized(name, oversample=4.0)], recreate=True, k=k))
            except (UnsupportedFeatureError, MilvusException) as e:  # a refusal is a result
                rows.append(Row("pipelines", engine, name,
                                note=f"unsupported: {type(e).__name__}: {str(e)[:160]}"))
                continue
            rows.append(measure(c, engine, name, r, k, repeat, quantized_bytes(name, enc.dim),
                                len(ids) / secs, lambda it, n=name: progress(it, desc=f"{engine} {n}")))
        if "splade" in pipelines:
            if enc.splade is None:
                rows.append(Row("pipelines", engine, "splade", note="no SPLADE model (--splade PATH)"))
            else:
                r, secs = timed(lambda: HybridRetriever.from_texts(
                    c.texts, ids=ids, connector=conn, collection=_collection("splade"), sparse=enc.splade,
                    recreate=True, k=k))
                sp = enc.splade.encode_documents(c.texts[:200])
                rows.append(measure(c, engine, "splade", r, k, repeat, sparse_bytes(sp),
                                    len(ids) / secs, lambda it: progress(it, desc=f"{engine} splade")))
    finally:
        conn.close()
    return rows


__all__ = ["PIPELINES", "DEFAULT_PIPELINES", "ENGINES", "Row", "Encoded", "open_engine",
           "evaluate", "measure", "run_engine", "sparse_bytes", "quantized_bytes"]
