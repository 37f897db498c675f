"""A portable metadata filter: one small expression tree, compiled per engine.

Build filters with :func:`F` and Python operators, or from a Mongo-style dict (the shape
LangChain users pass)::

    F("lang") == "en"
    (F("year") >= 2000) & F("lang").isin(["en", "de"]) & ~(F("retracted") == True)
    Filter.from_dict({"lang": "en", "year": {"$gte": 2000}, "$or": [{"a": 1}, {"b": 2}]})

Why a tree and not strings: user-supplied keys and values never become expression text by
concatenation. Keys are checked against :data:`KEY_PATTERN` (letters, digits, ``_``, ``-``;
dots for nested objects); values are typed (str, int, float, bool) and string values are
escaped by the Milvus compiler, so a stored or queried value such as ``" or 1==1 or "``
matches itself and nothing else. The compilers live beside the connectors
(``qdrant/filter.py``, ``milvus/filter.py``).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Union

from vectorbridge.errors import InvalidInputError

Scalar = Union[str, int, float, bool]

#: Payload keys a filter may name: identifiers with ``-``, nested with dots (``meta.year``).
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*$")


def check_key(key: Any) -> str:
    """Return ``key`` if a filter may use it, else raise naming the allowed form."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidInputError(
            f"filter key {key!r} is not allowed: use letters, digits, '_' and '-', with '.' "
            "between nested keys (e.g. 'meta.year'). Rename the payload key to filter on it."
        )
    return key


def check_value(value: Any, key: str) -> Scalar:
    """Return ``value`` if it is a str/int/float/bool a filter can compare, else raise."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        if abs(value) >= 2**63:
            raise InvalidInputError(f"filter value for {key!r} does not fit in int64: {value}.")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"filter value for {key!r} is {value}; use a finite number.")
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return check_value(value.item(), key)
    raise InvalidInputError(
        f"filter value for {key!r} has type {type(value).__name__}; filters compare str, int, "
        "float and bool."
    )


class Filter:
    """Base of the expression tree; combine with ``&``, ``|`` and ``~``."""

    def __and__(self, other: "Filter") -> "Filter":
        return And((self, _as_filter(other)))

    def __or__(self, other: "Filter") -> "Filter":
        return Or((self, _as_filter(other)))

    def __invert__(self) -> "Filter":
        return Not(self)

    def matches(self, payload: Mapping[str, Any]) -> bool:
        """Evaluate in Python: the reference semantics the engine compilers must match."""
        raise NotImplementedError

    @staticmethod
    def from_dict(spec: Mapping[str, Any]) -> "Filter":
        """Parse a Mongo-style dict: ``{key: value}``, ``{key: {"$in": [...]}}``, ``$gte`` ...,
        ``$ne``, ``$nin``, ``$and`` / ``$or`` / ``$not``. Several keys are ANDed."""
        if not isinstance(spec, Mapping) or not spec:
            raise InvalidInputError(f"a filter dict must be a non-empty mapping, got {spec!r}.")
        parts = [_parse_item(k, v) for k, v in spec.items()]
        return parts[0] if len(parts) == 1 else And(tuple(parts))


def _lookup(payload: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    cur: Any = payload
    for part in key.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _same(a: Any, b: Any) -> bool:
    """Equality as the engines see it: bools never equal numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return isinstance(a, (int, float)) and a == b


@dataclass(frozen=True)
class Eq(Filter):
    """``payload[key] == value``."""

    key: str
    value: Scalar

    def __post_init__(self) -> None:
        check_key(self.key)
        object.__setattr__(self, "value", check_value(self.value, self.key))

    def matches(self, payload: Mapping[str, Any]) -> bool:
        found, v = _lookup(payload, self.key)
        return found and _same(v, self.value)


@dataclass(frozen=True)
class In(Filter):
    """``payload[key]`` equals one of ``values`` (all str, or all numbers)."""

    key: str
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        check_key(self.key)
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Iterable):
            raise InvalidInputError(f"In({self.key!r}, ...) needs a list of values.")
        vals = tuple(check_value(v, self.key) for v in self.values)
        if not vals:
            raise InvalidInputError(f"In({self.key!r}, []) matches nothing; pass at least one value.")
        kinds = {_kind(v) for v in vals}
        if len(kinds) > 1:
            raise InvalidInputError(
                f"In({self.key!r}, ...) mixes {sorted(kinds)}; use values of one type, or OR two Ins."
            )
        object.__setattr__(self, "values", vals)

    def matches(self, payload: Mapping[str, Any]) -> bool:
        found, v = _lookup(payload, self.key)
        return found and any(_same(v, x) for x in self.values)


def _kind(v: Scalar) -> str:
    return "bool" if isinstance(v, bool) else "str" if isinstance(v, str) else "number"


@dataclass(frozen=True)
class Range(Filter):
    """Numeric range over ``payload[key]``; any of the four bounds may be ``None``."""

    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def __post_init__(self) -> None:
        check_key(self.key)
        bounds = {n: getattr(self, n) for n in ("gt", "gte", "lt", "lte")}
        if all(v is None for v in bounds.values()):
            raise InvalidInputError(f"Range({self.key!r}) needs at least one of gt, gte, lt, lte.")
        for name, v in bounds.items():
            if v is None:
                continue
            v = check_value(v, self.key)
            if isinstance(v, (str, bool)):
                raise InvalidInputError(f"Range bound {name} for {self.key!r} must be a number, got {v!r}.")
            object.__setattr__(self, name, v)

    def bounds(self) -> list[tuple[str, float]]:
        """``[(operator, bound), ...]`` for the bounds that are set."""
        ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        return [(op, getattr(self, n)) for n, op in ops.items() if getattr(self, n) is not None]

    def matches(self, payload: Mapping[str, Any]) -> bool:
        found, v = _lookup(payload, self.key)
        if not found or isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        # operator.gt, not v.__gt__: int.__gt__(float) is NotImplemented (truthy, not True).
        checks = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
        return all(checks[op](v, b) for op, b in self.bounds())


