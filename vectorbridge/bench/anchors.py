"""vectorbridge side by side with the LangChain integrations it replaces, on the same
vectors and the same engine in one run: ``langchain-qdrant`` (``QdrantVectorStore``, DENSE
and HYBRID) on qdrant-client's local mode, ``langchain-milvus`` (``Milvus``, dense and dense +
sparse) on Milvus Lite. vectorbridge also runs on Qdrant Edge, the engine it uses when asked
for an embedded Qdrant. Everyone gets the cached dense vectors (an ``Embeddings`` serving
them) and vectorbridge's BM25 vectors, so only the integration and the engine are timed.

Ingest runs alternate between the two sides (fresh collections each time) and report the
median of the per-run speedups; queries alternate per query and report the median of the
per-query latency ratios. A third ingest side, :func:`engine_floor`, times only what no
integration can skip on vectorbridge's engine (the ``Embeddings`` call, the BM25 encoding and
the engine client's write of prebuilt points): the anchor's time over it is the largest
speedup any integration could reach there, so an ingest goal can be checked for feasibility
in the same run."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vectorbridge.bench.data import Corpus
from vectorbridge.bench.pipelines import Row, evaluate
from vectorbridge.bench.timing import median_ratio, paired_queries, percentiles_ms, timed
from vectorbridge.connectors import CollectionSpec, MilvusConnector, QdrantConnector, SparseField
from vectorbridge.connectors.milvus import to_entities
from vectorbridge.connectors.qdrant import to_points
from vectorbridge.connectors.validation import prepare_rows
from vectorbridge.encoders import BM25Encoder
from vectorbridge.retrievers import HybridRetriever, VectorBridgeStore


@dataclass
class Ratio:
    """One comparison against an anchor and its goal."""

    what: str
    value: float
    goal: str
    met: bool


def _ingest(makers: Sequence[Callable[[int], Any]], repeat: int
            ) -> tuple[list[list[Any]], list[list[float]]]:
    """Run each maker ``repeat`` times, the order rotating every run so no side always goes
    first; returns each maker's results and its seconds, per run."""
    results: list[list[Any]] = [[] for _ in makers]
    times: list[list[float]] = [[] for _ in makers]
    for rep in range(repeat):
        for j in range(len(makers)):
            side = (j + rep) % len(makers)
            out, dt = timed(lambda: makers[side](rep))
            results[side].append(out)
            times[side].append(dt)
    return results, times


def engine_floor(c: Corpus, emb: Any, conn: Any, sparse: BM25Encoder | None = None,
                 batch: int = 256) -> Callable[[int], float]:
    """The least any integration must spend to ingest ``c`` into ``conn``'s engine: the
    ``Embeddings`` call (and the BM25 encoding) every side pays, plus the engine client's own
    write of points that were built beforehand (untimed) in its native request form. An
    anchor's time divided by this is the most any integration could gain over it there.

    Returns a maker for :func:`_ingest` whose "result" is the timed seconds."""
    dim = len(emb.embed_query(c.qtexts[0]))
    spec = CollectionSpec(name="floor", dense={"dense": dim},
                          sparse={"bm25": SparseField(idf=sparse.idf == "engine")} if sparse else {})
    payloads = [{"text": t, "doc_id": d} for t, d in zip(c.texts, c.ds.doc_ids)]
    milvus = isinstance(conn, MilvusConnector)

    def run(rep: int) -> float:
        conn.create_collection(spec, recreate=True)
        t0 = time.perf_counter()
        dense = emb.embed_documents(c.texts)
        sp = sparse.encode_documents(c.texts) if sparse is not None else None
        t_encode = time.perf_counter() - t0
        vectors = {"dense": np.asarray(dense, dtype=np.float32), **({"bm25": sp} if sp else {})}
        rows = prepare_rows(spec, c.ds.doc_ids, vectors, payloads)
        native = [(to_entities if milvus else to_points)(spec, rows.slice(s, s + batch))
                  for s in range(0, len(rows), batch)]
        t0 = time.perf_counter()
        for part in native:
            if milvus:
                conn.client.upsert("floor", part)
            else:
                conn.client.upsert(collection_name="floor", points=part, wait=True)
        return t_encode + time.perf_counter() - t0

    return run


def _rows(c: Corpus, engine: str, pipeline: str, who: str, runs: list[list[str]],
          lat: list[float], ingest_s: list[float]) -> Row:
    return Row("anchors", engine, f"{pipeline}: {who}", **evaluate(c, runs), **percentiles_ms(lat),
               ingest_docs_s=len(c.texts) / statistics.median(ingest_s),
               latencies_ms=[x * 1000 for x in lat])


