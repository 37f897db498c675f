"""Maximal marginal relevance: in the engine where it has it (Qdrant's ``Mmr``), LangChain's
selection client-side elsewhere — the same documents either way, with LangChain's meaning of
``lambda_mult`` (1 = pure relevance; langchain-qdrant passes it to Qdrant reversed)."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from vectorbridge.connectors import CollectionSpec, F
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError
from vectorbridge.retrievers import VectorBridgeStore
from tests.backends import unique_name
from tests.corpus import require
from tests.test_grouping import _Table

DIM, N = 8, 40


@pytest.fixture
def loaded(conn):
    rng = np.random.default_rng(11)
    base = rng.normal(size=(8, DIM))  # near-duplicates of 8 points: MMR has something to skip
    X = base[rng.integers(0, 8, N)] + 0.15 * rng.normal(size=(N, DIM))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"p{i}" for i in range(N)]
    payloads = [{"text": f"point {i}", "half": i % 2} for i in range(N)]
    name = unique_name("mmr")
    conn.create_collection(require(conn, CollectionSpec(name=name, dense={"dense": DIM}, text_key="text")))
    conn.upsert(name, ids, {"dense": X}, payloads)
    return name, X, ids


def _client_mmr(conn, name, q, k, fetch_k, lam, flt=None) -> list[str]:
    hits = conn.search(name, "dense", q, k=fetch_k, with_vectors=True, filter=flt)
    keep = maximal_marginal_relevance(q, [h.vectors["dense"] for h in hits], lambda_mult=lam, k=k)
    return [hits[i].id for i in keep]


@pytest.mark.parametrize("lam", [1.0, 0.7, 0.5, 0.2, 0.0])
def test_engine_mmr_equals_langchains_selection(conn, loaded, lam):
    name, X, ids = loaded
    q = X[0] + 0.6 * X[5]  # not a stored point: with lambda 0.5 that would tie every candidate
    q /= np.linalg.norm(q)
    if not conn.capabilities.native_mmr:
        with pytest.raises(UnsupportedFeatureError, match="max_marginal_relevance_search"):
            conn.mmr_search(name, "dense", q, k=5, fetch_k=20, lambda_mult=lam)
        return
    got = [h.id for h in conn.mmr_search(name, "dense", q, k=5, fetch_k=20, lambda_mult=lam)]
    assert got == _client_mmr(conn, name, q, 5, 20, lam)
    flt = F("half") == 1
    got = conn.mmr_search(name, "dense", q, k=5, fetch_k=20, lambda_mult=lam, filter=flt)
    assert [h.id for h in got] == _client_mmr(conn, name, q, 5, 20, lam, flt)
    assert all(int(h.id[1:]) % 2 == 1 for h in got)
    if lam == 1.0:  # pure relevance is the plain ranking
        assert [h.id for h in conn.mmr_search(name, "dense", q, k=5, lambda_mult=1.0)] == \
            [h.id for h in conn.search(name, "dense", q, k=5)]


async def test_store_mmr_native_or_client_side_agree(conn, loaded):
    name, X, ids = loaded
    q = X[3] + 0.5 * X[8]
    q /= np.linalg.norm(q)
    store = VectorBridgeStore(conn, name, _Table({"query": q}))
    for lam in (0.9, 0.3):
        want = _client_mmr(conn, name, q, 4, 12, lam)
        got = store.max_marginal_relevance_search("query", k=4, fetch_k=12, lambda_mult=lam)
        assert [d.id for d in got] == want
        got = await store.amax_marginal_relevance_search("query", k=4, fetch_k=12, lambda_mult=lam)
        assert [d.id for d in got] == want


def test_mmr_options_are_checked(conn, loaded):
    name, X, _ = loaded
    if not conn.capabilities.native_mmr:
        pytest.skip(f"{conn.engine} refuses mmr_search (tested above)")
    with pytest.raises(InvalidInputError, match="lambda_mult"):
        conn.mmr_search(name, "dense", X[0], k=3, lambda_mult=1.5)


async def test_retriever_mmr_option(conn, loaded):
    """``HybridRetriever(mmr=MMR(...))``: the engine's MMR for a dense-only retriever on
    Qdrant, LangChain's selection over the fetched vectors elsewhere — the same documents."""
    from vectorbridge.retrievers import MMR, HybridRetriever

    name, X, _ = loaded
    q = X[6] + 0.4 * X[21]
    q /= np.linalg.norm(q)
    r = HybridRetriever(connector=conn, collection=name, dense=_Table({"q": q}), k=4,
                        mmr=MMR(lambda_mult=0.4, fetch_k=15), filter=F("half") == 0)
    want = _client_mmr(conn, name, q, 4, 15, 0.4, F("half") == 0)
    assert [d.id for d in r.invoke("q")] == want
    assert [d.id for d in await r.ainvoke("q")] == want
    with pytest.raises(InvalidInputError, match="lambda_mult"):
        MMR(lambda_mult=2.0)
