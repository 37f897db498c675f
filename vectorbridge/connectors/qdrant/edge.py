"""Qdrant Edge — the real Qdrant engine in-process — behind qdrant-client's call shapes.

``qdrant-edge-py`` runs Qdrant's Rust engine inside this process: HNSW, the sparse index
with the IDF modifier, binary / scalar / product quantization with rescoring, MAX_SIM
multivectors, prefetch + RRF / DBSF fusion, a WAL on disk. qdrant-client's own embedded
mode is a pure-Python emulation (exact search, quantization ignored, ~200x slower on hybrid
queries), so vectorbridge uses Edge whenever a folder is asked for
(``QdrantConnector(path=...)``).

Edge serves one *shard* (one collection) per directory and has no collection API. This
module adds what :class:`~vectorbridge.connectors.qdrant.QdrantConnector` expects from a
``QdrantClient``, for the calls it makes (``create_collection``, ``upsert``,
``query_points``, ``retrieve``, ``scroll``, ``count``, ``delete``, ...), translating
qdrant-client models to Edge's classes. So the connector's request building, result parsing
and hybrid plans are the ones it uses on a server, and moving from a folder to ``url=``
changes no user code.

Layout of ``path``: one directory per collection, holding the shard (``shard/``) and the
collection's metadata (``collection.json``: vectorbridge's spec), written atomically after
the shard exists; a directory without it is an unfinished create and is not a collection.

What Edge does not have, and the server does: several collections in one engine (here: one
shard per directory, opened lazily), sharding and replication (one shard in one process:
the settings are accepted and not applied), snapshots through this connector, and an async
API (:class:`AsyncEdgeClient` runs the same calls on one worker thread).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import qdrant_edge as qe
from qdrant_client import models

from vectorbridge.errors import CollectionNotFoundError, InvalidInputError

_META_FILE = "collection.json"
#: Qdrant's HNSW defaults (graph degree, build beam): what a server would build.
_HNSW_M, _HNSW_EF_CONSTRUCT = 16, 100
_SHARD_DIR = "shard"

_DISTANCE = {models.Distance.COSINE: qe.Distance.Cosine, models.Distance.DOT: qe.Distance.Dot,
             models.Distance.EUCLID: qe.Distance.Euclid,
             models.Distance.MANHATTAN: qe.Distance.Manhattan}
_BINARY_ENCODING = {models.BinaryQuantizationEncoding.ONE_BIT: qe.BinaryQuantizationEncoding.OneBit,
                    models.BinaryQuantizationEncoding.TWO_BITS: qe.BinaryQuantizationEncoding.TwoBits,
                    models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS:
                        qe.BinaryQuantizationEncoding.OneAndHalfBits}
_COMPRESSION = {f"x{n}": getattr(qe.CompressionRatio, f"X{n}") for n in (4, 8, 16, 32, 64)}


# -- qdrant-client models -> Edge objects: pure functions ------------------------------------
def edge_quantization(q: Any) -> Any:
    """A qdrant-client quantization config as Edge's (``None`` stays ``None``)."""
    if q is None:
        return None
    if isinstance(q, models.BinaryQuantization):
        enc = q.binary.encoding or models.BinaryQuantizationEncoding.ONE_BIT
        return qe.BinaryQuantizationConfig(always_ram=q.binary.always_ram,
                                           encoding=_BINARY_ENCODING[enc])
    if isinstance(q, models.ScalarQuantization):
        return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=q.scalar.quantile,
                                           always_ram=q.scalar.always_ram)
    if isinstance(q, models.ProductQuantization):
        ratio = q.product.compression
        return qe.ProductQuantizationConfig(compression=_COMPRESSION[getattr(ratio, "value", ratio)],
                                            always_ram=q.product.always_ram)
    raise InvalidInputError(f"Qdrant Edge has no mapping for {type(q).__name__}.")


def edge_vector_params(p: models.VectorParams) -> qe.EdgeVectorParams:
    multi = qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim) if p.multivector_config else None
    dtype = qe.VectorStorageDatatype.Uint8 if p.datatype == models.Datatype.UINT8 else None
    no_graph = p.hnsw_config is not None and p.hnsw_config.m == 0  # a field never searched
    hnsw = qe.HnswIndexConfig(m=0, ef_construct=_HNSW_EF_CONSTRUCT, full_scan_threshold=0) \
        if no_graph else None
    return qe.EdgeVectorParams(size=p.size, distance=_DISTANCE[p.distance],
                               multivector_config=multi, datatype=dtype, hnsw_config=hnsw,
                               quantization_config=edge_quantization(p.quantization_config))


def edge_filter(f: Any) -> qe.Filter | None:
    """A qdrant-client ``Filter`` (as the connector's filter compiler builds them) as Edge's."""
    if f is None:
        return None
    return qe.Filter(must=_conditions(f.must), should=_conditions(f.should),
                     must_not=_conditions(f.must_not))