@dataclass(frozen=True)
class And(Filter):
    """All of ``filters``."""

    filters: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", _children(self.filters, "And"))

    def matches(self, payload: Mapping[str, Any]) -> bool:
        return all(f.matches(payload) for f in self.filters)


@dataclass(frozen=True)
class Or(Filter):
    """Any of ``filters``."""

    filters: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", _children(self.filters, "Or"))

    def matches(self, payload: Mapping[str, Any]) -> bool:
        return any(f.matches(payload) for f in self.filters)


@dataclass(frozen=True)
class Not(Filter):
    """Negation of ``filter``: also true where the key is missing."""

    filter: Filter

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter", _as_filter(self.filter))

    def matches(self, payload: Mapping[str, Any]) -> bool:
        return not self.filter.matches(payload)


def _children(filters: Any, name: str) -> tuple[Filter, ...]:
    out = tuple(_as_filter(f) for f in filters)
    if not out:
        raise InvalidInputError(f"{name}() needs at least one filter.")
    return out


def _as_filter(value: Any) -> Filter:
    if isinstance(value, Filter):
        return value
    if isinstance(value, Mapping):
        return Filter.from_dict(value)
    raise InvalidInputError(
        f"expected a Filter (e.g. F('lang') == 'en') or a filter dict, got {type(value).__name__}."
    )


class F:
    """Filter builder for one payload key: ``F("year") >= 2000``, ``F("lang").isin([...])``."""

    def __init__(self, key: str) -> None:
        self.key = check_key(key)

    def __eq__(self, value: Any) -> Filter:  # type: ignore[override]
        return Eq(self.key, value)

    def __ne__(self, value: Any) -> Filter:  # type: ignore[override]
        return Not(Eq(self.key, value))

    def __gt__(self, value: Any) -> Filter:
        return Range(self.key, gt=value)

    def __ge__(self, value: Any) -> Filter:
        return Range(self.key, gte=value)

    def __lt__(self, value: Any) -> Filter:
        return Range(self.key, lt=value)

    def __le__(self, value: Any) -> Filter:
        return Range(self.key, lte=value)

    def isin(self, values: Iterable[Any]) -> Filter:
        """``payload[key]`` is one of ``values``."""
        return In(self.key, tuple(values))

    __hash__ = None  # type: ignore[assignment]


_RANGE_OPS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def _parse_item(key: str, value: Any) -> Filter:
    if not isinstance(key, str):
        check_key(key)  # raises with the allowed form
    if key in ("$and", "$or"):
        if not isinstance(value, (list, tuple)) or not value:
            raise InvalidInputError(f"{key} needs a non-empty list of filter dicts.")
        kids = tuple(Filter.from_dict(v) for v in value)
        return And(kids) if key == "$and" else Or(kids)
    if key == "$not":
        return Not(_as_filter(value))
    if key.startswith("$"):
        raise InvalidInputError(f"unknown filter operator {key!r}; use $and, $or, $not at the top.")
    if not isinstance(value, Mapping):
        return Eq(key, value)
    parts: list[Filter] = []
    rng: dict[str, Any] = {}
    for op, arg in value.items():
        if op in _RANGE_OPS:
            rng[_RANGE_OPS[op]] = arg
        elif op == "$eq":
            parts.append(Eq(key, arg))
        elif op == "$ne":
            parts.append(Not(Eq(key, arg)))
        elif op == "$in":
            parts.append(In(key, tuple(arg) if isinstance(arg, (list, tuple)) else arg))
        elif op == "$nin":
            parts.append(Not(In(key, tuple(arg) if isinstance(arg, (list, tuple)) else arg)))
        else:
            raise InvalidInputError(
                f"unknown operator {op!r} for key {key!r}; use one of "
                "$eq, $ne, $in, $nin, $gt, $gte, $lt, $lte."
            )
    if rng:
        parts.append(Range(key, **rng))
    if not parts:
        raise InvalidInputError(f"empty condition for key {key!r}.")
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def as_filter(value: Filter | Mapping[str, Any] | None) -> Filter | None:
    """Accept a :class:`Filter`, a filter dict, or ``None``."""
    return None if value is None else _as_filter(value)


def pinned_values(flt: Filter | None, key: str) -> frozenset[Any] | None:
    """The values of ``key`` that every match of ``flt`` must have, or ``None`` when the
    filter does not confine ``key`` to a finite set: what lets a query be routed to the
    shards holding those values only (same results, fewer shards asked).

    >>> sorted(pinned_values((F("t") == "a") & (F("n") > 1), "t"))
    ['a']
    >>> pinned_values((F("t") == "a") | (F("n") > 1), "t") is None
    True
    """
    if isinstance(flt, Eq) and flt.key == key:
        return frozenset([flt.value])
    if isinstance(flt, In) and flt.key == key:
        return frozenset(flt.values)
    if isinstance(flt, And):
        pins = [p for p in (pinned_values(f, key) for f in flt.filters) if p is not None]
        return frozenset.intersection(*pins) if pins else None
    if isinstance(flt, Or):
        pins = [pinned_values(f, key) for f in flt.filters]
        return None if any(p is None for p in pins) else frozenset().union(*pins)
    return None


__all__ = ["Filter", "F", "Eq", "In", "Range", "And", "Or", "Not", "as_filter", "pinned_values",
           "KEY_PATTERN"]
