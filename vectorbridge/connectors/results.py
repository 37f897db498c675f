"""What the connectors return and the one order every result list is in.

:class:`Hit` (a search result) and :class:`Record` (a stored point), the validated pieces of
a hybrid request (:class:`Branch`, :class:`Rescore`), the ordering rule (:func:`rank_key`)
and the exact scoring every engine's client-side fallback shares (:func:`exact_score`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence, get_args

# re-exported: its home before the field kinds' own modules
from vectorbridge.connectors.fields.base import unit_rows
from vectorbridge.connectors.spec import FieldType

#: Candidates per hybrid branch (and for a rerank stage) unless the call says otherwise.
DEFAULT_PREFETCH_K = 100


def rank_key(hit: "Hit") -> tuple[float, str]:
    """The order of every result list: higher score first; equal scores by id (the original
    string id, ascending). Engines order exact ties arbitrarily, and differently from call to
    call (RRF with a small k ties by construction); this rule makes the same query on an
    unchanged collection return the same ids in the same order, on every engine, sync or
    async."""
    return -hit.score, hit.id


def tie_margin(k: int) -> int:
    """Results asked beyond ``k`` so that a tie at the k-th score is usually seen whole."""
    return max(4, k // 2)


#: How far :meth:`Connector._tie_safe` widens a request (times ``k + tie_margin(k)``) while
#: the k-th score still ties with the last result returned.
MAX_TIE_WIDENING = 8


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is higher-is-better on every metric (distances negated);
    ``vectors`` holds the stored vectors when the search asked for them."""

    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)
    vectors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One stored point as returned by ``get``: the original id, payload and (optionally)
    vectors in the canonical types of :class:`~vectorbridge.connectors.validation.Rows`."""

    id: str
    payload: dict[str, Any]
    vectors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One page of a collection's points (:meth:`Connector.scroll`) and where the next one
    starts: ``next_cursor`` is ``None`` after the last page. A cursor is a plain string that
    stays valid for another connector or process on the same data (a journal keeps it)."""

    records: list[Record]
    next_cursor: str | None


@dataclass(frozen=True)
class Branch:
    """One validated branch of a hybrid search: a field, its query and its candidate depth."""

    name: str
    field: FieldType
    query: Any
    depth: int


#: How an exact second stage uses its scores: ``"replace"`` re-sorts the fused top
#: ``rescore_k`` by them; ``"fuse"`` ranks the union of the branches' candidates by them and
#: adds that ranking to the fusion as one more branch.
RescoreMode = Literal["replace", "fuse"]
RESCORE_MODES: tuple[str, ...] = get_args(RescoreMode)


@dataclass(frozen=True)
class Rescore:
    """A second stage scored exactly on ``name`` with ``query``, over ``depth`` candidates."""

    name: str
    field: FieldType
    query: Any
    depth: int
    mode: RescoreMode = "replace"


def exact_score(f: FieldType, query: Any, value: Any) -> float:
    """Higher-is-better score of one stored value against a query, as the engine would give
    (each field kind's :meth:`~vectorbridge.connectors.fields.FieldKind.score`)."""
    return f.score(query, value)


def chunks(seq: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``seq`` of at most ``size`` items."""
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


class WriteReport(int):
    """What ``upsert`` did: an ``int`` (so ``n = conn.upsert(...)`` keeps working, and it
    prints as one): the points of the call written now or acknowledged before (batches a
    journal skips), that is every point not refused. Also:

    Attributes:
        written: Points written by this call's requests (batches a journal skipped: none).
        refused: Ids the write mode refused (``"insert"``: stored already; ``"update"``: not
            stored), in input order; those of skipped batches come from the journal.

    Example:
        >>> r = WriteReport(2, written=2, refused=["c"])
        >>> r + 0, r.written, r.refused
        (2, 2, ['c'])
    """

    written: int
    refused: list[str]

    def __new__(cls, value: int = 0, written: int | None = None,
                refused: Sequence[str] = ()) -> "WriteReport":
        report = super().__new__(cls, value)
        report.written = int(value) if written is None else int(written)
        report.refused = list(refused)
        return report


__all__ = ["DEFAULT_PREFETCH_K", "rank_key", "tie_margin", "MAX_TIE_WIDENING", "Hit", "Record",
           "Branch", "RescoreMode", "RESCORE_MODES", "Rescore", "exact_score", "unit_rows",
           "chunks", "WriteReport"]