def _conditions(conds: Any) -> list[Any] | None:
    if conds is None:
        return None
    if not isinstance(conds, list):
        conds = [conds]
    return [_condition(c) for c in conds]


def _condition(c: Any) -> Any:
    if isinstance(c, models.Filter):
        return edge_filter(c)
    if isinstance(c, models.HasIdCondition):
        return qe.HasIdCondition(set(str(i) for i in c.has_id))
    if isinstance(c, models.FieldCondition):
        if isinstance(c.match, models.MatchValue):
            v = c.match.value  # a Python bool would be read as the int 1 / 0 by Edge's binding
            return qe.FieldCondition(key=c.key, match=qe.MatchValue(
                np.bool_(v) if isinstance(v, bool) else v))
        if isinstance(c.match, models.MatchAny):
            return qe.FieldCondition(key=c.key, match=qe.MatchAny(list(c.match.any)))
        if isinstance(c.range, models.Range):
            r = c.range
            return qe.FieldCondition(key=c.key, range=qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte,
                                                                    lt=r.lt))
    raise InvalidInputError(f"Qdrant Edge has no mapping for the condition {c!r}.")


def edge_vector(v: Any) -> Any:
    """A point's or query's vector: dense / multi lists pass, sparse becomes Edge's."""
    if isinstance(v, models.SparseVector):
        return qe.SparseVector(list(v.indices), list(v.values))
    return v


def edge_query(query: Any, using: str | None) -> Any:
    if isinstance(query, models.RrfQuery):
        return qe.Fusion.Rrf(k=query.rrf.k, weights=query.rrf.weights)
    if isinstance(query, models.FusionQuery):
        if query.fusion == models.Fusion.DBSF:
            return qe.Fusion.Dbsf()
        return qe.Fusion.Rrf(k=60)
    if query is None:
        return None
    if isinstance(query, models.NearestQuery) and query.mmr is not None:
        # Edge's lambda_ weighs relevance (1 = pure relevance); the server's diversity is 1 - it
        mmr = query.mmr
        return qe.Mmr(edge_vector(query.nearest), 1.0 - mmr.diversity, mmr.candidates_limit,
                      using=using)
    return qe.Query.Nearest(edge_vector(query), using=using)


def edge_params(p: models.SearchParams | None) -> qe.SearchParams | None:
    if p is None:
        return None
    q = p.quantization
    quant = qe.QuantizationSearchParams(ignore=bool(q.ignore), rescore=q.rescore,
                                        oversampling=q.oversampling) if q is not None else None
    return qe.SearchParams(hnsw_ef=p.hnsw_ef, exact=bool(p.exact), quantization=quant)


def edge_prefetch(p: Any) -> list[qe.Prefetch] | None:
    if p is None:
        return None
    if not isinstance(p, list):
        p = [p]
    return [qe.Prefetch(limit=x.limit, query=edge_query(x.query, x.using),
                        prefetches=edge_prefetch(x.prefetch), params=edge_params(x.params),
                        filter=edge_filter(x.filter)) for x in p]


def _with_payload(w: Any) -> Any:
    return qe.PayloadSelector.Include(list(w)) if isinstance(w, list) else w


@dataclass
class _Collection:
    shard: qe.EdgeShard
    meta: dict[str, Any]
    params: dict[str, models.VectorParams]


