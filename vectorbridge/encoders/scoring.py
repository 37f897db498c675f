"""Scoring functions over encoder outputs, numpy only (no model imports)."""

from __future__ import annotations

import numpy as np


def maxsim(query: np.ndarray, doc: np.ndarray) -> float:
    """Late-interaction score: sum over query tokens of the best dot product with a doc token.

    Args:
        query: (n_query_tokens, dim).
        doc: (n_doc_tokens, dim).
    """
    if len(query) == 0 or len(doc) == 0:
        return 0.0
    return float((query @ doc.T).max(axis=1).sum())
