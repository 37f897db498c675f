"""Score boosting and decay by payload fields: :class:`ScoreFormula`, one portable option.

``final = (score + sum(weight * payload[key] for each Boost)) * product(decay for each Decay)``
over the search's ``depth`` best candidates (filter applied), which are then re-sorted; a
document's recency, popularity or price can so move it up or down without a second system.
Qdrant runs it in the engine (a ``FormulaQuery`` over a prefetch: ``capabilities.
native_formula``); elsewhere the connector applies :meth:`ScoreFormula.apply` to the same
candidates' payloads. Milvus' decay and boost rankers need scalar fields and vectorbridge keeps
payloads in one JSON field, so Milvus gets the client-side path.

The decays are Qdrant's (``x`` the payload value, ``d = |x - target|``): ``exp``:
``exp(ln(midpoint) * d / scale)``; ``gauss``: ``exp(ln(midpoint) * d**2 / scale**2)``;
``lin``: ``max(0, 1 - (1 - midpoint) * d / scale)`` — each is 1 at the target and
``midpoint`` at ``scale`` from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from vectorbridge.errors import InvalidInputError


@dataclass(frozen=True)
class Boost:
    """Add ``weight * payload[key]`` to the score (``default`` where the key is missing or
    not a number)."""

    key: str
    weight: float = 1.0
    default: float = 0.0


@dataclass(frozen=True)
class Decay:
    """Multiply the score by a decay of the distance from ``payload[key]`` to ``target``
    (a number: a timestamp, a price, a position); ``default``: the value of a point that
    lacks the key (default: ``target``, no decay)."""

    key: str
    target: float
    scale: float
    midpoint: float = 0.5
    kind: Literal["exp", "gauss", "lin"] = "exp"
    default: float | None = None

    def factor(self, x: float) -> float:
        d = abs(x - self.target)
        if self.kind == "exp":
            return math.exp(math.log(self.midpoint) * d / self.scale)
        if self.kind == "gauss":
            return math.exp(math.log(self.midpoint) * d * d / (self.scale * self.scale))
        return max(0.0, 1.0 - (1.0 - self.midpoint) * d / self.scale)


@dataclass(frozen=True)
class ScoreFormula:
    """Boosts and decays applied to a search's ``depth`` best candidates (see the module)."""

    boosts: tuple[Boost, ...] = ()
    decays: tuple[Decay, ...] = ()
    depth: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "boosts", tuple(self.boosts))
        object.__setattr__(self, "decays", tuple(self.decays))
        if not self.boosts and not self.decays:
            raise InvalidInputError("ScoreFormula needs at least one Boost or Decay.")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1:
            raise InvalidInputError(f"depth must be a positive int, got {self.depth!r}.")
        for d in self.decays:
            if not (d.scale > 0 and 0 < d.midpoint < 1) or d.kind not in ("exp", "gauss", "lin"):
                raise InvalidInputError(f"{d}: scale must be > 0, midpoint in (0, 1), kind one "
                                        "of 'exp', 'gauss', 'lin'.")
        self.defaults()  # one default per key

    def defaults(self) -> dict[str, float]:
        """The value each key takes where a point lacks it."""
        out = {b.key: float(b.default) for b in self.boosts}
        for d in self.decays:
            value = float(d.target if d.default is None else d.default)
            if out.setdefault(d.key, value) != value:
                raise InvalidInputError(f"payload key {d.key!r} is boosted with default "
                                        f"{out[d.key]} and decayed with default {value}; give "
                                        "them one default.")
        return out

    def apply(self, score: float, payload: Mapping[str, Any]) -> float:
        """The formula for one candidate: the reference the engines are tested against, and
        the client-side path."""
        defaults = self.defaults()

        def value(key: str) -> float:
            v = payload.get(key)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            return float(v) if ok else defaults[key]

        total = score + sum(b.weight * value(b.key) for b in self.boosts)
        for d in self.decays:
            total *= d.factor(value(d.key))
        return total


def check_formula(formula: Any, group_by: str | None) -> None:
    """``formula`` is a :class:`ScoreFormula` or None, and not combined with grouping."""
    if formula is None:
        return
    if not isinstance(formula, ScoreFormula):
        raise InvalidInputError(f"formula= takes a ScoreFormula(boosts=..., decays=...), got "
                                f"{type(formula).__name__}.")
    if group_by is not None:
        raise InvalidInputError("formula= and group_by= together are not supported: group the "
                                "boosted results yourself, or drop one.")


def apply_formula(formula: ScoreFormula, hits: list[Any], k: int) -> list[Any]:
    """The client-side path: ``hits`` (the best ``depth`` candidates) rescored by the
    formula, best first (equal scores by id), top ``k``."""
    from dataclasses import replace

    from vectorbridge.connectors.results import rank_key

    scored = [replace(h, score=formula.apply(h.score, h.payload)) for h in hits]
    return sorted(scored, key=rank_key)[:k]


__all__ = ["Boost", "Decay", "ScoreFormula", "apply_formula", "check_formula"]
