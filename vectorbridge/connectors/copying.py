"""Copy a collection from any engine to any other: streamed, resumable, verified.

A collection outlives its engine: Milvus Lite files of one major version do not open in the
next, a prototype on Qdrant Edge moves to a server, a server moves to another vendor.
:func:`copy_collection` reads the source page by page with the engine's own pagination
(:meth:`Connector.scroll`: Qdrant's scroll, Milvus' primary-key order), so memory stays flat
in the collection's size, and writes each page to the destination with an ordinary upsert,
from the one portable :class:`~vectorbridge.connectors.spec.CollectionSpec`:

- ids stay the original strings, payloads stay as they are, and every vector field is
  carried (dense, sparse, multi-vector, binary); an engine-BM25 field has no vector to
  carry: the destination's engine derives it again from the text under the spec's
  ``text_key``;
- what the destination cannot hold is refused before the first write, with the reasons
  ``create_collection`` gives (each names an alternative);
- with ``journal=path``, each acknowledged page's cursor is appended to the file (fsynced):
  killed at any point, the same call starts after the last acknowledged page. Upserts by id
  are idempotent, so a page written but not yet journaled is written again, never doubled;
- the copy is verified and reported (:class:`CopyReport`): counts and id sets, payloads,
  vectors within float32 tolerance, and the top-10 agreement of sample queries between
  source and destination.

The source should be quiet while it is copied (or read through an alias that does not move):
points written to it during the copy may or may not be carried, as with any scroll.

Example:
    >>> import numpy as np
    >>> from vectorbridge.connectors import CollectionSpec, ReferenceConnector
    >>> src, dst = ReferenceConnector(), ReferenceConnector()
    >>> _ = src.create_collection(CollectionSpec(name="docs", dense={"v": 2}))
    >>> _ = src.upsert("docs", ["a", "b"], {"v": np.eye(2, dtype=np.float32)})
    >>> report = copy_collection(src, "docs", dst, "docs_copy")
    >>> report.copied, report.verification.ok
    (2, True)
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.filters import Filter, as_filter
from vectorbridge.connectors.indexing import IndexSchedule
from vectorbridge.connectors.results import Record
from vectorbridge.connectors.spec import CollectionSpec
from vectorbridge.connectors.verify import (
    Transform, Verification, stored_fields, text_fields, verify_copy, with_texts,
)
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError


@dataclass
class CopyReport:
    """What :func:`copy_collection` did.

    Attributes:
        source: ``engine:collection`` read (an alias resolved to its collection).
        destination: ``engine:collection`` written.
        copied: Points written by this call.
        resumed: Points earlier, interrupted calls had written (from the journal).
        pages: Pages read by this call.
        seconds: Wall time of the copy (verification excluded).
        verification: The check, unless ``verify=False``.
    """

    source: str
    destination: str
    copied: int
    resumed: int
    pages: int
    seconds: float
    verification: Verification | None = None

    @property
    def points_per_second(self) -> float:
        return self.copied / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        head = (f"{self.source} -> {self.destination}: {self.copied:,} points in "
                f"{self.seconds:.1f} s ({self.points_per_second:,.0f} points/s)"
                + (f", {self.resumed:,} copied by an earlier run" if self.resumed else ""))
        return head + ("\n" + self.verification.summary() if self.verification else "")


class CopyJournal:
    """The cursor of every acknowledged page of one copy, in an append-only file.

    The first line names the copy (source, destination, filter, page size); a journal of
    another copy is refused rather than resumed. Each later line holds the cursor after an
    acknowledged page, the source points read and the points written so far, fsynced before
    the next page is written. A torn last line (a kill while appending) is dropped: that page
    is copied again; a torn first line is written anew. A finished journal makes the same
    call copy nothing: pass a new path to copy again.
    """

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any]) -> None:
        self.path = Path(path)
        self.header = header
        self.cursor: str | None = None
        self.read = self.written = 0
        self.done = False
        if not (self.path.exists() and self._load()):
            self.path.unlink(missing_ok=True)
            self._append({"copy": header})

    def _load(self) -> bool:
        """Read the journal; False when it holds not even its header (start anew)."""
        text = self.path.read_text(encoding="utf-8")
        if not text.endswith("\n"):  # killed while appending: that line never counted
            text = text[:text.rfind("\n") + 1]
            with self.path.open("r+", encoding="utf-8") as f:
                f.truncate(len(text.encode("utf-8")))
        try:
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not lines:
                return False
            if lines[0].get("copy") != self.header:
                raise InvalidInputError(
                    f"journal {self.path} belongs to another copy ({lines[0].get('copy')}), not "
                    f"{self.header}; pass a new journal path, or the arguments of the copy it "
                    "records.")
            for entry in lines[1:]:
                self.cursor, self.done = entry.get("cursor"), bool(entry.get("done"))
                self.read, self.written = int(entry["read"]), int(entry["written"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            if isinstance(e, InvalidInputError):
                raise
            raise InvalidInputError(f"{self.path} is not a copy journal ({e}); pass the file an "
                                    "earlier copy_collection(journal=...) wrote, or a new "
                                    "path.") from None
        return True

    def _append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def record(self, cursor: str | None, read: int, written: int) -> None:
        """Note an acknowledged page: the next one starts at ``cursor``."""
        self.cursor, self.read, self.written, self.done = cursor, read, written, cursor is None
        self._append({"cursor": cursor, "read": read, "written": written,
                      **({"done": True} if self.done else {})})


def copy_collection(
    src: Connector,
    src_collection: str,
    dst: Connector,
    dst_collection: str,
    *,
    filter: Filter | Mapping[str, Any] | None = None,
    transform: Transform | None = None,
    batch_size: int = 256,
    journal: str | os.PathLike[str] | None = None,
    progress: bool = False,
    spec: CollectionSpec | None = None,
    verify: bool = True,
    sample_queries: int = 20,
) -> CopyReport:
    """Copy the points of ``src_collection`` (matching ``filter``) into ``dst_collection``.

    The destination is created from the source's spec (or ``spec``, for a transform that
    changes the vectors), or reused if it exists with the same fields. Nothing is written
    before the whole copy is known to fit the destination.

    Args:
        src: Connector to read from.
        src_collection: Collection (or alias) to read.
        dst: Connector to write to (the same one for a copy within an engine).
        dst_collection: Collection to write; created when missing.
        filter: Copy only the points it matches (evaluated by the source engine).
        transform: ``Record -> Record | None`` applied to each point before it is written
            (``None`` leaves it out): rename ids, edit payloads, replace vectors.
        batch_size: Points per page read and per write.
        journal: A file recording acknowledged pages: the same call, re-run after a crash or
            a kill, resumes after the last one. Keep the other arguments the same.
        progress: A tqdm bar over the source's points.
        spec: The destination's spec (its name is replaced by ``dst_collection``); default:
            the source's.
        verify: Check the destination against the source afterwards (a second read of both).
        sample_queries: Queries per field for the top-10 agreement check.

    Returns:
        A :class:`CopyReport` (``report.verification.ok`` tells whether the copy is whole).

    Raises:
        UnsupportedFeatureError: The destination cannot hold the spec (nothing written).
        SpecMismatchError: ``dst_collection`` exists with other fields (nothing written).
        InvalidInputError: Bad arguments, or a journal of another copy.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
    if transform is not None and not callable(transform):
        raise InvalidInputError("transform must be a function Record -> Record | None.")
    flt = as_filter(filter)
    source_spec = src.spec(src_collection)
    source_name = source_spec.name  # an alias, resolved once: every page from one collection
    target = (spec or source_spec).renamed(dst_collection)
    if src is dst and dst.has_collection(dst_collection) and \
            dst.resolve_alias(dst_collection) == source_name:
        raise InvalidInputError(f"source and destination are the same collection {source_name!r}.")
    problems = dst.unsupported(target)
    if problems:
        raise UnsupportedFeatureError(f"{dst.engine} cannot hold a copy of {source_name!r}: "
                                      + "; ".join(problems) + ". Nothing was written.")
    texts = text_fields(target)
    if texts and transform is None and source_spec.text_key is None:
        raise InvalidInputError(
            f"field(s) {texts} are derived by the engine from text, and {source_name!r} keeps "
            "no text_key to derive them from: pass transform= that puts each point's text in "
            "record.vectors[field]. Nothing was written.")
    header = {"source": f"{src!r}:{source_name}", "destination": f"{dst!r}:{dst_collection}",
              "filter": repr(flt), "batch_size": batch_size}
    dst.create_collection(target)  # a refusal here leaves no journal behind
    book = CopyJournal(journal, header) if journal is not None else None
    report = CopyReport(f"{src.engine}:{source_name}", f"{dst.engine}:{dst_collection}", 0,
                        book.written if book else 0, 0, 0.0)
    start = time.perf_counter()
    indexing = dst.index_schedule(dst_collection)  # the engine's policy, as every ingest
    if not (book and book.done):
        _copy_pages(src, source_spec, dst, target, flt, transform, batch_size, book, progress,
                    report, indexing)
    indexing.finish()  # a bulk load: index what is left now
    report.seconds = time.perf_counter() - start
    if verify:
        report.verification = verify_copy(src, source_name, dst, dst_collection, filter=flt,
                                          transform=transform, batch_size=batch_size,
                                          sample_queries=sample_queries)
    return report


