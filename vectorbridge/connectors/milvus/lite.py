"""What is particular to Milvus Lite: up to what size it serves (and one warning past it),
and loading a collection it has just flushed.

Milvus Lite 3.x is a Python engine: with ``index_type="FLAT"`` (vectorbridge's default there,
exact) every search scans every vector, and with ``"HNSW"`` / ``"AUTOINDEX"`` it builds a
faiss HNSW graph per sealed segment (faiss-cpu is a vectorbridge dependency). Its search
time and its JSON filters grow with the collection (docs: Scale, *Milvus Lite's place*), so
past :data:`LITE_SERVES` points of a collection the connector logs, once per collection, that
Qdrant Edge (in-process, the same kind of zero-setup engine) or a Milvus server is the engine
for that size.
"""

from __future__ import annotations

import logging
import time
from typing import Any


from vectorbridge.errors import StoreLockedError
from vectorbridge.extras import requires

with requires("milvus", "MilvusConnector"):
    from pymilvus.exceptions import MilvusException

log = logging.getLogger("vectorbridge")

#: Points of one collection past which Milvus Lite is logged as the wrong engine, by the
#: dense index it builds (measured in ``vectorbridge bench scale``: docs, Scale).
LITE_SERVES = {"FLAT": 50_000, "BRUTE_FORCE": 50_000}
#: Any other index (faiss HNSW, IVF): faster unfiltered searches, but selective filters lose
#: recall (faiss walks the graph and skips the excluded ids).
LITE_SERVES_INDEXED = 100_000


class LiteSize:
    """Counts what one connector writes per collection and warns once per collection past
    the size Milvus Lite serves with ``index_type``."""

    def __init__(self, index_type: str) -> None:
        self.index_type = index_type
        self.limit = LITE_SERVES.get(index_type.upper(), LITE_SERVES_INDEXED)
        self._written: dict[str, int] = {}
        self._warned: set[str] = set()

    def wrote(self, collection: str, n: int) -> bool:
        """Note ``n`` more points written; True when the running total passes the limit
        (re-upserts count again, so the caller then asks the engine for the exact count)."""
        before = self._written.get(collection, 0)
        self._written[collection] = before + n
        return collection not in self._warned and before <= self.limit < before + n

    def check(self, collection: str, count: int) -> None:
        """Warn once if the collection holds more than Milvus Lite serves."""
        if count <= self.limit or collection in self._warned:
            return
        self._warned.add(collection)
        log.warning(
            "Milvus Lite collection %r holds %d points, past the %d it serves with "
            "index_type=%r (its searches and JSON filters grow with the collection: docs, "
            "Scale). Use Qdrant Edge (QdrantConnector(path=...), in-process) or a Milvus "
            "server for this size.", collection, count, self.limit, self.index_type)


#: Milvus Lite's replies to a load while the sealed segment's files are still being written:
#: numpy's "file seems not fully written" and its ``EOFError`` "No data left in file".
_UNFINISHED_FILE = ("not fully written", "No data left in file")


def load_after_flush(client: Any, name: str, tries: int = 40) -> None:
    """Load a collection just flushed. Milvus Lite may still be writing the sealed
    segment's files: under load its ``load_collection`` failed here with "file seems not
    fully written" or "No data left in file"; those replies alone are retried, a quarter
    second apart."""
    for attempt in range(tries):
        try:
            client.load_collection(name)
            return
        except MilvusException as e:
            if not any(m in str(e) for m in _UNFINISHED_FILE) or attempt == tries - 1:
                raise
            time.sleep(0.25)


def held_elsewhere(uri: str, exc: MilvusException) -> StoreLockedError | None:
    """What to raise when ``MilvusClient(uri)`` failed: a Milvus Lite file another process
    holds (pymilvus says only ``Open local milvus failed``; milvus-lite logs
    ``DataDirLockedError``) as an error naming the file and the fix; ``None`` for any other."""
    if "Open local milvus failed" not in str(exc):
        return None
    return StoreLockedError(
        f"Milvus Lite could not open {uri!r}: another process holds it (a Milvus Lite file "
        "serves one process), or it is not a Milvus Lite file. Connectors in one process share "
        "it; for several worker processes run Milvus Lite's server (`milvus-lite server "
        "--data-dir <folder> --port 19530`, then MilvusConnector(uri='http://127.0.0.1:19530')) "
        "or a Milvus "
        "server (docs: Operations, *Several workers*).")


__all__ = ["LITE_SERVES", "LITE_SERVES_INDEXED", "LiteSize", "load_after_flush", "held_elsewhere"]
