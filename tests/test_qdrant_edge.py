"""Qdrant Edge specifics: engine quantization really applied, several collections in one
folder, reopen after close and after SIGKILL, and the choice of embedded engine.

The connector contract, hybrid search and the LangChain suites run on Edge through the
``qdrant-edge`` backend of the matrix (tests/backends.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests.corpus import _unit, assert_hits, ref_topk
from vectorbridge.connectors import CollectionSpec, DenseField, F, QdrantConnector
from vectorbridge.errors import InvalidInputError


def _data(n: int = 3000, d: int = 64, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Unit vectors with structure (a few latent factors + noise), like embeddings: their
    neighbourhoods mean something, so binary codes can find them."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 8)) @ rng.normal(size=(8, d))
    return [f"p{i}" for i in range(n)], _unit((latent + 0.5 * rng.normal(size=(n, d))).astype(np.float32))


@pytest.mark.parametrize("quantization", ["binary-1bit", "scalar-int8", "pq-x16"])
def test_engine_quantization_is_applied_and_rescored(tmp_path, quantization):
    """Edge searches the quantized copies (scores differ from exact without rescoring) and
    rescores ``oversampling * k`` candidates with the originals (exact scores, true top k)."""
    ids, X = _data()
    conn = QdrantConnector(path=str(tmp_path))
    assert conn.engine == "qdrant-edge"
    conn.create_collection(CollectionSpec(name="q", dense={"v": DenseField(
        64, quantization=quantization, oversampling=8.0)}))
    conn.upsert("q", ids, {"v": X}, batch_size=1000)
    conn.optimize("q")
    queries = _unit(X[:10] + 0.2 * np.random.default_rng(1).normal(size=(10, 64)).astype(np.float32))
    raw_err, found = [], 0
    for q in queries:
        raw = conn.client.query_points("q", query=q.tolist(), using="v", limit=10,
                                       search_params=models.SearchParams(
                                           quantization=models.QuantizationSearchParams(rescore=False)))
        raw_err += [abs(p.score - float(X[int(p.payload["_vb_id"][1:])] @ q)) for p in raw.points]
        hits = conn.search("q", "v", q, k=10)
        want = ref_topk(X @ q, ids, 10)
        np.testing.assert_allclose([h.score for h in hits], [X[int(h.id[1:])] @ q for h in hits],
                                   atol=1e-4)  # rescored: exact scores
        found += len({h.id for h in hits} & {i for i, _ in want})
    assert np.mean(raw_err) > 1e-3, "the engine did not search quantized vectors"
    if quantization == "binary-1bit":  # 64-bit codes are coarse: match brute-force Hamming
        codes = np.packbits(X > 0, axis=1)
        ref = 0
        for q in queries:
            ham = np.unpackbits(codes ^ np.packbits(q > 0), axis=1).sum(axis=1)
            cand = np.argsort(ham, kind="stable")[:80]
            ref += len(set(cand[np.argsort(-(X[cand] @ q))[:10]]) & set(np.argsort(-(X @ q))[:10]))
        assert found >= ref - 10, (found, ref)
    else:
        assert found / 100 >= 0.9  # oversampling 8 + rescoring recovers the true top 10
    conn.close()


def test_several_collections_one_folder_drop_and_unfinished_create(tmp_path):
    conn = QdrantConnector(path=str(tmp_path))
    ids, X = _data(50, 8)
    for name in ("a", "b"):
        conn.create_collection(CollectionSpec(name=name, dense={"v": 8}))
        conn.upsert(name, ids, {"v": X}, [{"c": name}] * 50)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    conn.drop_collection("a")
    assert not conn.has_collection("a") and not (tmp_path / "a").exists()
    assert conn.count("b", filter=F("c") == "b") == 50
    (tmp_path / "half" / "shard").mkdir(parents=True)  # a create that died before its metadata
    assert not conn.has_collection("half")
    conn.create_collection(CollectionSpec(name="half", dense={"v": 8}))
    conn.upsert("half", ids[:3], {"v": X[:3]})
    assert conn.count("half") == 3
    conn.close()
    again = QdrantConnector(path=str(tmp_path))
    assert again.count("b") == 50 and again.count("half") == 3
    assert_hits(again.search("b", "v", X[7], k=3), ref_topk(X @ X[7], ids, 3))
    again.close()


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from vectorbridge.connectors import CollectionSpec, QdrantConnector
    conn = QdrantConnector(path=sys.argv[1])
    conn.create_collection(CollectionSpec(name="w", dense={"v": 16}))
    rng = np.random.default_rng(0)
    for b in range(10_000):
        ids = [f"b{b}-{i}" for i in range(50)]
        conn.upsert("w", ids, {"v": rng.normal(size=(50, 16)).astype(np.float32)})
        print(b, flush=True)  # acknowledged: upsert returned
""")


