"""Writes: upsert in a mode, partial payload updates, counted deletes.

The public write methods of a :class:`~vectorbridge.connectors.base.Connector` and the
operations behind them: every call is validated whole, and every request sized against the
engine's limit (:mod:`~vectorbridge.connectors.writes`), before the first write.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from vectorbridge.connectors.async_twins import twin
from vectorbridge.connectors.calls import Op
from vectorbridge.connectors.filters import Filter, as_filter
from vectorbridge.connectors.journal import IngestJournal, as_journal, batch_digest
from vectorbridge.connectors.results import WriteReport
from vectorbridge.connectors.spec import CollectionSpec
from vectorbridge.connectors.validation import Rows, check_ids, prepare_rows
from vectorbridge.connectors.writes import WriteMode, check_mode, check_patch, plan_requests, take
from vectorbridge.errors import InvalidInputError

if TYPE_CHECKING:
    from vectorbridge.connectors.engine import Engine


class WriteOperations:
    """The write methods of a connector (public, async twins, operations)."""

    backend: "Engine"
    engine: str
    _data_spec: Any

    # -- public ----------------------------------------------------------------------------
    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Mapping[str, Any],
        payloads: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        batch_size: int = 256,
        journal: "str | os.PathLike[str] | IngestJournal | None" = None,
        mode: WriteMode = "upsert",
    ) -> WriteReport:
        """Insert or replace points, in batches; re-upserting the same ids changes nothing else.

        The whole call is validated, and every request sized, before the first batch is
        written: a batch over the engine's ``max_request_bytes`` (Qdrant 32 MiB, Milvus 64
        MiB, with a margin) goes in several requests, a row over it is refused. On a server,
        calls that fail transiently are retried under ``self.retry``. ``mode="insert"`` /
        ``"update"`` look up each batch's stored ids first; Qdrant also enforces the mode
        itself, elsewhere another writer between the look-up and the write can slip through
        (docs: Operations, *Write modes*).

        Args:
            collection: Collection name.
            ids: Original string ids (any text, up to 512 chars); reads return them as given.
            vectors: ``{field: values}`` for every field of the spec: ``(n, dim)`` arrays for
                dense, lists of :class:`~vectorbridge.encoders.SparseVector` (or ``{index:
                weight}`` dicts) for sparse, lists of ``(n_tokens, dim)`` arrays for
                multi-vector, packed uint8 ``(n, bits // 8)`` for binary.
            payloads: One JSON-serialisable dict per id, or ``None``.
            batch_size: Points per request at most (fewer where they would exceed the
                engine's request size limit).
            journal: A file recording acknowledged batches: the same call re-run after a
                crash or a lost server skips them (see :mod:`~vectorbridge.connectors.journal`).
                Keep ``batch_size`` the same between runs. The mode is part of each batch's
                key, and the ids a mode refused are kept with it.
            mode: ``"upsert"`` (insert or replace), ``"insert"`` (never overwrites) or
                ``"update"`` (never creates).

        Returns:
            A :class:`~vectorbridge.connectors.results.WriteReport`: an ``int`` (the points
            written now or acknowledged before) with ``.written`` and ``.refused`` (ids).
        """
        return self._run(self._do_upsert(collection, ids, vectors, payloads, batch_size, journal,
                                         mode))

    aupsert = twin(upsert)

    def delete(
        self,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | Mapping[str, Any] | None = None,
    ) -> int:
        """Delete points by id, by filter, or both (a point matching either goes); returns
        how many went (the engine's count where it reports one, Milvus with a filter alone;
        else counted just before the delete, so a concurrent writer can skew it)."""
        return self._run(self._do_delete(collection, ids, filter))

    adelete = twin(delete)

    def update_payload(
        self,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | Mapping[str, Any] | None = None,
        patch: Mapping[str, Any],
    ) -> int:
        """Set ``patch``'s keys on the points among ``ids`` or matching ``filter`` (other
        keys kept, ids not stored not created); returns how many were updated. ``patch`` is
        validated as upsert payloads are before anything is written. Qdrant updates in place
        (``set_payload``); Milvus reads, merges and writes back the payloads (a concurrent
        change in between is lost): docs, Operations, *Write modes*."""
        return self._run(self._do_update_payload(collection, ids, filter, patch))

    aupdate_payload = twin(update_payload)

    # -- operations, written once for both twins ------------------------------------------
    def _do_upsert(self, collection: str, ids: Sequence[str], vectors: Mapping[str, Any],
                   payloads: Any, batch_size: int, journal: Any = None,
                   mode: str = "upsert") -> Op[WriteReport]:
        mode = check_mode(mode)
        spec = yield from self._data_spec(collection)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
        rows = prepare_rows(spec, ids, vectors, payloads)
        acked = as_journal(journal)
        engine = self.backend
        # Every request is sized before the first is written (a row too large is refused).
        plan = plan_requests(spec, rows, batch_size, engine.wire, engine.max_request_bytes,
                             self.engine)
        if spec.sharding == "custom" and mode != "insert":  # insert never moves a point
            yield from engine.op_check_no_moves(spec, rows)
        written, refused = 0, []
        for start, stop in plan:
            batch = rows.slice(start, stop)
            digest = batch_digest(spec.name, batch, mode) if acked is not None else ""
            if acked is not None and digest in acked:
                refused += acked.refused(digest)
                continue
            n, out = yield from self._write(spec, batch, mode)
            written += n
            refused += out
            if acked is not None:
                acked.record(digest, n, out)
        return WriteReport(len(rows) - len(refused), written, refused)

    def _write(self, spec: CollectionSpec, batch: Rows, mode: str) -> Op[tuple[int, list[str]]]:
        """One request's rows in ``mode``: the points written and the ids refused. Outside
        ``"upsert"`` the stored ids are looked up first, to leave out (and report) the rows
        the mode refuses; where the engine has the mode natively it also guards the write,
        else another writer between the look-up and the write can slip through."""
        if mode == "upsert":
            yield from self.backend.op_upsert(spec, batch)
            return len(batch), []
        stored = set((yield from self.backend.op_selected_ids(spec, batch.ids, None)))
        want = mode == "update"
        keep = [i for i, pid in enumerate(batch.ids) if (pid in stored) == want]
        refused = [pid for pid in batch.ids if (pid in stored) != want]
        if keep:
            rows = batch if len(keep) == len(batch) else take(batch, keep)
            if mode in self.backend.write_modes:
                yield from self.backend.op_write(spec, rows, mode)
            else:
                yield from self.backend.op_upsert(spec, rows)
        return len(keep), refused

    def _do_delete(self, collection: str, ids: Sequence[str] | None, filter: Any) -> Op[int]:
        spec = yield from self._data_spec(collection)
        if ids is None and filter is None:
            raise InvalidInputError("delete needs ids=[...] or filter=...; to empty a collection, "
                                    "drop and recreate it.")
        id_list = check_ids(ids) if ids is not None else None
        flt = as_filter(filter)
        if id_list == [] and flt is None:
            return 0
        return (yield from self.backend.op_delete_counted(spec, id_list or None, flt))

    def _do_update_payload(self, collection: str, ids: Sequence[str] | None, filter: Any,
                           patch: Any) -> Op[int]:
        spec = yield from self._data_spec(collection)
        if ids is None and filter is None:
            raise InvalidInputError("update_payload needs ids=[...] or filter=... (a point "
                                    "matching either is updated).")
        id_list = check_ids(ids) if ids is not None else None
        flt = as_filter(filter)
        patch = check_patch(spec, patch)
        if not id_list and flt is None:
            return 0
        return (yield from self.backend.op_update_payload(spec, id_list or None, flt, patch))


__all__ = ["WriteOperations"]
