"""When written points get indexed: the engine's policy, applied in one place.

Engines differ in what unindexed data costs. Milvus searches its growing segments without an
index until they are sealed (Milvus Lite: ten times slower at SciFact's size), so a long
ingest has to seal now and then; Qdrant Edge searches a small segment exactly, faster than
through a graph, and building graphs after every few writes halves its ingest rate. So the
engine says, in :attr:`Capabilities.index_every <vectorbridge.connectors.capabilities.
Capabilities.index_every>`, after how many written points an ingest should index them
(``None``: only at the end of a bulk load), and :class:`IndexSchedule` is what every write
path uses to apply it: ``VectorBridgeStore``, ``HybridRetriever`` (the ingest's background
writer calls :meth:`IndexSchedule.wrote` after each chunk it wrote, so the index build runs
while the next chunk is encoded), :func:`~vectorbridge.connectors.copying.copy_collection`
and :func:`~vectorbridge.retrievers.versions.reindex` (which end with
:meth:`IndexSchedule.finish`).

Example:
    >>> from vectorbridge.connectors import ReferenceConnector
    >>> conn = ReferenceConnector()
    >>> s = IndexSchedule(conn, "docs", every=1000)
    >>> s.due(600), s.due(600), s.due(100)  # the second crosses 1,000: index now
    (False, True, False)
"""

from __future__ import annotations

import threading
from typing import Any

from vectorbridge.errors import InvalidInputError

#: ``every=`` default: the engine's :attr:`~vectorbridge.connectors.capabilities.
#: Capabilities.index_every`.
ENGINE_POLICY: Any = "engine"


class IndexSchedule:
    """Counts the points written to one collection since it was last indexed, and calls
    ``connector.optimize`` when the policy says so.

    Args:
        connector: The connector written to.
        collection: The collection written.
        every: Index after this many written points during an ingest; ``None`` or ``0``:
            only at :meth:`finish` (the end of a bulk load). Default: the engine's
            ``capabilities.index_every``.

    Thread-safe: the ingest's writer thread counts while the caller's thread may finish.
    """

    def __init__(self, connector: Any, collection: str, every: int | None = ENGINE_POLICY) -> None:
        if every is ENGINE_POLICY:
            every = connector.capabilities.index_every
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 0):
            raise InvalidInputError(f"index every must be None or an int >= 0, got {every!r}.")
        self.connector, self.collection, self.every = connector, collection, every or None
        self._unindexed = 0
        self._indexed = False  # an index since this schedule began (else finish() indexes)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"IndexSchedule({self.collection!r}, every={self.every}, "
                f"unindexed={self._unindexed})")

    @property
    def unindexed(self) -> int:
        """Points written since the last index (by this schedule's count)."""
        return self._unindexed

    def due(self, written: int) -> bool:
        """Count ``written`` more points; whether to index now (the count restarts if so)."""
        with self._lock:
            self._unindexed += written
            if self.every is not None and self._unindexed >= self.every:
                self._unindexed, self._indexed = 0, True
                return True
            return False

    def due_at_end(self) -> bool:
        """The end of a bulk load: whether anything is left to index (points written since
        the last index, or no index yet: a resumed load whose first run wrote them)."""
        with self._lock:
            due = self._unindexed > 0 or not self._indexed
            self._unindexed, self._indexed = 0, True
            return due

    # -- the acts, sync and async (flows yield ``twin(schedule, "wrote", n)``) ------------
    def wrote(self, written: int) -> bool:
        """``written`` points were written: index them now if the policy says so."""
        if self.due(written):
            self.connector.optimize(self.collection)
            return True
        return False

    async def awrote(self, written: int) -> bool:
        """Async :meth:`wrote`."""
        if self.due(written):
            await self.connector.aoptimize(self.collection)
            return True
        return False

    def finish(self) -> bool:
        """The end of a bulk load (``from_texts``, a copy, a reindex): index what is left."""
        if self.due_at_end():
            self.connector.optimize(self.collection)
            return True
        return False

    async def afinish(self) -> bool:
        """Async :meth:`finish`."""
        if self.due_at_end():
            await self.connector.aoptimize(self.collection)
            return True
        return False


__all__ = ["ENGINE_POLICY", "IndexSchedule"]
