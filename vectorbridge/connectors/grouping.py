"""Grouped search: the best ``k`` groups of points sharing a payload value (the chunks of one
document), each with its best ``size`` points — what RAG over chunked corpora wants, instead of
``k`` chunks of one document.

Engines that group natively (Qdrant ``query_points_groups``) do it in one request; elsewhere
:func:`grouped` pages the ordinary search: it asks for more results until ``k`` groups have
appeared and each holds ``size`` points, or the engine has no more. The filter runs in the
engine either way. Groups are ordered by their best point, points within a group best first;
a point whose payload lacks the key (or holds a list or an object) belongs to no group, as in
Qdrant.
"""

from __future__ import annotations

from typing import Any, Callable

from vectorbridge.connectors.calls import Op
from vectorbridge.connectors.results import Hit
from vectorbridge.errors import InvalidInputError

#: The fallback asks for at most this many times ``k * size`` results before it settles for
#: groups with fewer than ``size`` points (the engines' own grouping is best effort too).
MAX_PAGING = 64


def check_grouping(group_by: Any, group_size: Any) -> tuple[str | None, int]:
    """``(group_by, group_size)`` checked: a payload key (or None) and a positive size."""
    if group_by is not None and (not isinstance(group_by, str) or not group_by):
        raise InvalidInputError(f"group_by must be a payload key (a non-empty str), got {group_by!r}.")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise InvalidInputError(f"group_size must be a positive int, got {group_size!r}.")
    return group_by, group_size


def group_key(payload: dict[str, Any], key: str) -> Any:
    """A point's group: its payload value under ``key`` when that is a str, int or bool."""
    value = payload.get(key)
    return value if isinstance(value, (str, int, bool)) else None


def group_hits(hits: list[Hit], key: str, k: int, size: int) -> list[list[Hit]]:
    """The first ``k`` groups of ranked ``hits``, each with its first ``size`` hits."""
    groups: dict[Any, list[Hit]] = {}
    for h in hits:
        g = group_key(h.payload, key)
        if g is None:
            continue
        if g not in groups:
            if len(groups) == k:
                continue  # a later group: cannot enter the top k, but may fill one that did
            groups[g] = []
        if len(groups[g]) < size:
            groups[g].append(h)
    return list(groups.values())


def grouped(fetch: Callable[[int], Op[list[Hit]]], key: str, k: int, size: int) -> Op[list[Hit]]:
    """The top ``k`` groups of ``fetch(n)`` (ranked hits, best first), flattened group by group.

    The top ``k`` groups are known once ``k`` groups have appeared: a group whose best point
    ranks lower cannot outrank them. Their points may still lie beyond the ``n`` fetched, so
    ``n`` doubles until every group holds ``size`` points, the engine returns fewer than
    asked (nothing is left), or ``n`` reaches ``MAX_PAGING * k * size``."""
    n = cap = k * size
    cap *= MAX_PAGING
    while True:
        hits = yield from fetch(n)
        groups = group_hits(hits, key, k, size)
        full = len(groups) == k and all(len(g) == size for g in groups)
        if full or len(hits) < n or n >= cap:
            return [h for g in groups for h in g]
        n *= 2


__all__ = ["MAX_PAGING", "check_grouping", "group_hits", "group_key", "grouped"]
