"""Query types beyond a plain vector, run by the engine where it has them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeedbackQuery:
    """A dense query steered by scored example vectors, in the engine: Qdrant's relevance
    feedback with its naive strategy. For every pair of examples (the higher-scored one
    positive), a candidate's score is ``a * sim(target, x)`` plus
    ``c * confidence**b * (sim(positive, x) - sim(negative, x))``, confidence being the pair's
    score difference — so the search moves towards the better examples across the whole
    index, not only among the first results. Qdrant advises fitting ``a, b, c`` to the data
    (``qdrant-relevance-feedback``); :class:`~vectorbridge.retrievers.PseudoRelevanceFeedback`
    uses it with the first round's own scores as feedback (``dense_mode="engine"``).

    Attributes:
        target: The query vector, ``(dim,)``.
        examples: ``(m, dim)`` vectors, ``m >= 2``.
        scores: One feedback score per example.
        a: Weight of the similarity to the target.
        b: Exponent of the pairs' confidence.
        c: Weight of the pairs' similarity difference.
    """

    target: np.ndarray
    examples: np.ndarray
    scores: tuple[float, ...]
    a: float = 1.0
    b: float = 1.0
    c: float = 1.0


__all__ = ["FeedbackQuery"]