def test_sigkill_mid_ingest_keeps_every_acknowledged_batch(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    acked = []
    deadline = time.monotonic() + 120
    while len(acked) < 20 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"writer exited early: {proc.stderr.read()[-2000:]}")
        acked.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)  # no flush, no close
    proc.wait()
    conn = QdrantConnector(path=str(tmp_path))
    want = [f"b{b}-{i}" for b in acked for i in range(50)]
    got = {r.id for r in conn.get("w", want)}
    assert got == set(want)  # every acknowledged batch survived (Edge's WAL)
    assert conn.count("w") >= len(want)  # perhaps one more batch, written but not yet printed
    assert len(conn.ids("w")) == conn.count("w")  # no duplicates
    conn.close()


def test_embedded_engine_choice(tmp_path):
    local = tmp_path / "local"
    client = QdrantClient(path=str(local))  # a folder written by qdrant-client's local mode
    client.create_collection("x", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.close()
    assert QdrantConnector(path=str(local)).engine == "qdrant-local"  # read by the engine that wrote it
    assert QdrantConnector(path=str(tmp_path / "new")).engine == "qdrant-edge"
    assert QdrantConnector(path=str(tmp_path / "l2"), embedded="local").engine == "qdrant-local"
    assert QdrantConnector(location=":memory:").engine == "qdrant-local"
    with pytest.raises(InvalidInputError, match="embedded="):
        QdrantConnector(path=str(tmp_path / "x"), embedded="rust")


def test_index_threshold_builds_a_graph_that_finds_the_exact_neighbours(tmp_path):
    """Past ``index_threshold_kb`` the optimizer builds HNSW and searches go through it (the
    default full-scan threshold of a server would keep this shard on brute force); results
    stay the exact top k, with and without a selective filter, and across a reopen."""
    ids, X = _data(n=4000, d=128)  # 2,000 KB of vectors: over the 1,000 KB default
    payloads = [{"grp": i % 50} for i in range(len(ids))]
    conn = QdrantConnector(path=str(tmp_path))
    assert conn.client.index_threshold_kb == 1000
    conn.create_collection(CollectionSpec(name="h", dense={"v": 128}))
    conn.upsert("h", ids, {"v": X}, payloads, batch_size=1000)
    assert conn.client.get_collection("h").info.indexed_vectors_count == 0  # not yet indexed
    conn.optimize("h")
    assert conn.client.get_collection("h").info.indexed_vectors_count == len(ids)
    queries = _unit(X[:20] + 0.3 * np.random.default_rng(2).normal(size=(20, 128)).astype(np.float32))
    keep = np.array([p["grp"] == 7 for p in payloads])  # 80 points: filtered, exact scan
    for reopen in (False, True):
        if reopen:
            conn.close()
            conn = QdrantConnector(path=str(tmp_path))
        found = 0
        for q in queries:
            found += len({h.id for h in conn.search("h", "v", q, k=10)}
                         & {i for i, _ in ref_topk(X @ q, ids, 10)})
            assert_hits(conn.search("h", "v", q, k=5, filter=F("grp") == 7),
                        ref_topk(X @ q, ids, 5, allowed=keep))
        assert found / (10 * len(queries)) >= 0.98


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "1000"])
def test_index_threshold_must_be_positive_kb(tmp_path, bad):
    from vectorbridge.connectors.qdrant.edge import EdgeClient

    with pytest.raises(InvalidInputError, match="index_threshold_kb must be a positive int"):
        EdgeClient(tmp_path, index_threshold_kb=bad)


