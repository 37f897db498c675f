"""Re-embedding without downtime: versions of a collection behind an alias.

Readers address an alias (``connector.set_alias("docs", "docs_v1")``). A new embedding model
means a new version: :func:`reindex` builds it beside the live one, from the texts the live
version stores (or any iterable), with the new retriever's encoders, streaming and resumable;
readers keep using the live version meanwhile. :func:`promote` moves the alias in one atomic
step, optionally behind a quality gate (:class:`~vectorbridge.retrievers.gate.QualityGate`),
and :func:`rollback` moves it back. :class:`VersionedRetriever` is the reader: on every query
it resolves the alias once and answers with the retriever of the version it names, so an
answer is wholly old or wholly new, and each version is queried with its own encoders.

Versions are named ``<alias>_v<N>`` (:func:`next_version`), so the previous one is found by
name and nothing else has to be stored; a collection named otherwise can still be promoted,
and rolled back to by name.

These are blocking calls (a reindex is a batch job); readers have sync and async faces.

Example::

    v2 = next_version(conn, "docs")
    new = HybridRetriever(connector=conn, collection=v2, dense=new_model, sparse=BM25Encoder())
    reindex(conn, "docs", new, journal="v2.journal")
    promote(conn, "docs", v2, gate=QualityGate(old, new, "scifact/", split="test"))
    rollback(conn, "docs")
"""

from __future__ import annotations

import inspect
import re
import time
from dataclasses import dataclass
from itertools import tee
from typing import Any, Iterable, Iterator, Mapping

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, \
    CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.filters import Filter, as_filter
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.gate import GateReport, QualityGate

_VERSION = re.compile(r"^(?P<stem>.+)_v(?P<n>[0-9]+)$")


def next_version(connector: Connector, alias: str) -> str:
    """A free name for the next version behind ``alias``: ``<stem>_v<N+1>`` after the live
    ``<stem>_v<N>``, else ``<alias>_v2`` (the live collection counting as the first)."""
    live = connector.resolve_alias(alias) if connector.has_collection(alias) else None
    m = _VERSION.match(live or "")
    stem, n = (m["stem"], int(m["n"])) if m else (alias, 1)
    n += 1
    while connector.has_collection(f"{stem}_v{n}"):
        n += 1
    return f"{stem}_v{n}"


@dataclass
class ReindexReport:
    """What :func:`reindex` wrote: ``documents`` into ``collection``, read from ``source``,
    in ``seconds`` (re-encoding included)."""

    source: str
    collection: str
    documents: int
    seconds: float

    @property
    def documents_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0


def reindex(connector: Connector, alias: str, target: Any, *,
            texts: Iterable[tuple[str, str, Mapping[str, Any] | None]] | None = None,
            filter: Filter | Mapping[str, Any] | None = None, batch_size: int = 256,
            page_size: int = 1024, journal: Any = None, progress: bool = False) -> ReindexReport:
    """Build ``target``'s collection (a new version) with ``target``'s encoders, while readers
    keep using the version ``alias`` names.

    Args:
        connector: The connector of the live version.
        alias: The alias readers use (or the live collection's name).
        target: A :class:`~vectorbridge.retrievers.HybridRetriever` (or anything with
            ``add_texts(texts, ids=, metadatas=)``) on the new version's collection, which
            must not be the live one. Encoders that need fitting (BM25 statistics) are fitted
            on the first chunk, as ``from_texts`` does.
        texts: ``(id, text, metadata)`` triples to index instead of the stored texts.
        filter: Only the live points it matches (stored texts only).
        batch_size: Points per write.
        page_size: Points per page read from the live version.
        journal: A file of the chunks written: the same call re-run after a crash skips them.
        progress: A tqdm bar in documents/s.

    Raises:
        InvalidInputError: The target is the live collection, or the live version keeps no
            text (its spec has no ``text_key``): pass ``texts=``.
    """
    live = connector.resolve_alias(alias)
    collection = getattr(target, "collection", None)
    if collection is not None and target.connector is connector and \
            connector.has_collection(collection) and connector.resolve_alias(collection) == live:
        raise InvalidInputError(f"the target collection {collection!r} is the live version "
                                f"{live!r}; build the new version under another name "
                                f"(next_version(connector, {alias!r})).")
    if journal is not None and "journal" not in inspect.signature(target.add_texts).parameters:
        raise InvalidInputError(f"{type(target).__name__}.add_texts keeps no journal, so this "
                                "reindex could not resume: drop journal=, or reindex into a "
                                "HybridRetriever.")
    if texts is None:
        texts = stored_texts(connector, live, filter=filter, page_size=page_size)
    a, b, c = tee(texts, 3)  # add_texts reads the three in step, a chunk at a time
    start = time.perf_counter()
    ids = target.add_texts((t for _, t, _ in b), ids=(i for i, _, _ in a),
                           metadatas=(dict(m or {}) for _, _, m in c), batch_size=batch_size,
                           journal=journal, progress=progress)
    if collection is not None:
        target.connector.index_schedule(collection).finish()  # a bulk load: index the rest
    return ReindexReport(live, str(collection), len(ids), time.perf_counter() - start)


def stored_texts(connector: Connector, collection: str, *, filter: Any = None,
                 page_size: int = 1024) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(id, text, metadata)`` of every point, streamed page by page: the text under the
    spec's ``text_key``, the rest of the payload as metadata."""
    spec = connector.spec(collection)
    key = spec.text_key
    if key is None:
        raise InvalidInputError(f"collection {spec.name!r} keeps no text_key, so there is no "
                                "stored text to re-embed: pass texts=[(id, text, metadata), ...].")
    flt, cursor = as_filter(filter), None
    while True:
        page = connector.scroll(spec.name, cursor, limit=page_size, filter=flt)
        for r in page.records:
            text = r.payload.get(key)
            if not isinstance(text, str):
                raise InvalidInputError(f"point {r.id!r} of {spec.name!r} has no text under "
                                        f"{key!r}: leave it out with filter=, or pass "
                                        "texts=[(id, text, metadata), ...].")
            yield r.id, text, {k: v for k, v in r.payload.items() if k != key}
        if (cursor := page.next_cursor) is None:
            return


