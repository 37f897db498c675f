"""Paths that must not grow with the collection: Milvus Lite's size warning (past the size it
serves, one warning per collection naming the engines for that size; below it, none) and
filtered MaxSim on Milvus, whose document ids go into the token searches a page at a time."""

from __future__ import annotations

import logging

import numpy as np

from vectorbridge.connectors import CollectionSpec, MilvusConnector
from vectorbridge.connectors.milvus import lite


def test_a_lite_collection_past_its_size_is_logged_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(lite.LITE_SERVES, "FLAT", 300)
    conn = MilvusConnector(uri=str(tmp_path / "m.db"))
    assert conn.backend.lite_size.limit == 300
    for name in ("big", "small"):
        conn.create_collection(CollectionSpec(name=name, dense={"d": 4}))
    X = np.random.default_rng(0).normal(size=(400, 4)).astype(np.float32)
    ids = [str(i) for i in range(400)]
    with caplog.at_level(logging.WARNING, logger="vectorbridge"):
        conn.upsert("small", ids[:200], {"d": X[:200]})
        conn.upsert("small", ids[:200], {"d": X[:200]})  # 400 written, 200 held: no warning
        conn.upsert("big", ids[:250], {"d": X[:250]})
        assert not caplog.records
        conn.upsert("big", ids[250:], {"d": X[250:]})
        conn.optimize("big")
        conn.optimize("small")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "'big' holds 400 points, past the 300" in warnings[0]
    assert "Qdrant Edge" in warnings[0] and "Milvus server" in warnings[0]
    conn.close()


def test_filtered_maxsim_on_milvus_pages_the_documents_and_keeps_the_same_answer(tmp_path,
                                                                                  monkeypatch):
    from vectorbridge.connectors import F
    from vectorbridge.connectors.milvus import tokens

    rng = np.random.default_rng(3)
    conn = MilvusConnector(uri=str(tmp_path / "t.db"), multivector_candidates=4)
    conn.create_collection(CollectionSpec(name="t", multivector={"tok": 8}))
    mats = [rng.normal(size=(int(rng.integers(2, 6)), 8)).astype(np.float32) for _ in range(60)]
    conn.upsert("t", [f"d{i}" for i in range(60)], {"tok": mats}, [{"g": i % 3} for i in range(60)])
    conn.optimize("t")
    q = rng.normal(size=(3, 8)).astype(np.float32)
    calls = []
    search = conn.backend.client.search

    def counted(*args, **kwargs):
        calls.append(kwargs.get("filter", ""))
        return search(*args, **kwargs)

    monkeypatch.setattr(conn.backend.client, "search", counted)
    whole = conn.search("t", "tok", q, k=5, filter=F("g") == 1)
    assert len(calls) == 1
    monkeypatch.setattr(tokens, "FILTER_PAGE", 6)  # 20 matching documents: 4 pages
    calls.clear()
    paged = conn.search("t", "tok", q, k=5, filter=F("g") == 1)
    assert len(calls) == 4 and all(c.count('"d') <= 6 for c in calls)
    assert [(h.id, round(h.score, 5)) for h in paged] == [(h.id, round(h.score, 5)) for h in whole]
    assert {h.id for h in paged} <= {f"d{i}" for i in range(1, 60, 3)}
    conn.close()