class EdgeClient:
    """The subset of ``QdrantClient`` that :class:`QdrantConnector` calls, on Qdrant Edge
    shards under one folder (one per collection).

    Args:
        path: The folder; created if missing.
        search_threads: Threads Edge may use for one query. 1 by default: at embedded scale
            a query is too small to split (one thread halved Edge's latency on SciFact:
            docs, Benchmarks, *Embedded Qdrant engines*); raise it for shards of millions of
            points. ``None``: Edge's default.
        index_threshold_kb: Vector data (KB per segment) above which a segment gets an HNSW
            graph and is searched through it; smaller ones are scanned exactly. Qdrant's
            server defaults (10,000 KB to index and to leave full scan) keep a SciFact-sized
            shard on full scan, about twice as slow per query as through the graph, with
            the same quality (docs, Benchmarks, *Embedded Qdrant engines*). Filtered searches whose filter keeps less than this much data are still exact.

    Edge builds HNSW graphs and quantized copies when its optimizer runs, which this client
    does on :meth:`optimize` (``QdrantConnector.optimize``, called by
    ``HybridRetriever.from_texts`` after ingest); until then new points are searched exactly.
    """

    def __init__(self, path: str | os.PathLike[str], search_threads: int | None = 1,
                 index_threshold_kb: int = 1000) -> None:
        if isinstance(index_threshold_kb, bool) or not isinstance(index_threshold_kb, int) \
                or index_threshold_kb < 1:
            raise InvalidInputError(f"index_threshold_kb must be a positive int (KB), got "
                                    f"{index_threshold_kb!r}.")
        self.path = Path(path)
        self.search_threads = search_threads
        self.index_threshold_kb = index_threshold_kb
        self.path.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, _Collection] = {}
        self._lock = threading.RLock()  # open/close/drop of shards; queries run in parallel

    def __repr__(self) -> str:
        return f"EdgeClient({str(self.path)!r})"

    # -- collections ----------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        return self.path / name

    def collection_exists(self, collection_name: str) -> bool:
        return (self._dir(collection_name) / _META_FILE).is_file()

    def _get(self, name: str) -> _Collection:
        col = self._open.get(name)
        if col is not None:
            return col
        with self._lock:
            if name in self._open:
                return self._open[name]
            if not self.collection_exists(name):
                raise CollectionNotFoundError(f"Qdrant Edge collection {name!r} does not exist "
                                              f"under {self.path}.")
            meta = json.loads((self._dir(name) / _META_FILE).read_text())
            params = {n: models.VectorParams(**p) for n, p in meta.get("vectors", {}).items()}
            sparse = {n: models.SparseVectorParams(**p) for n, p in meta.get("sparse", {}).items()}
            # Edge checks a load-time config against the shard: restate its fields as created,
            # so the search settings (this client's, not persisted by choice) can be given again.
            shard = qe.EdgeShard.load(str(self._dir(name) / _SHARD_DIR), self._config(params, sparse))
            self._open[name] = col = _Collection(shard, meta, params)
            return col

    def get_collection(self, collection_name: str) -> Any:
        """Metadata and vector params in ``CollectionInfo``'s shape (``.config.metadata``,
        ``.config.params.vectors``), plus Edge's shard info as ``.info``."""
        col = self._get(collection_name)
        info = col.shard.info()
        return SimpleNamespace(
            config=SimpleNamespace(metadata=col.meta.get("metadata") or {},
                                   params=SimpleNamespace(vectors=col.params)),
            info=info, points_count=info.points_count)

    def create_collection(self, collection_name: str, vectors_config: dict[str, models.VectorParams],
                          sparse_vectors_config: dict[str, models.SparseVectorParams] | None = None,
                          metadata: dict[str, Any] | None = None, shard_number: int | None = None,
                          replication_factor: int | None = None,
                          write_consistency_factor: int | None = None) -> bool:
        """Sharding and replication settings are accepted and not applied: an Edge shard is
        one shard in one process (they take effect when the same spec meets a server)."""
        with self._lock:
            if self.collection_exists(collection_name):
                raise InvalidInputError(f"Qdrant Edge collection {collection_name!r} exists.")
            root = self._dir(collection_name)
            if root.exists():  # an unfinished create (no metadata written): start over
                shutil.rmtree(root)
            sparse_vectors_config = sparse_vectors_config or {}
            shard = qe.EdgeShard.create(str(root / _SHARD_DIR),
                                        self._config(vectors_config, sparse_vectors_config))
            meta = {"metadata": metadata or {},
                    "vectors": {n: p.model_dump(mode="json", exclude_none=True)
                                for n, p in vectors_config.items()},
                    "sparse": {n: p.model_dump(mode="json", exclude_none=True)
                               for n, p in sparse_vectors_config.items()}}
            tmp = root / (_META_FILE + ".tmp")
            tmp.write_text(json.dumps(meta))
            os.replace(tmp, root / _META_FILE)  # the collection exists from here on
            self._open[collection_name] = _Collection(shard, meta, dict(vectors_config))
            return True

    def _config(self, vectors: dict[str, models.VectorParams],
                sparse: dict[str, models.SparseVectorParams]) -> qe.EdgeConfig:
        """Edge's config for these fields and this client's search settings.

        Indexing starts past ``index_threshold_kb`` of vectors in a segment; a field that
        asks for quantization gets indexing at any size instead, because Edge builds
        quantized copies only when it indexes a segment (and the user asked for them)."""
        quantized = any(p.quantization_config is not None for p in vectors.values())
        kb = self.index_threshold_kb
        return qe.EdgeConfig(
            vectors={n: edge_vector_params(p) for n, p in vectors.items()},
            sparse_vectors={n: qe.EdgeSparseVectorParams(
                modifier=qe.Modifier.Idf if p.modifier == models.Modifier.IDF else None)
                for n, p in sparse.items()} or None,
            max_search_threads=self.search_threads,
            hnsw_config=qe.HnswIndexConfig(m=_HNSW_M, ef_construct=_HNSW_EF_CONSTRUCT,
                                           full_scan_threshold=kb),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1 if quantized else kb))

    def delete_collection(self, collection_name: str) -> bool:
        with self._lock:
            col = self._open.pop(collection_name, None)
            if col is not None:
                col.shard.close()
            root = self._dir(collection_name)
            if not root.exists():
                return False
            (root / _META_FILE).unlink(missing_ok=True)  # gone as a collection first
            shutil.rmtree(root)
            return True

    # -- points ---------------------------------------------------------------------------
    def upsert(self, collection_name: str, points: list[models.PointStruct], wait: bool = True) -> Any:
        col = self._get(collection_name)
        col.shard.update(qe.UpdateOperation.upsert_points([
            qe.Point(p.id, {n: edge_vector(v) for n, v in p.vector.items()}, p.payload)
            for p in points]))
        return SimpleNamespace(status="completed")

    def optimize(self, collection_name: str) -> bool:
        """Build indexes and quantized copies of the points written so far."""
        return self._get(collection_name).shard.optimize()

    def create_payload_index(self, collection_name: str, field_name: str, field_schema: Any) -> Any:
        if isinstance(field_schema, models.KeywordIndexParams):
            schema: Any = qe.KeywordIndexParams(is_tenant=field_schema.is_tenant)
        else:
            schema = getattr(qe.PayloadSchemaType, str(field_schema.value).capitalize())
        self._get(collection_name).shard.update(qe.UpdateOperation.create_field_index(field_name, schema))
        return SimpleNamespace(status="completed")

    def retrieve(self, collection_name: str, ids: list[Any], with_payload: Any = True,
                 with_vectors: Any = False) -> list[Any]:
        return self._get(collection_name).shard.retrieve(
            [str(i) for i in ids], with_payload=_with_payload(with_payload), with_vector=with_vectors)

    def delete(self, collection_name: str, points_selector: Any, wait: bool = True) -> Any:
        shard = self._get(collection_name).shard
        if isinstance(points_selector, models.PointIdsList):
            shard.update(qe.UpdateOperation.delete_points([str(i) for i in points_selector.points]))
        elif isinstance(points_selector, models.FilterSelector):
            shard.update(qe.UpdateOperation.delete_points_by_filter(edge_filter(points_selector.filter)))
        else:
            raise InvalidInputError(f"Qdrant Edge: unknown points selector {points_selector!r}.")
        return SimpleNamespace(status="completed")

    def scroll(self, collection_name: str, scroll_filter: Any = None, limit: int = 10,
               offset: Any = None, with_payload: Any = True,
               with_vectors: Any = False) -> tuple[list[Any], Any]:
        return self._get(collection_name).shard.scroll(qe.ScrollRequest(
            offset=offset, limit=limit, filter=edge_filter(scroll_filter),
            with_payload=_with_payload(with_payload), with_vector=with_vectors))

    def count(self, collection_name: str, count_filter: Any = None, exact: bool = True) -> Any:
        n = self._get(collection_name).shard.count(qe.CountRequest(exact=exact,
                                                                  filter=edge_filter(count_filter)))
        return SimpleNamespace(count=n)

    def query_points(self, collection_name: str, query: Any = None, using: str | None = None,
                     prefetch: Any = None, limit: int = 10, query_filter: Any = None,
                     with_payload: Any = True, with_vectors: Any = False,
                     search_params: models.SearchParams | None = None) -> Any:
        points = self._get(collection_name).shard.query(qe.QueryRequest(
            limit=limit, query=edge_query(query, using), prefetches=edge_prefetch(prefetch),
            with_vector=with_vectors, with_payload=_with_payload(with_payload),
            filter=edge_filter(query_filter), params=edge_params(search_params)))
        return SimpleNamespace(points=points)

    def close(self) -> None:
        """Flush and close every open shard (reopened lazily on the next call)."""
        with self._lock:
            for col in self._open.values():
                col.shard.flush()
                col.shard.close()
            self._open.clear()


class AsyncEdgeClient:
    """Awaitable twins of :class:`EdgeClient`'s methods. Edge has no async API: each call
    runs on one worker thread of this client, so the event loop never blocks on the engine
    and calls stay in order."""

    def __init__(self, client: EdgeClient) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-edge")

    def __getattr__(self, method: str) -> Callable[..., Any]:
        fn = getattr(self._client, method)

        async def run(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

        return run

    async def close(self) -> None:
        self._pool.shutdown(wait=True)


def is_local_mode_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds qdrant-client local-mode data (its ``meta.json`` and
    ``collection/`` layout), which Edge cannot read."""
    p = Path(path)
    return (p / "meta.json").is_file() and (p / "collection").is_dir()


__all__ = ["AsyncEdgeClient", "EdgeClient", "edge_filter", "is_local_mode_folder"]