@dataclass
class Promotion:
    """An alias moved: from ``previous`` (``None`` if it is new) to ``current``; ``gate``:
    the comparison that allowed it (``None`` without a gate); ``dropped``: the previous
    version, when ``drop_old=True`` removed it."""

    alias: str
    previous: str | None
    current: str
    gate: GateReport | None = None
    dropped: str | None = None


def promote(connector: Connector, alias: str, collection: str, *,
            gate: QualityGate | None = None, force: bool = False,
            drop_old: bool = False) -> Promotion:
    """Move ``alias`` to ``collection`` (one atomic step: every reader's next call sees it).

    With ``gate``, the old and the new version answer its queries first; the comparison is
    printed, and a drop beyond the gate's threshold refuses the promotion unless
    ``force=True`` (nothing is moved). ``drop_old=True`` drops the previous version right
    after the move (no rollback to it then, and a query that resolved the alias just before
    fails): where readers run, leave it and call :func:`drop_old_versions` later.
    """
    previous = connector.resolve_alias(alias) if connector.has_collection(alias) else None
    if previous == alias:
        raise InvalidInputError(f"{alias!r} is a collection, not an alias: readers need an alias "
                                "to switch. Create one for a new name (set_alias).")
    report = None
    if gate is not None:
        report = gate.evaluate()
        print(report.summary())
        if not report.passed and not force:
            raise InvalidInputError(f"promotion of {collection!r} behind {alias!r} refused by the "
                                    f"quality gate: {report.summary()} Pass force=True to "
                                    "promote anyway.")
    connector.set_alias(alias, collection)
    dropped = None
    if drop_old and previous is not None and previous != collection:
        connector.drop_collection(previous)
        dropped = previous
    return Promotion(alias, previous, collection, report, dropped)


def previous_version(connector: Connector, alias: str) -> str | None:
    """The newest existing ``<stem>_v<M>`` older than the live ``<stem>_v<N>`` (``<stem>``
    itself counting as version 1), or ``None``."""
    return _before(connector, connector.resolve_alias(alias))


def _before(connector: Connector, name: str) -> str | None:
    m = _VERSION.match(name)
    if not m:
        return None
    older = [f"{m['stem']}_v{n}" for n in range(int(m["n"]) - 1, 0, -1)] + [m["stem"]]
    return next((c for c in older if _is_collection(connector, c)), None)


def _is_collection(connector: Connector, name: str) -> bool:
    """A collection of that name (not an alias of one)."""
    return connector.has_collection(name) and connector.resolve_alias(name) == name


def rollback(connector: Connector, alias: str, to: str | None = None) -> Promotion:
    """Move ``alias`` back: to ``to``, or to the previous version by name
    (:func:`previous_version`)."""
    target = to or previous_version(connector, alias)
    if target is None:
        raise InvalidInputError(f"no earlier version of {alias!r} ({connector.resolve_alias(alias)!r}) "
                                "by name: give the collection, rollback(connector, alias, to=...).")
    return promote(connector, alias, target)


def drop_old_versions(connector: Connector, alias: str, keep: int = 1) -> list[str]:
    """Drop the versions older than the live one, but the ``keep`` newest of them (kept for
    :func:`rollback`). Returns the dropped names."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise InvalidInputError(f"keep must be an int >= 0, got {keep!r}.")
    older: list[str] = []
    name: str | None = connector.resolve_alias(alias)
    while name is not None and (name := _before(connector, name)) is not None:
        older.append(name)
    dropped = older[keep:]
    for name in dropped:
        connector.drop_collection(name)
    return dropped


class VersionedRetriever(BaseRetriever):
    """A reader through an alias: each query resolves the alias once and is answered by the
    retriever of the version it names, so an answer is wholly from one version, and each
    version is queried with the encoders it was built with.

    Attributes:
        connector: The connector holding the versions.
        alias: The alias readers follow.
        versions: ``{collection: retriever}``, one per version it may name (add the new one
            before promoting it); a query while the alias names another is refused.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    connector: Connector
    alias: str
    versions: dict[str, BaseRetriever]

    def current(self) -> BaseRetriever:
        """The retriever of the version the alias names now."""
        return self._version(self.connector.resolve_alias(self.alias))

    def _version(self, live: str) -> BaseRetriever:
        try:
            return self.versions[live]
        except KeyError:
            raise InvalidInputError(
                f"alias {self.alias!r} names {live!r}, which this VersionedRetriever has no "
                f"retriever for (it has {sorted(self.versions)}): add versions[{live!r}].") from None

    async def acurrent(self) -> BaseRetriever:
        """Async :meth:`current`."""
        return self._version(await self.connector.aresolve_alias(self.alias))

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        return self.current().invoke(query, config={"callbacks": run_manager.get_child()},
                                     **kwargs)

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun,
                                       **kwargs: Any) -> list[Document]:
        return await (await self.acurrent()).ainvoke(
            query, config={"callbacks": run_manager.get_child()}, **kwargs)


__all__ = ["reindex", "promote", "rollback", "next_version", "previous_version",
           "drop_old_versions", "stored_texts", "ReindexReport", "Promotion",
           "VersionedRetriever"]
