"""Hybrid search and the async twins, on every backend of the matrix.

Engine-side fusion is checked against the client-side reference (:func:`fuse`) over the
per-branch results, and shown to run in the engine where the engine has the method; the
rescoring stage against brute-force MaxSim; every async method against its sync twin, with
the sync client unreachable so the async client must do the work.
"""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.connectors import F
from vectorbridge.connectors import operations as ops_mod
from vectorbridge.connectors.fusion import Fusion, fuse
from vectorbridge.encoders import SparseVector, maxsim
from vectorbridge.errors import InvalidInputError
from tests.corpus import N, load

Q = 11  # the query point: its own dense and sparse vectors


def _engine_has(conn, fusion: Fusion) -> bool:
    return conn.capabilities.fuses_natively(fusion)


def _reference(conn, name, queries, fusion, depth, flt=None):
    """Fused scores of every candidate, from plain per-branch searches."""
    ranked = [[(h.id, h.score) for h in conn.search(name, f, q, k=depth, filter=flt)]
              for f, q in queries.items()]
    if conn.engine.startswith("milvus") and fusion.kind == "rrf" and _engine_has(conn, fusion):
        fusion = Fusion("rrf", fusion.k + 1, fusion.weights)  # Milvus' RRFRanker counts from 1
    return dict(fuse(ranked, fusion, limit=10 ** 6, cosine=[True, False]))


FUSIONS = [Fusion("rrf", k=60), Fusion("rrf", k=2, weights=(1.0, 0.3)), Fusion("dbsf"),
           Fusion("weighted", weights=(0.7, 0.3))]


@pytest.mark.parametrize("fusion", FUSIONS, ids=["rrf60", "rrf2-weighted", "dbsf", "weighted"])
def test_hybrid_equals_reference_fusion(conn, corpus, fusion, monkeypatch):
    name = load(conn, corpus)
    queries = {"dense": corpus["dense"][Q], "sparse": corpus["sparse"][Q]}
    ref = _reference(conn, name, queries, fusion, depth=15)
    if _engine_has(conn, fusion):  # prove the engine fused: the client-side path must not run
        monkeypatch.setattr(ops_mod, "fuse", lambda *a, **k: pytest.fail("fused client-side"))
    hits = conn.hybrid_search(name, queries, k=8, fusion=fusion, prefetch_k=15)
    assert len(hits) == 8
    got = [h.score for h in hits]
    assert got == sorted(got, reverse=True)
    for h in hits:  # every hit carries its reference fused score ...
        assert h.score == pytest.approx(ref[h.id], rel=1e-4, abs=1e-6), h.id
        assert h.payload["text"]
    # ... and the hits are the reference's top 8 (up to ties)
    np.testing.assert_allclose(got, sorted(ref.values(), reverse=True)[:8], rtol=1e-4, atol=1e-6)
    assert hits[0].id == corpus["ids"][Q]


def test_hybrid_filter_applies_to_every_branch(conn, corpus):
    name = load(conn, corpus)
    flt = F("lang") != "de"
    queries = {"dense": corpus["dense"][1], "sparse": corpus["sparse"][1]}  # doc 1 is "de"
    ref = _reference(conn, name, queries, conn.default_fusion, depth=N, flt=flt)
    hits = conn.hybrid_search(name, queries, k=N, prefetch_k=N, filter=flt)
    allowed = {i for i, p in zip(corpus["ids"], corpus["payloads"]) if p["lang"] != "de"}
    assert hits and {h.id for h in hits} <= allowed
    assert {h.id for h in hits} == set(ref)


def test_hybrid_rescore_equals_brute_force_maxsim(conn, corpus):
    name = load(conn, corpus)
    qtok = corpus["tokens"][Q]
    hits = conn.hybrid_search(name, {"dense": corpus["dense"][Q], "sparse": corpus["sparse"][Q]},
                              k=5, rescore=("tokens", qtok), rescore_k=N, prefetch_k=N)
    ref = sorted(((maxsim(qtok, t), i) for i, t in zip(corpus["ids"], corpus["tokens"])),
                 key=lambda t: -t[0])[:5]
    assert [h.id for h in hits] == [i for _, i in ref]
    np.testing.assert_allclose([h.score for h in hits], [s for s, _ in ref], rtol=1e-4)
    assert all(h.payload["text"] for h in hits)


def test_hybrid_edge_cases(conn, corpus):
    name = load(conn, corpus)
    # a branch without terms is dropped; none left -> nothing to rank
    assert conn.hybrid_search(name, {"sparse": SparseVector([], [])}, k=3) == []
    one = conn.hybrid_search(name, {"dense": corpus["dense"][2], "sparse": SparseVector([], [])}, k=3)
    assert one[0].id == corpus["ids"][2]
    with pytest.raises(InvalidInputError, match="one per branch"):
        conn.hybrid_search(name, {"dense": corpus["dense"][2], "sparse": corpus["sparse"][2]},
                           fusion=Fusion("rrf", weights=(1.0, 1.0, 1.0)))
    with pytest.raises(InvalidInputError, match="non-empty dict"):
        conn.hybrid_search(name, {}, k=3)
    with pytest.raises(InvalidInputError, match="no field 'nope'"):
        conn.hybrid_search(name, {"nope": corpus["dense"][2]}, k=3)