def _compare(c: Corpus, engines: tuple[str, str], pipeline: str, anchor: str,
             ours: tuple[Any, Any], theirs: tuple[Any, Any], k: int, repeat: int,
             rows: list[Row], ratios: list[Ratio], hybrid: bool,
             floor: Callable[[int], float] | None = None) -> None:
    """Ingest (alternating builds) and queries (alternating per query) of one pair;
    ``engines``: vectorbridge's engine, the anchor's engine; ``floor``: the bare engine
    write on vectorbridge's engine (:func:`engine_floor`), run in the same rotation."""
    (make_ours, ask_ours), (make_theirs, ask_theirs) = ours, theirs
    results, (t_o, t_t, *_) = _ingest([make_ours, make_theirs, *([floor] if floor else [])],
                                      repeat)
    built_o, built_t = results[0][-1], results[1][-1]
    ro, rt, lo, lt = paired_queries(lambda i: ask_ours(built_o, c.qtexts[i], k),
                                    lambda i: ask_theirs(built_t, c.qtexts[i], k), c.subset, repeat)
    rows.append(_rows(c, engines[0], pipeline, "vectorbridge", ro, lo, t_o))
    rows.append(_rows(c, engines[1], pipeline, anchor, rt, lt, t_t))
    who = f"vectorbridge on {engines[0]} / {anchor} on {engines[1]}"
    speedup = median_ratio(t_t, t_o)
    ratios.append(Ratio(f"{pipeline} ingest docs/s: {who}", speedup, ">= 2x", speedup >= 2.0))
    if floor is not None:
        # The floor's runs return their own timed seconds (the untimed point building and
        # collection creation excluded), paired with the anchor's runs.
        ceiling = median_ratio(t_t, results[2])
        ratios.append(Ratio(f"{pipeline} ingest, the most any integration can reach on "
                            f"{engines[0]}: {anchor} time / bare engine write", ceiling,
                            ">= 2x possible", ceiling >= 2.0))
    lat = median_ratio(lo, lt)
    ratios.append(Ratio(f"{pipeline} query latency: {who}", lat, "<= 0.5x" if hybrid else "-",
                        lat <= 0.5 if hybrid else True))
    q_o, q_t = rows[-2].ndcg10 or 0.0, rows[-1].ndcg10 or 0.0
    ratios.append(Ratio(f"{pipeline} nDCG@10 difference: {who} ({q_o:.3f} vs {q_t:.3f})",
                        q_o - q_t, ">= 0", q_o >= q_t - 1e-9))


def _store_ask(store: Any, q: str, k: int) -> list[str]:
    return [d.metadata.get("doc_id", d.id) for d in store.similarity_search(q, k=k)]


def _retriever_ask(r: HybridRetriever, q: str, k: int) -> list[str]:
    return [d.id for d in r.invoke(q, k=k)]


def qdrant_sparse(bm25: BM25Encoder) -> Any:
    """vectorbridge's BM25 vectors as a langchain-qdrant ``SparseEmbeddings`` (the same
    vectors vectorbridge stores, so both sides search the same data)."""
    from langchain_qdrant import SparseEmbeddings, SparseVector

    class BM25Sparse(SparseEmbeddings):
        def embed_documents(self, docs: list[str]) -> list[SparseVector]:
            return [SparseVector(indices=v.indices.tolist(), values=v.values.tolist())
                    for v in bm25.encode_documents(docs)]

        def embed_query(self, text: str) -> SparseVector:
            v = bm25.encode_queries([text])[0]
            return SparseVector(indices=v.indices.tolist(), values=v.values.tolist())

    return BM25Sparse()


def probed(emb: Any, dim: int) -> Any:
    """``emb`` for langchain-qdrant, which embeds "dummy_text" once to learn the dimension."""

    class Probed(type(emb)):  # type: ignore[misc]
        def embed_documents(self, docs: list[str]) -> list[list[float]]:
            return [[0.0] * dim] if docs == ["dummy_text"] else super().embed_documents(docs)

    return Probed(emb.table)


