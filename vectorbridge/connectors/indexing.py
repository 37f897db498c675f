"""When written points get indexed: the engine's policy, applied in one place.

Engines differ in what unindexed data costs. Milvus searches its growing segments without an
index until they are sealed (Milvus Lite: ten times slower at SciFact's size), so a long
ingest has to seal now and then; Qdrant Edge searches a small segment exactly, faster than
through a graph, and building graphs after every few writes halves its ingest rate. So the
engine says, in :attr:`Capabilities.index_every <vectorbridge.connectors.capabilities.
Capabilities.index_every>`, after how many written points an ingest should index them
(``None``: only at the end of a bulk load), and :class:`IndexSchedule` is what every write
path uses to apply it (and, at the end of a write call, indexes a tail of
:data:`REST_LIMIT` points or more; a bulk load ends indexed): ``VectorBridgeStore``, ``HybridRetriever`` (the ingest's background
writer calls :meth:`IndexSchedule.wrote` after each chunk it wrote, so the index build runs
while the next chunk is encoded), :func:`~vectorbridge.connectors.copying.copy_collection`
and :func:`~vectorbridge.retrievers.versions.reindex` (which end with
:meth:`IndexSchedule.finish`).

Example:
    >>> from vectorbridge.connectors import ReferenceConnector
    >>> conn = ReferenceConnector()
    >>> s = IndexSchedule(conn, "docs", every=1000)
    >>> s.due(600), s.due(600)  # the second crosses 1,000: index the 1,200 counted
    (0, 1200)
    >>> s.indexed(1200); s.due(100)  # optimize succeeded: the count restarts
    0
"""

from __future__ import annotations

import threading
from typing import Any

from vectorbridge.errors import InvalidInputError

#: ``every=`` default: the engine's :attr:`~vectorbridge.connectors.capabilities.
#: Capabilities.index_every`.
ENGINE_POLICY: Any = "engine"

#: At the end of a write call, index if this many points are left unindexed: the store's
#: rule before the engines chose (measured: an index after every small call cost Edge half
#: its ingest rate; a tail this small is scanned in well under a millisecond).
REST_LIMIT = 1000


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

    def due(self, written: int) -> int:
        """Count ``written`` more points; the unindexed count to index now if the policy
        says so, else 0. The count restarts only once the index succeeded (:meth:`indexed`):
        a failed ``optimize`` forgets nothing."""
        with self._lock:
            self._unindexed += written
            if self.every is not None and self._unindexed >= self.every:
                return self._unindexed
            return 0

    def due_at_rest(self) -> int:
        """The end of one write call: the unindexed count if at least :data:`REST_LIMIT`
        points are left unindexed (else 0), so a stream of small calls (LangChain's
        ``add_documents`` of a few texts each) pays one index per ``REST_LIMIT`` points, not
        one per call, and no search scans more than that many unindexed points."""
        with self._lock:
            return self._unindexed if self._unindexed >= REST_LIMIT else 0

    def due_at_end(self) -> int:
        """The end of a bulk load: the count to index if anything is left (points written
        since the last index, or no index yet: a resumed load whose first run wrote them),
        else 0 (-1 stands for "nothing counted, index anyway")."""
        with self._lock:
            if self._unindexed > 0:
                return self._unindexed
            return 0 if self._indexed else -1

    def indexed(self, count: int) -> None:
        """``optimize`` succeeded after ``count`` points were counted (points counted since,
        by a writer thread, stay counted)."""
        with self._lock:
            self._unindexed = max(0, self._unindexed - max(count, 0))
            self._indexed = True

    def _index(self, count: int) -> bool:
        if not count:
            return False
        self.connector.optimize(self.collection)
        self.indexed(count)
        return True

    async def _aindex(self, count: int) -> bool:
        if not count:
            return False
        await self.connector.aoptimize(self.collection)
        self.indexed(count)
        return True

    # -- the acts, sync and async (flows yield ``twin(schedule, "wrote", n)``) ------------
    def wrote(self, written: int) -> bool:
        """``written`` points were written: index them now if the policy says so."""
        return self._index(self.due(written))

    async def awrote(self, written: int) -> bool:
        """Async :meth:`wrote`."""
        return await self._aindex(self.due(written))

    def settle(self) -> bool:
        """The end of one ``add_texts`` call: index if :data:`REST_LIMIT` or more points are
        left unindexed."""
        return self._index(self.due_at_rest())

    async def asettle(self) -> bool:
        """Async :meth:`settle`."""
        return await self._aindex(self.due_at_rest())

    def finish(self) -> bool:
        """The end of a bulk load (``from_texts``, a copy, a reindex): index what is left."""
        return self._index(self.due_at_end())

    async def afinish(self) -> bool:
        """Async :meth:`finish`."""
        return await self._aindex(self.due_at_end())


__all__ = ["ENGINE_POLICY", "REST_LIMIT", "IndexSchedule"]