class _Unreachable:
    """Stands in for the sync client: any use fails the test."""

    def __getattr__(self, name):
        pytest.fail(f"the sync client's {name}() was called from an async method")


async def test_async_twins_match_sync_on_the_async_client(conn, corpus):
    name = load(conn, corpus)
    queries = {"dense": corpus["dense"][Q], "sparse": corpus["sparse"][Q]}
    want = dict(
        search=conn.search(name, "dense", corpus["dense"][Q], k=5, filter=F("year") > 1995),
        hybrid=conn.hybrid_search(name, queries, k=5),
        rescored=conn.hybrid_search(name, queries, k=3, rescore=("tokens", corpus["tokens"][Q])),
        get=conn.get(name, corpus["ids"][:3], with_vectors=True),
        count=conn.count(name, filter=F("lang") == "en"),
    )
    assert await conn.ahas_collection(name)  # opens the async client (Qdrant local: on the sync one's storage)
    sync_client, conn.client = conn.client, _Unreachable()
    try:
        got = dict(
            search=await conn.asearch(name, "dense", corpus["dense"][Q], k=5,
                                      filter=F("year") > 1995),
            hybrid=await conn.ahybrid_search(name, queries, k=5),
            rescored=await conn.ahybrid_search(name, queries, k=3,
                                               rescore=("tokens", corpus["tokens"][Q])),
            get=await conn.aget(name, corpus["ids"][:3], with_vectors=True),
            count=await conn.acount(name, filter=F("lang") == "en"),
        )
        extra = ["async-1", "async-2"]
        await conn.aupsert(name, extra, {"dense": corpus["dense"][:2], "sparse": corpus["sparse"][:2],
                                         "tokens": corpus["tokens"][:2]},
                           [{"text": "a"}, {"text": "b"}])
        assert await conn.acount(name) == N + 2
        await conn.adelete(name, extra)
        assert await conn.acount(name) == N
    finally:
        conn.client = sync_client
    for key in ("search", "hybrid", "rescored"):
        assert [h.id for h in got[key]] == [h.id for h in want[key]], key
        np.testing.assert_allclose([h.score for h in got[key]], [h.score for h in want[key]], rtol=1e-5)
    assert [r.id for r in got["get"]] == [r.id for r in want["get"]]
    for a, b in zip(got["get"], want["get"]):
        np.testing.assert_allclose(a.vectors["tokens"], b.vectors["tokens"], atol=1e-6)
    assert got["count"] == want["count"]
    assert conn.count(name) == N  # the sync view sees the async writes
    await conn.aclose()


async def test_async_collection_lifecycle(conn):
    from tests.backends import unique_name
    from vectorbridge.connectors import CollectionSpec

    name = unique_name("alc")
    spec = CollectionSpec(name=name, dense={"v": 4}, text_key="text")
    assert not await conn.ahas_collection(name)
    await conn.acreate_collection(spec)
    assert await conn.ahas_collection(name) and conn.has_collection(name)
    assert (await conn.aspec(name)).same_fields(spec)
    await conn.aupsert(name, ["x"], {"v": np.ones((1, 4), np.float32)}, [{"text": "t"}])
    assert (await conn.asearch(name, "v", np.ones(4, np.float32), k=1))[0].id == "x"
    await conn.adrop_collection(name)
    assert not await conn.ahas_collection(name)
    await conn.aclose()


@pytest.mark.parametrize("fusion", [Fusion("rrf", k=2), Fusion("dbsf"), Fusion("rrf", 5, (1.0, 0.5, 2.0))],
                         ids=["rrf2", "dbsf", "rrf-weighted"])
def test_hybrid_rescore_fuse_mode_equals_reference(conn, corpus, fusion):
    """MaxSim over the branches' candidate union joins the fusion as a third branch."""
    name = load(conn, corpus)
    qtok = corpus["tokens"][Q]
    queries = {"dense": corpus["dense"][Q], "sparse": corpus["sparse"][Q]}
    hits = conn.hybrid_search(name, queries, k=6, fusion=fusion, prefetch_k=10,
                              rescore=("tokens", qtok), rescore_k=12, rescore_mode="fuse")
    ranked = [[(h.id, h.score) for h in conn.search(name, f, q, k=10)] for f, q in queries.items()]
    union = list(dict.fromkeys(d for r in ranked for d, _ in r))
    pos = {d: i for i, d in enumerate(corpus["ids"])}
    exact = sorted(((d, maxsim(qtok, corpus["tokens"][pos[d]])) for d in union),
                   key=lambda t: -t[1])[:12]
    ref = dict(fuse([*ranked, exact], fusion, limit=10 ** 6, cosine=[True, False, False]))
    assert len(hits) == 6
    for h in hits:
        assert h.score == pytest.approx(ref[h.id], rel=1e-4, abs=1e-6), h.id
    np.testing.assert_allclose([h.score for h in hits], sorted(ref.values(), reverse=True)[:6],
                               rtol=1e-4, atol=1e-6)