def qdrant(c: Corpus, emb: Any, dim: int, k: int, repeat: int, workdir: Path,
           engines: tuple[str, ...] = ("qdrant-local", "edge")) -> tuple[list[Row], list[Ratio]]:
    """langchain-qdrant (local mode, its embedded engine) vs vectorbridge on each engine."""
    from langchain_qdrant import QdrantVectorStore, RetrievalMode
    from qdrant_client import models

    bm25 = BM25Encoder()
    bm25.fit(c.texts)
    lc_emb = probed(emb, dim)
    uuids = [str(uuid.uuid5(uuid.NAMESPACE_URL, d)) for d in c.ds.doc_ids]
    meta = [{"doc_id": d} for d in c.ds.doc_ids]

    def conn(engine: str) -> QdrantConnector:
        return QdrantConnector(path=tempfile.mkdtemp(prefix="edge-", dir=workdir)) \
            if engine == "edge" else QdrantConnector(location=":memory:")

    def lc(mode: Any) -> Callable[[int], Any]:
        extra = dict(sparse_embedding=qdrant_sparse(bm25), sparse_vector_params={"modifier": models.Modifier.IDF}) \
            if mode == RetrievalMode.HYBRID else {}
        return lambda rep: QdrantVectorStore.from_texts(
            c.texts, lc_emb, ids=uuids, metadatas=meta, location=":memory:",
            collection_name=f"lc{rep}", retrieval_mode=mode, **extra)

    rows: list[Row] = []
    ratios: list[Ratio] = []
    for engine in engines:
        floor_conn = conn(engine)
        _compare(c, (engine, "qdrant-local"), "dense VectorStore", "langchain-qdrant",
                 (lambda rep, e=engine: VectorBridgeStore.from_texts(
                     c.texts, emb, metadatas=meta, ids=c.ds.doc_ids, connector=conn(e),
                     collection=f"vb{rep}"), _store_ask),
                 (lc(RetrievalMode.DENSE), _store_ask), k, repeat, rows, ratios, hybrid=False,
                 floor=engine_floor(c, emb, floor_conn))
        _compare(c, (engine, "qdrant-local"), "hybrid", "langchain-qdrant",
                 (lambda rep, e=engine: HybridRetriever.from_texts(
                     c.texts, ids=c.ds.doc_ids, connector=conn(e), collection=f"vbh{rep}",
                     dense=emb, sparse=bm25, k=k, fusion="rrf"), _retriever_ask),
                 (lc(RetrievalMode.HYBRID), _store_ask), k, repeat, rows, ratios, hybrid=True,
                 floor=engine_floor(c, emb, floor_conn, sparse=bm25))
    return rows, ratios


def milvus(c: Corpus, emb: Any, k: int, repeat: int, workdir: Path) -> tuple[list[Row], list[Ratio]]:
    """langchain-milvus vs vectorbridge, both on a Milvus Lite file."""
    from langchain_milvus import Milvus
    from langchain_milvus.utils.sparse import BaseSparseEmbedding

    bm25 = BM25Encoder(idf="client").fit(c.texts)  # Milvus Lite has no IDF modifier

    class BM25Dict(BaseSparseEmbedding):
        """vectorbridge's BM25 vectors (client IDF) as langchain-milvus' dicts."""

        def embed_query(self, query: str) -> dict[int, float]:
            return bm25.encode_queries([query])[0].to_dict()

        def embed_documents(self, texts: list[str]) -> list[dict[int, float]]:
            return [v.to_dict() for v in bm25.encode_documents(texts)]

    meta = [{"doc_id": d} for d in c.ds.doc_ids]

    def uri() -> str:
        return str(Path(tempfile.mkdtemp(prefix="lite-", dir=workdir)) / "m.db")

    def lc(hybrid: bool) -> Callable[[int], Any]:
        def make(rep: int) -> Any:
            if not hybrid:
                return Milvus.from_texts(c.texts, emb, metadatas=meta, ids=c.ds.doc_ids,
                                         connection_args={"uri": uri()}, collection_name="lc",
                                         consistency_level="Strong", drop_old=True)
            # Its default sparse index and search params carry drop_ratio_build=0.2, which
            # Milvus Lite refuses at search ("only drop_ratio_build=0 is supported"): keep
            # every weight, as vectorbridge does; the dense index is its default.
            return Milvus.from_texts(c.texts, [emb, BM25Dict()], metadatas=meta, ids=c.ds.doc_ids,
                                     connection_args={"uri": uri()}, collection_name="lch",
                                     vector_field=["dense", "sparse"], consistency_level="Strong",
                                     index_params=[
                                         {"metric_type": "L2", "index_type": "AUTOINDEX", "params": {}},
                                         {"metric_type": "IP", "index_type": "SPARSE_INVERTED_INDEX",
                                          "params": {"drop_ratio_build": 0.0}}],
                                     search_params=[{"metric_type": "L2", "params": {}},
                                                    {"metric_type": "IP", "params": {}}],
                                     drop_old=True)
        return make

    rows: list[Row] = []
    ratios: list[Ratio] = []
    floor_conn = MilvusConnector(uri=uri())
    _compare(c, ("milvus-lite", "milvus-lite"), "dense VectorStore", "langchain-milvus",
             (lambda rep: VectorBridgeStore.from_texts(
                 c.texts, emb, metadatas=meta, ids=c.ds.doc_ids,
                 connector=MilvusConnector(uri=uri()), collection="vb"), _store_ask),
             (lc(False), _store_ask), k, repeat, rows, ratios, hybrid=False,
             floor=engine_floor(c, emb, floor_conn))
    _compare(c, ("milvus-lite", "milvus-lite"), "hybrid", "langchain-milvus",
             (lambda rep: HybridRetriever.from_texts(
                 c.texts, ids=c.ds.doc_ids, connector=MilvusConnector(uri=uri()), collection="vbh",
                 dense=emb, sparse=bm25, k=k, fusion="rrf"), _retriever_ask),
             (lc(True), _store_ask), k, repeat, rows, ratios, hybrid=True,
             floor=engine_floor(c, emb, floor_conn, sparse=bm25))
    return rows, ratios


__all__ = ["Ratio", "qdrant", "milvus", "qdrant_sparse", "probed", "engine_floor"]
