"""Token pooling (post-hoc clustering of a document's token vectors): its mechanics on
constructed cases, and on real MiniLM tokens that MaxSim rankings survive it."""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.connectors import QdrantConnector
from vectorbridge.encoders import FDEEncoder, TokenEncoder, TokenPooler, maxsim
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers import HybridRetriever
from tests.corpus import TEXTS


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("method", ["hierarchical", "kmeans"])
@pytest.mark.parametrize("n,factor", [(10, 2), (11, 2), (240, 3), (5, 4), (1, 2)])
def test_vector_count_follows_the_pool_factor(method, n, factor):
    doc = np.random.default_rng(n).standard_normal((n, 16)).astype(np.float32)
    out = TokenPooler(factor, method).pool([doc])[0]
    target = int(np.ceil(n / factor))
    assert out.dtype == np.float32 and out.shape[1] == 16
    if method == "hierarchical":
        assert len(out) == target
    else:  # k-means may leave a cluster empty: never more than the target
        assert 1 <= len(out) <= target
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("method", ["hierarchical", "kmeans"])
def test_duplicate_tokens_collapse_without_changing_maxsim(method):
    rng = np.random.default_rng(0)
    directions = unit(rng.standard_normal((4, 32)))
    doc = np.repeat(directions, 3, axis=0)  # 12 tokens, 4 distinct
    pooled = TokenPooler(3, method, seed=1).pool([doc])[0]
    if method == "hierarchical":
        assert len(pooled) == 4
        np.testing.assert_allclose(np.sort(pooled @ directions.T, axis=1)[:, -1], 1.0, rtol=1e-5)
    q = unit(rng.standard_normal((5, 32)))
    assert maxsim(q, pooled) == pytest.approx(maxsim(q, doc), rel=1e-5)


def test_factor_one_and_protected_tokens_are_kept():
    doc = np.random.default_rng(1).standard_normal((9, 8)).astype(np.float32)
    np.testing.assert_allclose(TokenPooler(1).pool([doc])[0], unit(doc), rtol=1e-6)
    out = TokenPooler(4, protected=1).pool([doc])[0]
    np.testing.assert_allclose(out[0], unit(doc[:1])[0], rtol=1e-6)  # e.g. [CLS], as it was
    assert len(out) == 1 + 2


def test_bad_settings_and_inputs_are_refused():
    for bad in ({"pool_factor": 0.5}, {"method": "ward"}, {"protected": -1}):
        with pytest.raises(InvalidInputError):
            TokenPooler(**bad)
    with pytest.raises(InvalidInputError, match="docs\\[1\\]"):
        TokenPooler(2).pool([np.ones((3, 4)), np.ones((0, 4))])
    with pytest.raises(InvalidInputError, match="TokenPooler"):
        HybridRetriever.from_texts(["a text"], connector=QdrantConnector(location=":memory:"),
                                   collection="p", multivector=object(), pooling=2)


def test_maxsim_rankings_survive_pooling_on_minilm_tokens(minilm):
    """Factor 2 halves the vectors; the MaxSim order of the sample stays close (Spearman)."""
    from scipy.stats import spearmanr

    enc = TokenEncoder(minilm)
    docs = enc.encode_documents(TEXTS)
    pooled = TokenPooler(2).pool(docs)
    rho = []
    assert sum(map(len, pooled)) <= sum(map(len, docs)) / 2 + len(docs)
    for q in enc.encode_queries(["vitamin C and scurvy", "insulin resistance", "immune cells"]):
        full = [maxsim(q, d) for d in docs]
        small = [maxsim(q, d) for d in pooled]
        rho.append(spearmanr(full, small).statistic)
        assert int(np.argmax(small)) in np.argsort(full)[-3:]  # the pooled best is a top-3 one
    print("spearman", rho)
    assert min(rho) > 0.85 and np.mean(rho) > 0.9


def test_retriever_stores_pooled_tokens(minilm):
    enc, conn = TokenEncoder(minilm), QdrantConnector(location=":memory:")
    r = HybridRetriever.from_texts(TEXTS, ids=[str(i) for i in range(len(TEXTS))],
                                   connector=conn, collection="pooled", multivector=enc,
                                   fde=FDEEncoder(reps=4), pooling=TokenPooler(3), k=3)
    stored = conn.get("pooled", ["0"], with_vectors=True)[0].vectors["tokens"]
    assert len(stored) == int(np.ceil(len(enc.encode_documents(TEXTS[:1])[0]) / 3))
    assert r.invoke("vitamin C and scurvy")
