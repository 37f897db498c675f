"""Hybrid-search fusion: how several ranked lists become one.

:class:`Fusion` names the method; connectors run it in the engine where the engine has it
(Qdrant: RRF with k and weights, DBSF; Milvus: RRF with k, weighted sum) and otherwise fuse
the per-branch results here with :func:`fuse`, which is also the reference the tests compare
engine fusion against.

Formulas (rank ``r`` counts from 0, ``w`` is the branch weight):

- ``rrf``: ``sum_b 1 / ((r + 1) / w + k - 1)``, Qdrant's weighted RRF (``w / (k + r)`` up to
  the placement of the weight; equal to plain ``1 / (k + r)`` when ``w = 1``).
- ``dbsf``: each branch's scores mapped by ``(s - (mean - 3 sd)) / 6 sd`` (sample sd; 0.5 for a
  single or constant list), then summed with weights: Qdrant's distribution-based fusion.
- ``weighted``: ``sum_b w * norm(s)`` with Milvus' ``WeightedRanker`` normalisation:
  ``(1 + s) / 2`` for cosine and ``1/2 + arctan(s) / pi`` for unbounded scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence, get_args

from vectorbridge.errors import InvalidInputError

FusionKind = Literal["rrf", "dbsf", "weighted"]
FUSION_KINDS: tuple[str, ...] = get_args(FusionKind)


@dataclass(frozen=True)
class Fusion:
    """A fusion method and its parameters.

    Args:
        kind: ``"rrf"`` (rank-based), ``"dbsf"`` (score distribution-based) or ``"weighted"``
            (normalised weighted sum).
        k: RRF rank constant (smaller = more weight on the top ranks).
        weights: One weight per branch in the order the branches are given; ``None`` = equal.

    Examples:
        >>> Fusion("rrf", k=60, weights=(1.0, 0.5)).kind
        'rrf'
    """

    kind: FusionKind = "rrf"
    k: int = 60
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in FUSION_KINDS:
            raise InvalidInputError(f"fusion kind {self.kind!r} is not one of {FUSION_KINDS}.")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InvalidInputError(f"RRF k must be an int >= 1, got {self.k!r}.")
        if self.weights is not None:
            w = tuple(float(x) for x in self.weights)
            if not w or any(not math.isfinite(x) or x < 0 for x in w) or not any(w):
                raise InvalidInputError(
                    f"fusion weights must be finite, >= 0 and not all 0, got {self.weights!r}."
                )
            object.__setattr__(self, "weights", w)

    def weights_for(self, n_branches: int) -> tuple[float, ...]:
        """The weights of ``n_branches`` branches (equal when none were given)."""
        if self.weights is None:
            return (1.0,) * n_branches
        if len(self.weights) != n_branches:
            raise InvalidInputError(
                f"{len(self.weights)} fusion weights for {n_branches} branches; give one per branch."
            )
        return self.weights

    @property
    def equal_weights(self) -> bool:
        """Whether every branch weighs the same (what engines without weights can run)."""
        return self.weights is None or len(set(self.weights)) == 1


def as_fusion(value: Fusion | str | None) -> Fusion:
    """A :class:`Fusion` from itself, a kind name, or ``None`` (RRF, k=60)."""
    if value is None:
        return Fusion()
    if isinstance(value, Fusion):
        return value
    if isinstance(value, str):
        return Fusion(value)  # type: ignore[arg-type]
    raise InvalidInputError(f"fusion must be a Fusion or one of {FUSION_KINDS}, got {value!r}.")


def _dbsf(scores: Sequence[float]) -> list[float]:
    n = len(scores)
    if n == 0:
        return []
    if n == 1:
        return [0.5]
    mean = sum(scores) / n
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    if sd == 0:
        return [0.5] * n
    low = mean - 3 * sd
    return [(s - low) / (6 * sd) for s in scores]


def _bounded(score: float, cosine: bool) -> float:
    return (1.0 + score) / 2.0 if cosine else 0.5 + math.atan(score) / math.pi


def fuse(
    branches: Sequence[Sequence[tuple[str, float]]],
    fusion: Fusion,
    limit: int,
    cosine: Sequence[bool] | None = None,
) -> list[tuple[str, float]]:
    """Fuse ranked ``(id, score)`` lists (best first) into one, best first.

    Args:
        branches: One ranked list per branch.
        fusion: The method.
        limit: Length of the fused list.
        cosine: Per branch, whether its scores are cosines (for ``weighted``'s normalisation).

    Returns:
        ``(id, fused score)`` pairs; ties are broken by id for a stable order.
    """
    weights = fusion.weights_for(len(branches))
    cosine = list(cosine) if cosine is not None else [False] * len(branches)
    total: dict[str, float] = {}
    for branch, w, cos in zip(branches, weights, cosine):
        if fusion.kind == "rrf":
            contrib = [0.0 if w <= 0 else 1.0 / ((r + 1.0) / w + fusion.k - 1.0)
                       for r in range(len(branch))]
        elif fusion.kind == "dbsf":
            contrib = [w * s for s in _dbsf([s for _, s in branch])]
        else:
            contrib = [w * _bounded(s, cos) for _, s in branch]
        for (doc, _), c in zip(branch, contrib):
            total[doc] = total.get(doc, 0.0) + c
    return sorted(total.items(), key=lambda t: (-t[1], t[0]))[:limit]


__all__ = ["Fusion", "FusionKind", "FUSION_KINDS", "as_fusion", "fuse"]
