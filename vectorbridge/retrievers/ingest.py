"""Streaming ingest: any number of texts, encoded chunk by chunk while the chunk before is
written.

``add_texts`` used to encode every text it was given before writing the first point, so the
client held all the vectors of a corpus at once and the engine idled while the encoder ran
(and the reverse). Here texts are read from any iterable in chunks; chunk ``i`` is written by
one background writer while chunk ``i + 1`` is encoded, and a third chunk waits until the
writer is free (a queue of one: back-pressure), so memory holds at most two chunks whatever
the corpus size. Sync runs the write on one worker thread (the engines' clients and torch
release the GIL for their heavy parts); async runs it as a task on the engine's async client.

Encoders that learn from the corpus (a PQ / binary quantizer, BM25 statistics fitted on the
client, a residual token codec) are fitted on the first chunk, which is made at least
:data:`FIT_SAMPLE` texts long for that; everything after is encoded with that fit.

With ``journal=``, each written chunk is recorded by a digest of its collection, ids, texts
and metadata (:class:`~vectorbridge.connectors.journal.IngestJournal`); the same call re-run
after a crash skips the chunks already acknowledged without encoding them again (the first
chunk is still encoded, to fit the encoders as before). That needs ids: generated ids would
differ between the two runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice, repeat
from typing import Any, Iterable, Iterator, Sequence

from vectorbridge.connectors.journal import IngestJournal
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.documents import check_texts

#: Texts per encoded chunk (what the client holds twice at most, as texts and vectors).
CHUNK_SIZE = 2048
#: The first chunk's length when an encoder still has to be fitted on the corpus.
FIT_SAMPLE = 50_000


def chunks(texts: Iterable[str], ids: Iterable[str | None] | None,
           metadatas: Iterable[Any] | None, first: int,
           size: int) -> Iterator[tuple[list[str], list[str | None] | None, list[Any] | None]]:
    """``(texts, ids, metadatas)`` chunks read in lockstep: ``first`` texts, then ``size``.

    Lists are checked (texts, equal lengths) before anything is read; iterators as they
    run, so a chunk with a bad text or too few ids or metadatas is refused before it is
    encoded or written."""
    for what, other in (("ids", ids), ("metadatas", metadatas)):
        if isinstance(other, (str, bytes)):
            raise InvalidInputError(f"{what} must be a list (one per text), got a string.")
        if hasattr(texts, "__len__") and hasattr(other, "__len__") and \
                len(other) != len(texts):  # type: ignore[arg-type]
            raise InvalidInputError(f"{len(other)} {what} for {len(texts)} texts; "  # type: ignore[arg-type]
                                    "give one per text. Nothing was written.")
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise InvalidInputError("texts must be an iterable of str (a list, a generator), got "
                                f"{type(texts).__name__}; wrap a single text in a list.")
    if isinstance(texts, Sequence):
        check_texts(texts)  # a list is refused whole, before its first chunk is written
    text_it = iter(texts)
    id_it = iter(ids) if ids is not None else repeat(None)
    meta_it = iter(metadatas) if metadatas is not None else repeat(None)
    n, done = first, 0
    while True:
        part = list(islice(text_it, n))
        if not part:
            break
        part_ids, part_meta = list(islice(id_it, len(part))), list(islice(meta_it, len(part)))
        for what, got in (("ids", part_ids), ("metadatas", part_meta)):
            if len(got) < len(part):
                raise InvalidInputError(f"the {what} ran out at text {done + len(got)}; give one "
                                        f"per text. The {done} texts before were written.")
        yield part, (part_ids if ids is not None else None), \
            (part_meta if metadatas is not None else None)
        done += len(part)
        n = size
    for what, rest in (("ids", ids), ("metadatas", metadatas)):
        it = id_it if what == "ids" else meta_it
        if rest is not None and next(it, _END) is not _END:
            raise InvalidInputError(f"more {what} than texts; give one per text. The "
                                    f"{done} texts were written.")


_END = object()


def chunk_digest(collection: str, ids: Sequence[str], texts: Sequence[str],
                 payloads: Sequence[dict[str, Any]]) -> str:
    """What a chunk writes, before encoding: same digest, same points."""
    h = hashlib.blake2b(digest_size=16)
    h.update(collection.encode() + b"\0")
    h.update(json.dumps([list(ids), list(texts), list(payloads)], sort_keys=True,
                        default=str).encode())
    return "texts-" + h.hexdigest()


class BackgroundWriter:
    """Upserts one chunk at a time in the background; a new chunk waits for the one before
    (back-pressure), and :meth:`drain` waits for the last. Errors of a write are raised at
    the next ``write`` or ``drain``. Methods come in sync / async twins for flows.

    ``indexing``: an :class:`~vectorbridge.connectors.indexing.IndexSchedule` told of each
    written chunk, so the engine's index builds run here too, while the next chunk is
    encoded (and the chunk after waits for them: back-pressure)."""

    def __init__(self, connector: Any, indexing: Any = None) -> None:
        self.connector, self.indexing = connector, indexing
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[Any] | None = None
        self._task: asyncio.Task[Any] | None = None

    def _upsert(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                ack: tuple[IngestJournal, str, int] | None) -> None:
        self.connector.upsert(*args, **kwargs)
        if ack is not None:
            ack[0].record(ack[1], ack[2])
        if self.indexing is not None:
            self.indexing.wrote(len(args[1]))

    async def _aupsert(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                       ack: tuple[IngestJournal, str, int] | None) -> None:
        await self.connector.aupsert(*args, **kwargs)
        if ack is not None:
            ack[0].record(ack[1], ack[2])
        if self.indexing is not None:
            await self.indexing.awrote(len(args[1]))

    def write(self, *args: Any, ack: tuple[IngestJournal, str, int] | None = None,
              **kwargs: Any) -> None:
        """Start ``connector.upsert(*args, **kwargs)`` once the previous write is done;
        ``ack``: (journal, digest, points) recorded when the engine acknowledged it."""
        self._wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vectorbridge-writer")
        self._pending = self._pool.submit(self._upsert, args, kwargs, ack)

    async def awrite(self, *args: Any, ack: tuple[IngestJournal, str, int] | None = None,
                     **kwargs: Any) -> None:
        """Async :meth:`write`: a task on the engine's async client."""
        await self.adrain()
        self._task = asyncio.ensure_future(self._aupsert(args, kwargs, ack))

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def drain(self) -> None:
        """Wait for the write in flight (raising its error), and free the worker."""
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    async def adrain(self) -> None:
        """Async :meth:`drain`."""
        task, self._task = self._task, None
        if task is not None:
            await task


__all__ = ["BackgroundWriter", "CHUNK_SIZE", "FIT_SAMPLE", "chunk_digest", "chunks"]
