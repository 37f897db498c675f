"""Compile a portable :class:`~vectorbridge.connectors.filters.Filter` to a Qdrant ``Filter``.

Values travel as typed JSON in ``FieldCondition`` objects, never as text, so no value can
change the filter's structure.
"""

from __future__ import annotations


from vectorbridge.connectors.filters import And, Eq, Filter, In, Not, Or, Range
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import requires

with requires("qdrant", "QdrantConnector"):
    from qdrant_client import models


def _condition(f: Filter) -> models.Condition:
    if isinstance(f, Eq):
        if isinstance(f.value, float) and not isinstance(f.value, bool):
            # MatchValue takes str/int/bool only; float equality is a closed range.
            return models.FieldCondition(key=f.key, range=models.Range(gte=f.value, lte=f.value))
        return models.FieldCondition(key=f.key, match=models.MatchValue(value=f.value))
    if isinstance(f, In):
        if all(isinstance(v, str) for v in f.values) or all(
            isinstance(v, int) and not isinstance(v, bool) for v in f.values
        ):
            return models.FieldCondition(key=f.key, match=models.MatchAny(any=list(f.values)))
        return models.Filter(should=[_condition(Eq(f.key, v)) for v in f.values])
    if isinstance(f, Range):
        kw = {name: getattr(f, name) for name in ("gt", "gte", "lt", "lte")}
        return models.FieldCondition(key=f.key, range=models.Range(**kw))
    if isinstance(f, And):
        return models.Filter(must=[_condition(c) for c in f.filters])
    if isinstance(f, Or):
        return models.Filter(should=[_condition(c) for c in f.filters])
    if isinstance(f, Not):
        return models.Filter(must_not=[_condition(f.filter)])
    raise InvalidInputError(f"cannot compile {type(f).__name__} for Qdrant.")


def to_qdrant(f: Filter | None) -> models.Filter | None:
    """The Qdrant ``Filter`` for ``f`` (``None`` stays ``None``)."""
    if f is None:
        return None
    cond = _condition(f)
    return cond if isinstance(cond, models.Filter) else models.Filter(must=[cond])
