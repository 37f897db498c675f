"""Distill-VQ-style PQ refinement: ADC rankings move towards the float rankings on queries it
never saw, the stored codes stay valid, and bad settings are refused."""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.encoders import ProductQuantizer
from vectorbridge.errors import InvalidInputError


def _data(seed=0, n=2000, dim=32, n_queries=1200):
    """Documents and queries drawn from the same 8-factor distribution (plus noise)."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((8, dim))

    def draw(k):
        X = rng.standard_normal((k, 8)) @ basis + 0.5 * rng.standard_normal((k, dim))
        return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)

    return draw(n), draw(n_queries)


def _overlap(pq, codes, D, Q, k=10):
    _, idx = pq.search(codes, Q, k)
    exact = np.argsort(-(Q @ D.T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(idx, exact)]))


def test_distillation_brings_adc_rankings_closer_to_the_float_ones_on_held_out_queries():
    D, Q = _data()
    train, test = Q[:1000], Q[1000:]
    pq = ProductQuantizer(m=8, nbits=4).fit(D)
    codes = pq.encode(D)
    before = pq.centroids.copy()
    plain = _overlap(pq, codes, D, test)
    pq.distill(train, D, candidates=50, epochs=5)
    assert not np.allclose(pq.centroids, before)
    assert pq.centroids.shape == before.shape and pq.centroids.dtype == np.float32
    distilled = _overlap(pq, codes, D, test)  # the same stored codes, refined centroids
    print("overlap@10", plain, "->", distilled)
    assert distilled > plain + 0.03  # measured: 0.48 -> 0.54


def test_distill_refuses_what_it_cannot_train():
    D, Q = _data(n=300, n_queries=50)
    with pytest.raises(InvalidInputError, match="not fitted"):
        ProductQuantizer(m=8).distill(Q, D)
    with pytest.raises(InvalidInputError, match="metric='l2'"):
        ProductQuantizer(m=8, nbits=4, metric="l2").fit(D).distill(Q, D)
    pq = ProductQuantizer(m=8, nbits=4).fit(D)
    with pytest.raises(InvalidInputError, match="candidates"):
        pq.distill(Q, D, candidates=1)
    with pytest.raises(InvalidInputError, match="queries"):
        pq.distill(Q[:, :5], D)
