"""QueryAdapter: it learns a query-side shift from pairs against fixed document vectors and
generalises to documents it never saw, deterministically; persistence, refusals, negative
mining that never picks a relevant document, and the retriever / store plumbing."""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.bench.data import embeddings_for
from vectorbridge.encoders import QueryAdapter
from vectorbridge.encoders.adapter import _mine
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers import HybridRetriever, VectorBridgeStore
from tests.backends import unique_name

N, DIM, TRAIN = 600, 32, 400


@pytest.fixture(scope="module")
def shifted():
    """Documents, and queries that are their documents seen through a low-rank distortion
    (the "domain" a model was not trained on): queries of the first TRAIN documents train,
    queries of the rest test on documents the adapter never saw."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(N, DIM))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    U, V = rng.normal(size=(DIM, 4)), rng.normal(size=(DIM, 4))
    distort = np.eye(DIM) + 0.6 * U @ V.T / np.sqrt(DIM)
    Q = X @ distort.T + 0.05 * rng.normal(size=(N, DIM))
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    return X.astype(np.float32), Q.astype(np.float32)


def _hit_rate(Q, X, rows) -> float:
    return float(np.mean((Q[rows] @ X.T).argmax(axis=1) == rows))


def test_adapter_learns_the_shift_and_generalises(shifted):
    X, Q = shifted
    train, test = np.arange(TRAIN), np.arange(TRAIN, N)
    adapter = QueryAdapter(rank=8, epochs=15, lr=3e-3).fit(Q[train], X[train], X)
    before, after = _hit_rate(Q, X, test), _hit_rate(adapter.transform(Q), X, test)
    assert after > before + 0.1, (before, after)
    assert adapter.losses[-1] < adapter.losses[0]
    out = adapter.transform(Q[:5] * 3.0)
    assert out.shape == (5, DIM) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 3.0, atol=1e-4)  # the input norm is kept
    # deterministic: the same data and seed give the same adapter
    again = QueryAdapter(rank=8, epochs=15, lr=3e-3).fit(Q[train], X[train], X)
    assert np.array_equal(again.transform(Q), adapter.transform(Q))


def test_hidden_layer_variant_trains_too(shifted):
    X, Q = shifted
    train, test = np.arange(TRAIN), np.arange(TRAIN, N)
    adapter = QueryAdapter(rank=16, hidden=True, epochs=15, lr=3e-3).fit(Q[train], X[train], X)
    assert adapter.bias is not None
    assert _hit_rate(adapter.transform(Q), X, test) > _hit_rate(Q, X, test)


def test_mined_negatives_never_include_a_relevant_document():
    rng = np.random.default_rng(2)
    D = rng.normal(size=(50, 8)).astype(np.float32)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Q = D[:4].copy()  # each query's nearest documents are its relevant ones
    query_of = np.array([0, 0, 1, 2])  # query 0 has two relevant documents
    relevant = {0: {0, 1}, 1: {2}, 2: {3}}
    negs = _mine(Q, D, relevant, query_of, 5)
    assert negs.shape == (4, 5)
    for row, q in zip(negs, query_of):
        assert not set(row.tolist()) & relevant[int(q)]
        assert len(set(row.tolist())) == 5


def test_save_load_and_refusals(tmp_path, shifted):
    X, Q = shifted
    adapter = QueryAdapter(rank=4, hidden=True, epochs=2).fit(Q[:50], X[:50], X)
    adapter.save(tmp_path / "a.npz")
    back = QueryAdapter.load(tmp_path / "a.npz")
    assert np.array_equal(back.transform(Q), adapter.transform(Q))
    assert back.fingerprint() == adapter.fingerprint() and back.losses == adapter.losses
    with pytest.raises(InvalidInputError, match="not trained"):
        QueryAdapter().transform(Q)
    with pytest.raises(InvalidInputError, match="pair up"):
        QueryAdapter().fit(Q[:10], X[:9], X)
    with pytest.raises(InvalidInputError, match=r"\(n, 32\)"):
        adapter.transform(Q[:, :8])
    with pytest.raises(InvalidInputError, match="hard_negatives"):
        QueryAdapter(hard_negatives=100).fit(Q[:10], X[:10], X[:20])
    for kw in ({"rank": 0}, {"epochs": 0}, {"lr": -1.0}, {"temperature": 0},
               {"hard_negatives": -1}, {"weight_decay": -0.1}):
        with pytest.raises(InvalidInputError):
            QueryAdapter(**kw)


def test_retriever_and_store_search_with_the_adapted_query(conn, shifted):
    """``query_adapter=`` gives the ranking of the adapted query vector, through
    HybridRetriever and VectorBridgeStore alike, with the stored documents unchanged."""
    X, Q = shifted
    X, Q = X[:200], Q[:200]
    adapter = QueryAdapter(rank=8, epochs=3).fit(Q[:100], X[:100], X)
    texts, qtexts = [f"d{i}" for i in range(len(X))], [f"q{i}" for i in range(20)]
    emb = embeddings_for(texts, X, qtexts, Q[:20])
    name = unique_name("adapt")
    r = HybridRetriever.from_texts(texts, ids=[str(i) for i in range(len(X))], connector=conn,
                                   collection=name, dense=emb, query_adapter=adapter, k=5)
    store = VectorBridgeStore(connector=conn, collection=name, embedding=emb,
                              query_adapter=adapter)
    Qa = adapter.transform(Q[:20])
    for i, q in enumerate(qtexts):
        want = [h.id for h in conn.search(name, "dense", Qa[i], k=5)]
        assert [d.id for d in r.invoke(q)] == want
        assert [d.id for d in store.similarity_search(q, k=5)] == want
    with pytest.raises(InvalidInputError, match="QueryAdapter"):
        HybridRetriever(connector=conn, collection=name, dense=emb, query_adapter="adapter")
    with pytest.raises(InvalidInputError, match="not trained"):
        VectorBridgeStore(connector=conn, collection=name, embedding=emb,
                          query_adapter=QueryAdapter())