def _copy_pages(src: Connector, source: CollectionSpec, dst: Connector, target: CollectionSpec,
                flt: Filter | None, transform: Transform | None, batch_size: int,
                book: CopyJournal | None, progress: bool, report: CopyReport,
                indexing: IndexSchedule) -> None:
    """Read page i+1 while page i is written (one writer thread): a copy then runs at about
    the slower side's rate instead of the sum of both. Pages are acknowledged, journaled and
    counted in order, one write in flight at a time."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=src.count(source.name, filter=flt), initial=book.read if book else 0,
                   unit="pt", desc=f"copy {source.name}")
    cursor = book.cursor if book else None
    done = book.read if book else 0
    readable = stored_fields(source)
    in_flight: tuple[Future[Any], str | None, int, int] | None = None

    def acknowledge() -> None:
        nonlocal done, in_flight
        if in_flight is None:
            return
        future, next_cursor, read, written = in_flight
        in_flight = None
        future.result()  # a failed write raises here, before its page is journaled
        done += read
        report.copied += written
        report.pages += 1
        if book is not None:
            book.record(next_cursor, done, report.resumed + report.copied)
        if bar is not None:
            bar.update(read)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vb-copy") as writer:
        try:
            while True:
                page = src.scroll(source.name, cursor, limit=batch_size, filter=flt,
                                  with_vectors=readable or False)
                records = [with_texts(source, r) for r in page.records]
                if transform is not None:
                    records = [t for t in map(transform, records) if t is not None]
                columns = _columns(target, records) if records else None
                acknowledge()  # the page before: written and journaled before this one starts
                in_flight = (writer.submit(_write, dst, target.name, columns, indexing),
                             page.next_cursor,
                             len(page.records), len(records))
                cursor = page.next_cursor
                if cursor is None:
                    break
            acknowledge()
        finally:
            if in_flight is not None:
                in_flight[0].cancel()
                concurrent.futures.wait([in_flight[0]])
            if bar is not None:
                bar.close()


def _write(dst: Connector, name: str, columns: Any, indexing: IndexSchedule) -> None:
    """One page written, then indexed if the engine's policy says so (in the writer thread,
    while the next page is read)."""
    if columns is not None:
        ids, vectors, payloads = columns
        dst.upsert(name, ids, vectors, payloads, batch_size=len(ids))
        indexing.wrote(len(ids))


def _columns(spec: CollectionSpec, records: list[Record]) -> tuple[list[str], dict[str, Any],
                                                                  list[dict[str, Any]]]:
    """Records -> the ``ids, vectors, payloads`` of one upsert."""
    vectors: dict[str, Any] = {}
    for name, f in spec.fields.items():
        missing = [r.id for r in records if name not in r.vectors]
        if missing:
            raise InvalidInputError(f"point {missing[0]!r} has no value for field {name!r} of "
                                    f"{spec.name!r} after the transform.")
        column = [r.vectors[name] for r in records]
        vectors[name] = np.stack(column) if f.array_column else column
    return [r.id for r in records], vectors, [r.payload for r in records]


__all__ = ["copy_collection", "CopyReport", "CopyJournal"]
