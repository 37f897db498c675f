"""The connector contract, run unchanged on every backend in tests/backends.py.

Every search is checked against a brute-force numpy reference on the same small corpus.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from vectorbridge.connectors import (
    BinaryField, CollectionSpec, DenseField, F, MultiVectorField, SparseField,
)
from qdrant_client import models

from vectorbridge.encoders import SparseVector, maxsim
from vectorbridge.errors import (
    CollectionNotFoundError, InvalidInputError, SpecMismatchError, UnsupportedFeatureError,
)
from tests.backends import unique_name
from tests.corpus import (
    DIM, HOSTILE, N, TOK_DIM, _unit, assert_hits, full_spec, load, ref_topk, require,
)


# -- round trip, idempotency, delete ---------------------------------------------------------

def test_round_trip_ids_payloads_vectors(conn, corpus):
    name = load(conn, corpus)
    assert conn.count(name) == N
    want = corpus["ids"][:10]
    got = conn.get(name, want + ["missing-id"], with_vectors=True)
    assert [r.id for r in got] == want
    for r in got:
        i = corpus["ids"].index(r.id)
        assert r.payload == corpus["payloads"][i]  # no internal keys leak into payloads
        np.testing.assert_allclose(r.vectors["dense"], corpus["dense"][i], atol=1e-6)
        assert r.vectors["sparse"] == corpus["sparse"][i]
        np.testing.assert_allclose(r.vectors["tokens"], corpus["tokens"][i], atol=1e-6)
    hits = conn.search(name, "dense", corpus["dense"][0], k=1)
    assert hits[0].id == corpus["ids"][0] and hits[0].payload == corpus["payloads"][0]


def test_get_returns_only_the_vector_fields_asked_for(conn, corpus):
    name = load(conn, corpus)
    ids = corpus["ids"][:3]
    for fields in (["tokens"], ["dense", "sparse"]):
        got = conn.get(name, ids, with_vectors=fields)
        assert [r.id for r in got] == ids
        for r in got:
            assert sorted(r.vectors) == sorted(fields)
            assert r.payload == corpus["payloads"][corpus["ids"].index(r.id)]
    (rec,) = conn.get(name, ids[:1], with_vectors=["tokens"])
    np.testing.assert_allclose(rec.vectors["tokens"], corpus["tokens"][0], atol=1e-6)
    with pytest.raises(InvalidInputError, match="field names"):
        conn.get(name, ids, with_vectors=["nope"])


def test_reupsert_is_idempotent_and_replaces(conn, corpus):
    name = load(conn, corpus)
    load(conn, corpus, name)  # same ids again
    assert conn.count(name) == N
    new_tokens = [_unit(np.ones((9, TOK_DIM), np.float32))]
    conn.upsert(name, [corpus["ids"][3]], {"dense": corpus["dense"][3:4], "sparse": corpus["sparse"][3:4],
                                           "tokens": new_tokens}, [{"text": "changed", "lang": "xx"}])
    assert conn.count(name) == N
    (rec,) = conn.get(name, [corpus["ids"][3]], with_vectors=True)
    assert rec.payload == {"text": "changed", "lang": "xx"}
    assert rec.vectors["tokens"].shape == (9, TOK_DIM)  # old token rows replaced, not merged
    assert conn.count(name, filter=F("lang") == "xx") == 1


def test_delete_by_ids_and_filter(conn, corpus):
    name = load(conn, corpus)
    conn.delete(name, ids=[corpus["ids"][0], corpus["ids"][1], "never-stored"])
    assert conn.count(name) == N - 2
    assert conn.get(name, corpus["ids"][:2]) == []
    conn.delete(name, filter=F("lang") == "fr")
    remaining = {r.id for r in conn.get(name, corpus["ids"])}
    expected = {pid for i, pid in enumerate(corpus["ids"])
                if i > 1 and corpus["payloads"][i]["lang"] != "fr"}
    assert remaining == expected and conn.count(name) == len(expected)
    hits = conn.search(name, "tokens", corpus["tokens"][2], k=N)
    assert {h.id for h in hits} == expected  # token rows of deleted docs are gone too


# -- filters -----------------------------------------------------------------------------------

FILTERS = [
    F("lang") == "en",
    F("lang").isin(["de", "fr"]),
    (F("year") >= 2000) & (F("year") < 2010),
    F("score") > 4.5,
    F("flag") == True,  # noqa: E712
    ~(F("lang") == "en"),
    (F("lang") == "en") | (F("meta.group") == 3),
    F("meta.group").isin([1, 2]),
    ~(F("missing") == "x"),          # true for every point: the key is absent everywhere
    F("score") == 2.5,
    {"lang": "de", "year": {"$gt": 1995}},
    {"$or": [{"lang": "fr"}, {"tag": {"$in": ["it's", "1"]}}]},
] + [F("tag") == h for h in HOSTILE]


@pytest.mark.parametrize("flt", FILTERS, ids=[f"f{i}" for i in range(len(FILTERS))])
def test_filter_matches_python_reference(conn, corpus, flt):
    from vectorbridge.connectors.filters import as_filter

    name = unique_name()
    conn.create_collection(CollectionSpec(name=name, dense={"dense": DIM}))
    conn.upsert(name, corpus["ids"], {"dense": corpus["dense"]}, corpus["payloads"])
    ref = as_filter(flt)
    allowed = np.array([ref.matches(p) for p in corpus["payloads"]])
    assert conn.count(name, filter=flt) == int(allowed.sum())
    hits = conn.search(name, "dense", corpus["dense"][5], k=N, filter=flt)
    assert_hits(hits, ref_topk(corpus["dense"] @ corpus["dense"][5], corpus["ids"], N, allowed))


def test_hostile_values_match_only_themselves(conn, corpus):
    name = load(conn, corpus)
    for h in HOSTILE:
        want = {pid for pid, p in zip(corpus["ids"], corpus["payloads"]) if p["tag"] == h}
        assert {x.id for x in conn.search(name, "dense", corpus["dense"][0], k=N,
                                          filter=F("tag") == h)} == want
    assert conn.count(name, filter=F("tag") == '" or 1==1 or "') == N // len(HOSTILE) + (
        1 if N % len(HOSTILE) else 0)
    with pytest.raises(InvalidInputError, match="filter key"):
        conn.count(name, filter={'lang"] == "en" or payload["x': "y"})


# -- search vs brute force -------------------------------------------------------------------

@pytest.mark.parametrize("q", [0, 11, 27])
def test_dense_search_equals_brute_force(conn, corpus, q):
    name = load(conn, corpus)
    query = corpus["dense"][q] * 0.5 + corpus["dense"][q + 1] * 0.5
    ref = corpus["dense"] @ _unit(query)
    assert_hits(conn.search(name, "dense", query, k=7), ref_topk(ref, corpus["ids"], 7))
    allowed = np.array([p["lang"] != "de" for p in corpus["payloads"]])
    assert_hits(conn.search(name, "dense", query, k=7, filter=F("lang") != "de"),
                ref_topk(ref, corpus["ids"], 7, allowed))


@pytest.mark.parametrize("q", [2, 19])
def test_sparse_search_equals_brute_force(conn, corpus, q):
    name = load(conn, corpus)
    query = corpus["sparse"][q]
    ref = np.array([query.dot(d) for d in corpus["sparse"]])
    expected = [p for p in ref_topk(ref, corpus["ids"], 5) if p[1] > 0]
    assert_hits(conn.search(name, "sparse", query, k=5), expected)
    assert conn.search(name, "sparse", SparseVector([], []), k=5) == []


@pytest.mark.parametrize("q", [4, 33])
def test_multivector_maxsim_equals_brute_force(conn, corpus, q):
    name = load(conn, corpus)
    query = corpus["tokens"][q][:2] + 0.1
    qn = _unit(query)
    ref = np.array([maxsim(qn, d) for d in corpus["tokens"]])
    assert_hits(conn.search(name, "tokens", query, k=6), ref_topk(ref, corpus["ids"], 6))
    allowed = np.array([p["year"] % 2 == 0 for p in corpus["payloads"]])
    flt = F("year").isin(list(range(1990, 2040, 2)))
    assert_hits(conn.search(name, "tokens", query, k=6, filter=flt),
                ref_topk(ref, corpus["ids"], 6, allowed))


@pytest.mark.parametrize("metric", ["dot", "euclid"])
def test_other_metrics_are_higher_is_better(conn, corpus, metric):
    name = unique_name()
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, DIM)).astype(np.float32) * 3
    conn.create_collection(CollectionSpec(name=name, dense={"v": DenseField(DIM, metric)}))
    conn.upsert(name, corpus["ids"], {"v": X})
    q = rng.normal(size=DIM).astype(np.float32)
    ref = X @ q if metric == "dot" else -np.linalg.norm(X - q, axis=1)
    assert_hits(conn.search(name, "v", q, k=5), ref_topk(ref, corpus["ids"], 5), tol=1e-3)
    (rec,) = conn.get(name, [corpus["ids"][7]], with_vectors=True)
    np.testing.assert_allclose(rec.vectors["v"], X[7], rtol=1e-6)  # stored as given


def test_binary_codes_hamming_or_clear_refusal(backend, conn, corpus):
    name = unique_name()
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2, size=(N, 64), dtype=np.uint8)
    codes = np.packbits(bits, axis=1)
    spec = CollectionSpec(name=name, binary={"codes": BinaryField(64)})
    if backend.is_milvus_lite:
        with pytest.raises(UnsupportedFeatureError, match="BINARY_VECTOR"):
            conn.create_collection(spec)
        assert not conn.has_collection(name)
        return
    conn.create_collection(spec)
    conn.upsert(name, corpus["ids"], {"codes": codes})
    q = codes[9].copy()
    q[0] ^= np.uint8(0b00010001)  # two bits away from document 9
    ham = np.unpackbits(codes ^ q, axis=1).sum(axis=1).astype(np.int64)
    hits = conn.search(name, "codes", q, k=4)
    assert [h.score for h in hits] == sorted((-ham).tolist(), reverse=True)[:4]
    assert hits[0].id == corpus["ids"][9] and hits[0].score == -2.0
    (rec,) = conn.get(name, [corpus["ids"][9]], with_vectors=True)
    np.testing.assert_array_equal(rec.vectors["codes"], codes[9])


def test_multivector_only_collection(conn, corpus):
    name = unique_name()
    conn.create_collection(CollectionSpec(name=name, multivector={"tokens": TOK_DIM}))
    conn.upsert(name, corpus["ids"], {"tokens": corpus["tokens"]})
    ref = np.array([maxsim(corpus["tokens"][5], d) for d in corpus["tokens"]])
    assert_hits(conn.search(name, "tokens", corpus["tokens"][5], k=3), ref_topk(ref, corpus["ids"], 3))
    (rec,) = conn.get(name, [corpus["ids"][5]], with_vectors=True)
    assert set(rec.vectors) == {"tokens"}  # no engine-side padding leaks out


# -- collections: reopen, mismatch, recreate ---------------------------------------------------

def test_reopen_keeps_spec_and_data(backend, corpus):
    if not backend.reopenable:
        pytest.skip(f"{backend.name} keeps nothing after close: reopen is covered by the path/file/server backends")
    conn = backend.connect()
    name = load(conn, corpus)
    conn.close()
    again = backend.connect()
    assert again.spec(name).same_fields(full_spec(name))
    assert again.count(name) == N
    assert again.search(name, "dense", corpus["dense"][8], k=1)[0].id == corpus["ids"][8]
    assert again.search(name, "tokens", corpus["tokens"][8], k=1)[0].id == corpus["ids"][8]
    again.create_collection(full_spec(name))  # same spec: accepted, data kept
    assert again.count(name) == N


def test_spec_mismatch_and_recreate(conn, corpus):
    name = load(conn, corpus)
    with pytest.raises(SpecMismatchError, match="recreate=True"):
        conn.create_collection(CollectionSpec(name=name, dense={"dense": DIM + 1}))
    assert conn.count(name) == N
    conn.create_collection(CollectionSpec(name=name, dense={"dense": DIM + 1}), recreate=True)
    assert conn.count(name) == 0
    conn.drop_collection(name)
    assert not conn.has_collection(name)
    with pytest.raises(CollectionNotFoundError):
        conn.count(name)


def test_engine_idf_or_clear_refusal(backend, conn):
    name = unique_name()
    spec = CollectionSpec(name=name, sparse={"bm25": SparseField(idf=True)})
    if not conn.capabilities.engine_idf:
        # engines without IDF point to client IDF; Milvus 2.3 has no sparse at all
        with pytest.raises(UnsupportedFeatureError, match="idf='client'|no SPARSE_FLOAT_VECTOR"):
            conn.create_collection(spec)
        assert not conn.has_collection(name)
    else:
        conn.create_collection(spec)
        assert conn.spec(name).sparse["bm25"].idf is True


def test_multivector_euclid_refused_on_milvus(backend, conn):
    spec = CollectionSpec(name=unique_name(), multivector={"t": MultiVectorField(4, "euclid")})
    if backend.is_milvus:
        with pytest.raises(UnsupportedFeatureError, match="MaxSim"):
            conn.create_collection(spec)
    else:
        conn.create_collection(spec)
        assert conn.has_collection(spec.name)


# -- bad input: a clear error and nothing written ---------------------------------------------

def _bad_calls(corpus):
    ids, d, s, t, p = (corpus["ids"][:3], corpus["dense"][:3], corpus["sparse"][:3],
                       corpus["tokens"][:3], corpus["payloads"][:3])
    nan, inf = d.copy(), d.copy()
    nan[1, 2], inf[2, 0] = np.nan, np.inf
    v = {"dense": d, "sparse": s, "tokens": t}
    return {
        "dimension": (ids, {"dense": d[:, :-1], "sparse": s, "tokens": t}, p, "shape"),
        "nan": (ids, {"dense": nan, "sparse": s, "tokens": t}, p, "NaN"),
        "duplicate ids": (["a", "b", "a"], {"dense": d, "sparse": s, "tokens": t}, p, "twice"),
        "non-string id": (["a", 2, "c"], {"dense": d, "sparse": s, "tokens": t}, p, "ids are strings"),
        "length mismatch": (ids[:2], {"dense": d, "sparse": s, "tokens": t}, p[:2], "shape"),
        "payload count": (ids, {"dense": d, "sparse": s, "tokens": t}, p[:2], "payloads"),
        "unknown field": (ids, {"dense": d, "sparse": s, "tokens": t, "other": d}, p, "unknown field"),
        "missing field": (ids, {"dense": d, "sparse": s}, p, "missing vectors"),
        "empty text": (ids, {"dense": d, "sparse": s, "tokens": t},
                       [p[0], {**p[1], "text": "  "}, p[2]], "non-empty string"),
        "reserved key": (ids, {"dense": d, "sparse": s, "tokens": t},
                         [p[0], {**p[1], "_vb_id": "x"}, p[2]], "reserved"),
        "bad sparse": (ids, {"dense": d, "sparse": [s[0], {5: 1.0, 3: -1.0}, s[2]], "tokens": t},
                       p, "negative"),
        "token dim": (ids, {"dense": d, "sparse": s, "tokens": [t[0], t[1][:, :3], t[2]]}, p, "n_tokens"),
        "payload not json": (ids, {"dense": d, "sparse": s, "tokens": t},
                             [p[0], {**p[1], "x": float("nan")}, p[2]], "JSON"),
        "inf": (ids, {**v, "dense": inf}, p, "NaN or inf"),
        "none text": (ids, v, [p[0], {**p[1], "text": None}, p[2]], "non-empty string"),
        "oversized payload": (ids, v, [p[0], {**p[1], "blob": "x" * 70_000}, p[2]], "limit is"),
        "sparse duplicate index": (ids, {**v, "sparse": [s[0], ([3, 3], [1.0, 2.0]), s[2]]}, p,
                                   "duplicate index"),
        "sparse nan": (ids, {**v, "sparse": [s[0], {3: float("nan")}, s[2]]}, p, "NaN"),
        "token nan": (ids, {**v, "tokens": [t[0], np.full_like(t[1], np.nan), t[2]]}, p, "NaN"),
        "ids not a list": ("abc", v, p, "list of strings"),
        "empty id": (["a", "", "c"], v, p, "characters long"),
    }


@pytest.mark.parametrize("case", [
    "dimension", "nan", "duplicate ids", "non-string id", "length mismatch", "payload count",
    "unknown field", "missing field", "empty text", "reserved key", "bad sparse", "token dim",
    "payload not json", "inf", "none text", "oversized payload", "sparse duplicate index",
    "sparse nan", "token nan", "ids not a list", "empty id"])
def test_bad_input_is_refused_and_nothing_written(conn, corpus, case):
    name = unique_name()
    conn.create_collection(require(conn, full_spec(name)))
    conn.upsert(name, ["keep"], {"dense": corpus["dense"][:1], "sparse": corpus["sparse"][:1],
                                 "tokens": corpus["tokens"][:1]}, [{"text": "kept"}])
    ids, vectors, payloads, message = _bad_calls(corpus)[case]
    with pytest.raises(InvalidInputError, match=message):
        conn.upsert(name, ids, vectors, payloads)
    assert conn.count(name) == 1
    probe = sorted({"keep", *(i for i in ids if isinstance(i, str) and i)})
    probe = probe if isinstance(ids, list) else ["keep", "a", "b", "c"]
    assert [r.id for r in conn.get(name, probe)] == ["keep"]


def test_unsorted_sparse_indices_are_stored_sorted_with_their_values(conn, corpus):
    """Order carries no meaning in a sparse vector: accepted, each weight kept on its index."""
    name = unique_name()
    conn.create_collection(require(conn, full_spec(name)))
    d, t = corpus["dense"][:1], corpus["tokens"][:1]
    conn.upsert(name, ["u"], {"dense": d, "sparse": [([9, 2, 5], [0.9, 0.2, 0.5])], "tokens": t},
                [{"text": "unsorted"}])
    got = conn.get(name, ["u"], with_vectors=True)[0].vectors["sparse"]
    assert got.indices.tolist() == [2, 5, 9]
    np.testing.assert_allclose(got.values, [0.2, 0.5, 0.9], rtol=1e-6)


@pytest.mark.parametrize("bad", [
    {"$gt": 3}, {"text": {"$regex": "a"}}, {"": 1}, {"a": [1, {"b": 2}]}, "text == 'x'", 42])
def test_invalid_filters_are_refused_and_nothing_deleted(conn, corpus, bad):
    name = load(conn, corpus)
    before = conn.count(name)
    q = corpus["dense"][0]
    for op in (lambda: conn.search(name, "dense", q, k=3, filter=bad),
               lambda: conn.count(name, filter=bad),
               lambda: conn.delete(name, filter=bad)):
        with pytest.raises(InvalidInputError, match="filter|operator"):
            op()
    assert conn.count(name) == before


def test_milvus_paging_reads_everything(corpus, tmp_path, monkeypatch):
    """Milvus caps rows per query: id listings and token fetches must page, not truncate."""
    import vectorbridge.connectors.milvus.engine as milvus_mod

    monkeypatch.setattr(milvus_mod, "_MAX_QUERY_ROWS", 7)  # > 6 tokens per doc, < 40 docs
    from vectorbridge.connectors import MilvusConnector

    conn = MilvusConnector(uri=str(tmp_path / "paging.db"))
    name = load(conn, corpus)
    got = conn.get(name, corpus["ids"], with_vectors=True)
    assert len(got) == N
    for r in got:
        np.testing.assert_allclose(r.vectors["tokens"], corpus["tokens"][corpus["ids"].index(r.id)],
                                   atol=1e-6)
    flt = F("year") >= 1995
    assert sorted(conn._run(conn._matching_ids(conn.spec(name), flt))) == sorted(
        pid for pid, p in zip(corpus["ids"], corpus["payloads"]) if p["year"] >= 1995)
    conn.delete(name, filter=flt)
    assert conn.count(name) == 5
    conn.close()


@pytest.mark.parametrize("quantization", ["binary-1bit", "binary-1.5bit", "binary-2bit",
                                          "scalar-int8", "pq-x16"])
def test_engine_quantization_is_configured_or_refused(conn, corpus, quantization):
    name = unique_name("eq")
    spec = CollectionSpec(name=name, dense={"dense": DenseField(DIM, quantization=quantization,
                                                                oversampling=3.0)})
    milvus = conn.engine.startswith("milvus")
    if milvus and quantization.startswith("binary"):  # no binary quantization of float vectors
        with pytest.raises(UnsupportedFeatureError, match="no binary quantization"):
            conn.create_collection(spec)
        assert not conn.has_collection(name)
        return
    if milvus and quantization.startswith("pq") and not conn.capabilities.ivf_pq:
        with pytest.raises(UnsupportedFeatureError, match="cannot build IVF_PQ"):
            conn.create_collection(spec)  # Milvus Lite: accepted, never built, raw search
        assert not conn.has_collection(name)
        return
    conn.create_collection(spec)
    if milvus:
        index = conn.client.describe_index(name, "dense")
        assert index["index_type"] == {"scalar-int8": "IVF_SQ8", "pq-x16": "IVF_PQ"}[quantization]
    elif conn.engine.startswith("qdrant"):  # the reference engine stores the config, searches exactly
        params = conn.client.get_collection(name).config.params.vectors["dense"]
        kind = quantization.split("-")[0].replace("pq", "product")
        assert getattr(params.quantization_config, kind) is not None
    conn.upsert(name, corpus["ids"], {"dense": corpus["dense"]})
    query = corpus["dense"][4]
    hits = conn.search(name, "dense", query, k=3)  # rescored with the originals
    assert_hits(hits, ref_topk(corpus["dense"] @ query, corpus["ids"], 3))
    assert conn.spec(name).dense["dense"].quantization == quantization


def test_milvus_pq_index_is_applied_and_rescored(milvus23_server):
    """On a real Milvus server IVF_PQ answers with approximate scores; the connector asks it
    for ``oversampling * k`` candidates and ranks them by exact cosine."""
    from vectorbridge.connectors import MilvusConnector

    conn = MilvusConnector(uri=milvus23_server.uri, ivf_nlist=16, ivf_nprobe=16)
    rng = np.random.default_rng(11)
    X = _unit(rng.normal(size=(3000, 32)).astype(np.float32))
    ids = [f"d{i}" for i in range(len(X))]
    name = unique_name("ivfpq")
    conn.create_collection(CollectionSpec(name=name, dense={"v": DenseField(
        32, quantization="pq-x16", oversampling=8.0)}))  # m = 8 sub-vectors of 4 dims
    conn.upsert(name, ids, {"v": X}, batch_size=1000)
    conn.client.flush(name)  # seal the segment: Milvus builds IVF_PQ on sealed segments only
    deadline = time.monotonic() + 60
    while conn.client.describe_index(name, "v")["indexed_rows"] < len(X):
        assert time.monotonic() < deadline, "Milvus did not build the IVF_PQ index in 60 s"
        time.sleep(0.5)
    conn.client.release_collection(name)
    conn.client.load_collection(name)  # load the built index instead of the raw segment
    queries = _unit(X[:20] + 0.3 * rng.normal(size=(20, 32)).astype(np.float32))
    raw_err, hit_ids, want_ids = [], [], []
    for q in queries:
        raw = conn.client.search(name, data=[q.tolist()], anns_field="v", limit=10,
                                 search_params={"metric_type": "COSINE", "params": {"nprobe": 16}})
        raw_err += [abs(h["distance"] - float(X[int(h["id"][1:])] @ q)) for h in raw[0]]
        hits = conn.search(name, "v", q, k=10)
        np.testing.assert_allclose([h.score for h in hits],
                                   [float(X[int(h.id[1:])] @ q) for h in hits], atol=1e-5)
        hit_ids += [h.id for h in hits]
        want_ids += [ids[i] for i in np.argsort(-(X @ q))[:10]]
    assert np.mean(raw_err) > 1e-3  # the engine's own scores are PQ approximations
    recall = len(set(hit_ids) & set(want_ids)) / len(want_ids)
    assert recall >= 0.9, recall  # oversampling 8 + exact rescoring recovers the true top 10
    conn.close()


def test_spec_rejects_unknown_quantization():
    with pytest.raises(InvalidInputError, match="quantization='binary-3bit'"):
        CollectionSpec(name="x", dense={"v": DenseField(8, quantization="binary-3bit")})


def test_ids_and_rescore_of_given_candidates(conn, corpus):
    name = load(conn, corpus)
    assert conn.ids(name) == sorted(corpus["ids"])  # hostile ids included, however paged
    for flt in (F("lang") == "en", F("lang") == "xx", ~(F("lang") == "en") & (F("year") >= 0)):
        assert conn.ids(name, filter=flt) == sorted(  # the engine evaluates the filter
            i for i, p in zip(corpus["ids"], corpus["payloads"]) if flt.matches(p))
    cand = corpus["ids"][::3]
    query = corpus["dense"][6]
    ref = ref_topk(corpus["dense"] @ query, corpus["ids"], 5,
                   allowed=[i in cand for i in corpus["ids"]])
    assert_hits(conn.rescore(name, "dense", query, cand, k=5), ref)
    flt = F("lang") == "en"
    got = conn.rescore(name, "dense", query, cand, k=len(cand), filter=flt)
    assert got and {h.id for h in got} == {i for i, p in zip(corpus["ids"], corpus["payloads"])
                                          if i in cand and p["lang"] == "en"}
    assert conn.rescore(name, "dense", query, [], k=3) == []


# -- distribution: shards, replicas, partition key ----------------------------------------------

@pytest.mark.parametrize("sharding", [None, "custom"])
def test_distribution_settings_reach_the_engine(backend, conn, corpus, sharding):
    """One spec from embedded to cluster: each engine gets what it can apply; the data and
    filters behave the same everywhere; a point without its partition key is refused.
    ``sharding="custom"``: one Qdrant shard key per partition value on a server."""
    name = unique_name("dist")
    spec = CollectionSpec(name=name, dense={"dense": DIM}, shards=2, partition_key="lang",
                          num_partitions=4, sharding=sharding)
    conn.create_collection(spec)
    stored = conn.spec(name)
    assert (stored.shards, stored.partition_key, stored.num_partitions, stored.sharding) == \
        (2, "lang", 4, sharding)
    conn.upsert(name, corpus["ids"], {"dense": corpus["dense"]}, corpus["payloads"])
    conn.upsert(name, corpus["ids"][:5], {"dense": corpus["dense"][:5]}, corpus["payloads"][:5])
    want = sorted(i for i, p in zip(corpus["ids"], corpus["payloads"]) if p["lang"] == "de")
    hits = conn.search(name, "dense", corpus["dense"][3], k=N, filter=F("lang") == "de")
    assert sorted(h.id for h in hits) == want
    either = F("lang").isin(["de", "fr"])
    got = conn.search(name, "dense", corpus["dense"][3], k=N, filter=either)
    assert {h.id for h in got} == {i for i, p in zip(corpus["ids"], corpus["payloads"])
                                   if p["lang"] in ("de", "fr")}
    assert len(conn.search(name, "dense", corpus["dense"][3], k=N)) == N  # every shard asked
    with pytest.raises(InvalidInputError, match="partition_key"):
        conn.upsert(name, ["x"], {"dense": corpus["dense"][:1]}, [{"text": "no lang"}])
    assert conn.count(name) == N
    if backend.is_milvus:
        described = conn.client.describe_collection(name)
        if not backend.is_milvus_lite:  # Milvus Lite reports one shard whatever it is asked
            assert described["num_shards"] == 2
        pk = [f for f in described["fields"] if f.get("is_partition_key")]
        assert [f["name"] for f in pk] == ["_vb_partition"]
    elif conn.engine == "qdrant":  # a server: the settings are in the collection config
        params = conn.client.get_collection(name).config.params
        assert params.shard_number == 2
        assert conn.client.get_collection(name).payload_schema["lang"].params.is_tenant
        if sharding == "custom":
            assert params.sharding_method == models.ShardingMethod.CUSTOM
            keys = {d.key for d in conn.client.list_shard_keys(name).shard_keys}
            assert keys == {p["lang"] for p in corpus["payloads"]}
    if sharding == "custom":  # moving a point between shard keys is refused, nothing written
        moved = {**corpus["payloads"][1], "lang": "xx"}
        with pytest.raises(InvalidInputError, match="cannot move by re-upsert"):
            conn.upsert(name, corpus["ids"][:2], {"dense": corpus["dense"][1::-1]},
                        [corpus["payloads"][0], moved])
        assert [r.payload for r in conn.get(name, corpus["ids"][:2])] == corpus["payloads"][:2]
        conn.delete(name, ids=corpus["ids"][1:2])  # delete, then upsert: the way to move it
        conn.upsert(name, corpus["ids"][1:2], {"dense": corpus["dense"][1:2]}, [moved])
        assert conn.get(name, corpus["ids"][1:2])[0].payload["lang"] == "xx"
        assert conn.count(name) == N


def test_qdrant_create_request_carries_distribution():
    """The request a Qdrant server receives (recorded from the connector's call plan)."""
    from vectorbridge.connectors import QdrantConnector

    spec = CollectionSpec(name="c", dense={"v": 4}, shards=6, replicas=2, write_consistency=2,
                          partition_key="tenant")
    calls = []
    op = QdrantConnector(location=":memory:").backend.op_create(spec)
    try:
        c = next(op)
        while True:
            calls.append(c)
            c = op.send(None)
    except StopIteration:
        pass
    create, index = calls
    assert (create.kwargs["shard_number"], create.kwargs["replication_factor"],
            create.kwargs["write_consistency_factor"]) == (6, 2, 2)
    assert index.method == "create_payload_index" and index.args[1] == "tenant"
    assert index.kwargs["field_schema"].is_tenant is True


def test_distribution_settings_are_checked():
    with pytest.raises(InvalidInputError, match="write_consistency=3 exceeds replicas=2"):
        CollectionSpec(name="c", dense={"v": 4}, replicas=2, write_consistency=3)
    with pytest.raises(InvalidInputError, match="num_partitions needs partition_key"):
        CollectionSpec(name="c", dense={"v": 4}, num_partitions=8)
    with pytest.raises(InvalidInputError, match="shards must be an int"):
        CollectionSpec(name="c", dense={"v": 4}, shards=0)
    with pytest.raises(InvalidInputError, match="sharding='custom' needs partition_key"):
        CollectionSpec(name="c", dense={"v": 4}, sharding="custom")
    with pytest.raises(InvalidInputError, match="sharding='hash' is not one of"):
        CollectionSpec(name="c", dense={"v": 4}, partition_key="t", sharding="hash")
    assert CollectionSpec(name="c", dense={"v": 4}, sharding="auto").sharding is None
    custom = CollectionSpec(name="c", dense={"v": 4}, partition_key="t", sharding="custom")
    assert CollectionSpec.from_json(custom.to_json()) == custom
    assert not custom.same_fields(CollectionSpec(name="c", dense={"v": 4}, partition_key="t"))
    spec = CollectionSpec(name="c", dense={"v": 4}, shards=3, partition_key="tenant")
    assert CollectionSpec.from_json(spec.to_json()) == spec
    assert not spec.same_fields(CollectionSpec(name="c", dense={"v": 4}))


class _ShardedQdrant:
    """A Qdrant server's custom-sharding rules, observable in a test: a write must name an
    existing shard key, each key holds its own points, and a read with a selector sees only
    those keys' points (reads without one see every shard). Filters are not evaluated, so
    what a search returns shows where it was routed."""

    def __init__(self) -> None:
        self.meta: dict = {}
        self.shards: dict = {}
        self.calls: list = []

    def collection_exists(self, name):
        return name in self.meta

    def create_collection(self, name, **kw):
        self.calls.append(("create_collection", kw))
        self.meta[name] = kw["metadata"]
        custom = kw.get("sharding_method") == models.ShardingMethod.CUSTOM
        self.shards[name] = {} if custom else {None: {}}

    def get_collection(self, name):
        from types import SimpleNamespace
        return SimpleNamespace(config=SimpleNamespace(metadata=self.meta[name]))

    def get_aliases(self):  # a server without aliases: every name is a collection's
        return models.CollectionsAliasesResponse(aliases=[])

    def create_payload_index(self, name, key, field_schema):
        self.calls.append(("create_payload_index", key))

    def list_shard_keys(self, name):
        return models.ShardKeysResponse(shard_keys=[models.ShardKeyDescription(key=k)
                                                    for k in self.shards[name]])

    def create_shard_key(self, name, key, shards_number=None, replication_factor=None):
        if key in self.shards[name]:
            raise RuntimeError(f"shard key {key} already exists")
        self.calls.append(("create_shard_key", key, shards_number, replication_factor))
        self.shards[name][key] = {}

    def upsert(self, name, points, wait=True, shard_key_selector=None):
        if shard_key_selector not in self.shards[name]:
            raise RuntimeError(f"shard key {shard_key_selector!r} does not exist")
        self.calls.append(("upsert", shard_key_selector, len(points)))
        self.shards[name][shard_key_selector].update({p.id: p for p in points})

    def retrieve(self, name, ids, with_payload=True, with_vectors=False):
        stored = {pid: p for shard in self.shards[name].values() for pid, p in shard.items()}
        return [models.Record(id=i, payload=stored[i].payload) for i in ids if i in stored]

    def query_points(self, name, limit=10, shard_key_selector=None, **kw):
        self.calls.append(("query_points", shard_key_selector))
        keys = (list(self.shards[name]) if shard_key_selector is None
                else [shard_key_selector] if isinstance(shard_key_selector, str) else shard_key_selector)
        points = [p for k in keys for p in self.shards[name][k].values()]
        from types import SimpleNamespace
        return SimpleNamespace(points=[models.ScoredPoint(id=p.id, version=0, score=1.0,
                                                          payload=p.payload) for p in points[:limit]])


def test_custom_shard_keys_route_writes_and_reads_on_a_server(corpus):
    """The calls a Qdrant server gets with ``sharding="custom"``: CUSTOM sharding at create,
    one shard key per partition value (created once, with the spec's shards and replicas),
    each write sent to its key, reads routed to the keys their filter pins, others to all."""
    from vectorbridge.connectors import QdrantConnector

    server = _ShardedQdrant()
    conn = QdrantConnector(client=server)
    assert conn.engine == "qdrant"
    conn.create_collection(CollectionSpec(name="c", dense={"dense": DIM}, shards=3, replicas=2,
                                          partition_key="lang", sharding="custom"))
    assert server.calls[0][1]["sharding_method"] == models.ShardingMethod.CUSTOM
    ids, payloads = corpus["ids"], corpus["payloads"]
    for half in (slice(0, N // 2), slice(N // 2, N)):
        conn.upsert("c", ids[half], {"dense": corpus["dense"][half]}, payloads[half])
    langs = {p["lang"] for p in payloads}
    created = [c for c in server.calls if c[0] == "create_shard_key"]
    assert sorted(c[1] for c in created) == sorted(langs)  # once per key, over two upserts
    assert {c[2:] for c in created} == {(3, 2)}
    writes = [c for c in server.calls if c[0] == "upsert"]
    assert sum(c[2] for c in writes) == N and {c[1] for c in writes} == langs
    by_lang = {lang: {i for i, p in zip(ids, payloads) if p["lang"] == lang} for lang in langs}
    assert {k: {server.shards["c"][k][pid].payload["_vb_id"] for pid in server.shards["c"][k]}
            for k in langs} == by_lang

    q = corpus["dense"][0]
    assert {h.id for h in conn.search("c", "dense", q, k=N, filter=F("lang") == "de")} == by_lang["de"]
    assert server.calls[-1] == ("query_points", "de")
    conn.search("c", "dense", q, k=N, filter=F("lang").isin(["fr", "de"]) & (F("lang") != "x"))
    assert server.calls[-1] == ("query_points", ["de", "fr"])
    for unpinned in (None, (F("lang") == "de") | (F("n") > 3), ~(F("lang") == "de")):
        assert len(conn.search("c", "dense", q, k=N, filter=unpinned)) == N
        assert server.calls[-1] == ("query_points", None)
    conn.hybrid_search("c", {"dense": q}, k=5, filter=F("lang") == "fr")
    assert server.calls[-1] == ("query_points", "fr")
