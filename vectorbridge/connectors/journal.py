"""A resumable ingest: a file that records every batch the engine acknowledged.

Upserts by id are idempotent, so an interrupted ingest could always be re-run from the start;
with millions of points that re-writes hours of work. ``upsert(..., journal=path)`` appends
one line per acknowledged batch (after the engine answered, flushed and fsynced), keyed by a
digest of the batch's collection, ids, vectors and payloads (and write mode, other than
``"upsert"``). Run the same call again after a crash, a kill or a lost server and the
batches already acknowledged are skipped; a batch whose content changed since has another
digest and is written again.

The journal says what the engine *acknowledged*; whether an engine keeps acknowledged writes
over a crash is the engine's durability (tested for Qdrant Edge, qdrant-client's local mode
and Milvus Lite in ``tests/test_faults.py``).

Example:
    >>> import tempfile, os
    >>> j = IngestJournal(os.path.join(tempfile.mkdtemp(), "docs.journal"))
    >>> j.record("ab12", 3); "ab12" in j, len(j)
    (True, 1)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vectorbridge.connectors.validation import Rows
from vectorbridge.encoders.types import SparseVector
from vectorbridge.errors import InvalidInputError


def batch_digest(collection: str, rows: Rows, mode: str = "upsert") -> str:
    """A digest of everything one batch writes: same digest, same stored points. The write
    mode is part of it (``"upsert"`` digests are those of journals written before modes
    existed), so a batch acknowledged in one mode is written again in another."""
    h = hashlib.blake2b(digest_size=16)
    h.update(collection.encode())
    if mode != "upsert":
        h.update(b"\2mode=" + mode.encode())
    h.update(b"\0".join(i.encode() for i in rows.ids))
    for name in sorted(rows.vectors):
        h.update(b"\1" + name.encode())
        value = rows.vectors[name]
        items = [value] if isinstance(value, np.ndarray) else value
        for v in items:
            if isinstance(v, SparseVector):
                h.update(np.ascontiguousarray(v.indices).tobytes())
                h.update(np.ascontiguousarray(v.values).tobytes())
            else:
                arr = np.ascontiguousarray(v)
                h.update(str(arr.shape).encode())
                h.update(arr.tobytes())
    h.update(json.dumps(rows.payloads, sort_keys=True, default=str).encode())
    return h.hexdigest()


class IngestJournal:
    """Acknowledged batches of one ingest, in an append-only file (created when missing).

    Args:
        path: The journal file. One ingest (a collection's corpus) per file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._done: dict[str, int] = {}
        self._refused: dict[str, list[str]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open("r", encoding="utf-8") as f:
            text = f.read()
        if text and not text.endswith("\n"):
            # The process died while appending: that batch was never recorded as acknowledged.
            # Drop the torn tail so the next entry starts on a line of its own.
            text = text[:text.rfind("\n") + 1]
            with self.path.open("r+", encoding="utf-8") as f:
                f.truncate(len(text.encode("utf-8")))
        lines = text.split("\n")
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                self._done[str(entry["batch"])] = int(entry["points"])
                if entry.get("refused"):
                    self._refused[str(entry["batch"])] = [str(i) for i in entry["refused"]]
            except (ValueError, KeyError, TypeError) as e:
                raise InvalidInputError(
                    f"journal {self.path} line {n} is not a vectorbridge journal entry ({e}); "
                    "pass the file an earlier upsert(journal=...) wrote, or a new path."
                ) from e

    def __contains__(self, digest: str) -> bool:
        return digest in self._done

    def __len__(self) -> int:
        return len(self._done)

    @property
    def points(self) -> int:
        """Points the acknowledged batches wrote."""
        return sum(self._done.values())

    def refused(self, digest: str) -> list[str]:
        """Ids an acknowledged batch's write mode refused (``upsert(mode=...)``)."""
        return list(self._refused.get(digest, ()))

    def record(self, digest: str, points: int, refused: list[str] | None = None) -> None:
        """Note an acknowledged batch (``points`` written, ``refused`` ids left out by its
        write mode); on disk (fsynced) before this returns."""
        entry: dict[str, Any] = {"batch": digest, "points": int(points)}
        if refused:
            entry["refused"] = list(refused)
        line = json.dumps(entry) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._done[digest] = int(points)
        if refused:
            self._refused[digest] = list(refused)


def as_journal(journal: Any) -> IngestJournal | None:
    """``None``, a path or an :class:`IngestJournal` as a journal."""
    if journal is None or isinstance(journal, IngestJournal):
        return journal
    if isinstance(journal, (str, os.PathLike)):
        return IngestJournal(journal)
    raise InvalidInputError(f"journal= takes a file path or an IngestJournal, got "
                            f"{type(journal).__name__}.")


__all__ = ["IngestJournal", "as_journal", "batch_digest"]
