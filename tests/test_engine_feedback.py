"""Relevance feedback in the engine: ``FeedbackQuery`` (Qdrant's naive strategy) against a
Python reference of its formula, and ``PseudoRelevanceFeedback(dense_mode="engine")``, which
falls back to Rocchio where the engine has no feedback query."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vectorbridge.connectors import CollectionSpec, F
from vectorbridge.connectors.queries import FeedbackQuery
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError
from vectorbridge.retrievers import HybridRetriever
from vectorbridge.retrievers.feedback import PseudoRelevanceFeedback as PRF
from tests.backends import unique_name
from tests.corpus import require
from tests.test_grouping import _Table

DIM, N = 16, 300


@pytest.fixture
def loaded(conn):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(N, DIM)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    name = unique_name("fb")
    conn.create_collection(require(conn, CollectionSpec(name=name, dense={"dense": DIM}, text_key="text")))
    conn.upsert(name, [str(i) for i in range(N)], {"dense": X},
                [{"text": f"point {i}", "odd": i % 2} for i in range(N)])
    return name, X


def _reference(X, fq: FeedbackQuery, k: int, allowed=None) -> list[tuple[str, float]]:
    """a * sim(target, x) + sum over pairs of c * confidence**b * (sim(pos, x) - sim(neg, x)),
    every pair of examples, the higher-scored one positive, confidence = score difference."""
    score = fq.a * (X @ fq.target)
    for (u, su), (v, sv) in itertools.combinations(zip(fq.examples, fq.scores), 2):
        (p, sp), (n, sn) = ((u, su), (v, sv)) if su >= sv else ((v, sv), (u, su))
        score = score + fq.c * (sp - sn) ** fq.b * (X @ p - X @ n)
    order = [i for i in np.argsort(-score) if allowed is None or allowed[i]][:k]
    return [(str(i), float(score[i])) for i in order]


@pytest.mark.parametrize("b,c", [(1.0, 1.0), (2.0, 0.5)])
def test_feedback_query_equals_the_formula(conn, loaded, b, c):
    name, X = loaded
    fq = FeedbackQuery(X[0], X[[5, 9, 17]], (0.9, 0.4, 0.1), 1.0, b, c)
    if not conn.capabilities.native_feedback:
        with pytest.raises(UnsupportedFeatureError, match="Rocchio"):
            conn.search(name, "dense", fq, k=5)
        return
    got = conn.search(name, "dense", fq, k=8)
    want = _reference(X, fq, 8)
    assert [h.id for h in got] == [i for i, _ in want]
    np.testing.assert_allclose([h.score for h in got], [s for _, s in want], rtol=1e-4, atol=1e-5)
    odd = conn.search(name, "dense", fq, k=8, filter=F("odd") == 1)
    assert [h.id for h in odd] == [i for i, _ in _reference(X, fq, 8, np.arange(N) % 2 == 1)]


def test_feedback_query_is_checked(conn, loaded):
    name, X = loaded
    with pytest.raises(InvalidInputError, match="at least 2 examples"):
        conn.search(name, "dense", FeedbackQuery(X[0], X[[1]], (0.5,)), k=3)
    with pytest.raises(InvalidInputError, match="expected"):
        conn.search(name, "dense", FeedbackQuery(X[0], X[:2, :4], (0.5, 0.1)), k=3)
    with pytest.raises(InvalidInputError, match="dense_docs >= 2"):
        PRF(dense_docs=1, sparse_docs=0, dense_mode="engine")


def test_prf_engine_mode_or_rocchio(conn, loaded):
    name, X = loaded
    q = X[3] + 0.5 * X[40]
    q /= np.linalg.norm(q)
    prf = PRF(dense_docs=3, sparse_docs=0, dense_mode="engine", engine_coefficients=(1.0, 1.0, 2.0))
    r = HybridRetriever(connector=conn, collection=name, dense=_Table({"q": q}), k=5, prf=prf)
    if conn.capabilities.native_feedback:  # the first round's top 3, their scores as feedback
        first = conn.search(name, "dense", q, k=3)
        fq = FeedbackQuery(q, X[[int(h.id) for h in first]], tuple(h.score for h in first),
                           1.0, 1.0, 2.0)
        want = [h.id for h in conn.search(name, "dense", fq, k=5)]
    else:  # Rocchio over the same documents
        want = [d.id for d in r.model_copy(update={"prf": PRF(dense_docs=3, sparse_docs=0)}).invoke("q")]
    assert [d.id for d in r.invoke("q")] == want