def test_selective_filters_on_an_hnsw_graph_still_return_the_exact_top_k(tmp_path):
    """Qdrant's HNSW walk under a 1 % filter strands (Edge returned 1 of 10 hits at 100,000
    points, and here at 5,000 with a graph forced): a short filtered answer is redone by an
    exact scan, in plain, fused, grouped and MMR searches."""
    from vectorbridge.connectors import F
    from vectorbridge.connectors.qdrant.edge import EdgeClient

    rng = np.random.default_rng(0)
    n, dim = 5000, 32
    X = rng.normal(size=(n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    conn = QdrantConnector(client=EdgeClient(str(tmp_path / "e"), index_threshold_kb=1))
    conn.create_collection(CollectionSpec(name="s", dense={"d": dim}))
    conn.upsert("s", [str(i) for i in range(n)], {"d": X}, [{"g": i % 100} for i in range(n)])
    conn.optimize("s")  # builds the graph
    keep = np.arange(n) % 100 == 7
    for q in X[:10]:
        s = np.where(keep, X @ q, -np.inf)
        want = [str(i) for i in np.argsort(-s)[:10]]
        assert [h.id for h in conn.search("s", "d", q, k=10, filter=F("g") == 7)] == want
        assert [h.id for h in conn.hybrid_search("s", {"d": q}, k=10, filter=F("g") == 7)] == want
        assert len(conn.mmr_search("s", "d", q, k=10, filter=F("g") == 7)) == 10
    conn.close()


def test_payload_indexes_and_on_disk_vectors_reach_the_shard(tmp_path):
    """``payload_indexes`` become Edge payload indexes before the first point, and
    ``DenseField(on_disk=True)`` a cold (mapped, read on demand) vector storage, with the
    int8 copies in RAM; a selective filter then answers from the index, exactly."""
    import json

    from vectorbridge.connectors.qdrant.edge import EdgeClient

    rng = np.random.default_rng(1)
    n, dim = 3000, 16
    X = rng.normal(size=(n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    conn = QdrantConnector(client=EdgeClient(str(tmp_path / "e"), index_threshold_kb=1))
    field = DenseField(dim, quantization="scalar-int8", on_disk=True)
    conn.create_collection(CollectionSpec(name="s", dense={"d": field},
                                          payload_indexes={"g": "integer", "tag": "keyword"}))
    conn.upsert("s", [str(i) for i in range(n)], {"d": X},
                [{"g": i % 100, "tag": f"t{i % 7}"} for i in range(n)])
    conn.optimize("s")
    shard = conn.client._get("s").shard
    assert set(shard.info().payload_schema) == {"g", "tag"}
    config = json.loads((tmp_path / "e" / "s" / "shard" / "edge_config.json").read_text())
    assert config["vectors"]["d"]["memory"] == "cold"
    assert config["vectors"]["d"]["quantization_config"]["scalar"]["always_ram"] is True
    keep = (np.arange(n) % 100 == 7) & (np.arange(n) % 7 == 3)
    for q in X[:5]:
        s = np.where(keep, X @ q, -np.inf)
        want = [str(i) for i in np.argsort(-s)[:int(min(10, keep.sum()))]]
        hits = conn.search("s", "d", q, k=10, filter=(F("g") == 7) & (F("tag") == "t3"))
        assert [h.id for h in hits] == want
    conn.close()


def test_on_disk_vectors_are_refused_on_milvus_and_kept_in_memory_by_local_mode(tmp_path):
    from vectorbridge.connectors import MilvusConnector
    from vectorbridge.errors import UnsupportedFeatureError

    spec = CollectionSpec(name="s", dense={"d": DenseField(4, on_disk=True)})
    milvus = MilvusConnector(uri=str(tmp_path / "m.db"))
    with pytest.raises(UnsupportedFeatureError, match="on_disk=True.*Qdrant"):
        milvus.create_collection(spec)
    milvus.close()
    local = QdrantConnector(location=":memory:")
    assert not local.capabilities.on_disk_vectors
    local.create_collection(spec)
    local.upsert("s", ["a"], {"d": np.ones((1, 4), np.float32)})
    assert [h.id for h in local.search("s", "d", np.ones(4, np.float32), k=1)] == ["a"]
