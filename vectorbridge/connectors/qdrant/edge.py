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
import contextlib
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator


from vectorbridge.connectors.qdrant.edge_models import (
    HNSW_EF_CONSTRUCT, HNSW_M, _with_payload, edge_filter, edge_params, edge_prefetch,
    edge_query, edge_vector, edge_vector_params,
)
from vectorbridge.errors import CollectionNotFoundError, InvalidInputError, StoreLockedError
from vectorbridge.extras import requires

with requires("qdrant", "Qdrant Edge (QdrantConnector(path=...))"):
    import qdrant_edge as qe
    from qdrant_client import models

_META_FILE = "collection.json"
_SHARD_DIR = "shard"
_ALIASES_FILE = "aliases.json"

#: Held shard files: a second EdgeShard on a shard's folder finds its write-ahead log locked.
HELD_MARKERS = ("WouldBlock", "failed to open WAL")


@contextlib.contextmanager
def _held(folder: Path) -> Iterator[None]:
    """Qdrant Edge's own error for a shard another EdgeShard holds (this process or another:
    ``Service runtime error: failed to open WAL ...: Can't init WAL: Kind(WouldBlock)``) as
    one that names the folder and the fix."""
    try:
        yield
    except Exception as e:  # Edge raises plain Exception
        if not any(m in str(e) for m in HELD_MARKERS):
            raise
        raise StoreLockedError(
            f"Qdrant Edge folder {str(folder.parent)!r} is open in another connector (in this "
            "process or another one): an embedded store serves one connector in one process. "
            "Share that connector (it is thread-safe, async too), or, for several worker "
            "processes, serve the data from a server: a Qdrant server (QdrantConnector(url=...)) "
            "or Milvus Lite's server mode (docs: Operations, *Several workers*).") from e


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
            with _held(self._dir(name)):
                shard = qe.EdgeShard.load(str(self._dir(name) / _SHARD_DIR),
                                          self._config(params, sparse))
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
            with _held(root):
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
            hnsw_config=qe.HnswIndexConfig(m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT,
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

    # -- aliases: Edge has none, so the folder keeps its own ----------------------------
    def _alias_file(self) -> Path:
        return self.path / _ALIASES_FILE

    def _read_aliases(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._alias_file().read_text()))
        except FileNotFoundError:
            return {}

    def get_aliases(self) -> Any:
        """Every alias of this folder, in ``CollectionsAliasesResponse``'s shape."""
        return SimpleNamespace(aliases=[SimpleNamespace(alias_name=a, collection_name=c)
                                        for a, c in sorted(self._read_aliases().items())])

    def update_collection_aliases(self, change_aliases_operations: list[Any]) -> bool:
        """Apply alias changes as one step, as a server does: the new table is written to a
        temporary file, fsynced, and renamed over the old one (``os.replace`` is atomic), so
        a reader, in this process or after a crash, reads the whole old or the whole new
        table. The lock orders writers of this client; Edge lets one process open a folder."""
        with self._lock:
            table = self._read_aliases()
            for change in change_aliases_operations:
                if isinstance(change, models.CreateAliasOperation):
                    op = change.create_alias
                    if not self.collection_exists(op.collection_name):
                        raise CollectionNotFoundError(
                            f"Qdrant Edge collection {op.collection_name!r} does not exist "
                            f"under {self.path}: an alias must name a collection.")
                    table[op.alias_name] = op.collection_name
                elif isinstance(change, models.DeleteAliasOperation):
                    table.pop(change.delete_alias.alias_name, None)
                else:
                    raise InvalidInputError(f"Qdrant Edge: unknown alias operation {change!r}.")
            tmp = self.path / f".{_ALIASES_FILE}.tmp"
            with tmp.open("w", encoding="utf-8") as f:
                json.dump(table, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._alias_file())
        return True

    # -- points ---------------------------------------------------------------------------
    def upsert(self, collection_name: str, points: list[models.PointStruct], wait: bool = True,
               update_mode: models.UpdateMode | None = None) -> Any:
        """``update_mode``: INSERT_ONLY / UPDATE_ONLY, applied by Edge (``qe.UpdateMode``)."""
        col = self._get(collection_name)
        col.shard.update(qe.UpdateOperation.upsert_points([
            qe.Point(p.id, {n: edge_vector(v) for n, v in p.vector.items()}, p.payload)
            for p in points], update_mode=_EDGE_UPDATE_MODES[update_mode]))
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

    def set_payload(self, collection_name: str, payload: dict[str, Any], points: Any,
                    key: str | None = None, wait: bool = True) -> Any:
        """Set ``payload``'s keys on the selected points (other keys kept): Edge's
        ``set_payload`` / ``set_payload_by_filter``."""
        shard = self._get(collection_name).shard
        if isinstance(points, models.FilterSelector):
            points = points.filter
        if isinstance(points, models.Filter):
            shard.update(qe.UpdateOperation.set_payload_by_filter(edge_filter(points), payload,
                                                                  key))
        elif isinstance(points, models.PointIdsList) or isinstance(points, list):
            ids = points.points if isinstance(points, models.PointIdsList) else points
            shard.update(qe.UpdateOperation.set_payload([str(i) for i in ids], payload, key))
        else:
            raise InvalidInputError(f"Qdrant Edge: unknown points selector {points!r}.")
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


_EDGE_UPDATE_MODES = {None: None, models.UpdateMode.UPSERT: qe.UpdateMode.Upsert,
                      models.UpdateMode.INSERT_ONLY: qe.UpdateMode.InsertOnly,
                      models.UpdateMode.UPDATE_ONLY: qe.UpdateMode.UpdateOnly}


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


__all__ = ["AsyncEdgeClient", "EdgeClient", "edge_filter", "edge_params", "is_local_mode_folder"]
