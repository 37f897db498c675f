"""Tenants (connectors/tenants.py): a handle confined to one tenant, on every backend.

Three tenants share one collection and the same original ids; tenant names carry quotes,
backslashes, unicode and filter syntax, which must stay data. Checked here: every read,
search and write of a handle stays in its tenant (one property test drives random
interleaved operations against a model of each tenant's points, sync and async), unscoped
access is refused, writes naming another tenant are refused before anything is written, and
every retrieval pipeline (per retriever and per call) returns its tenant's documents only.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectorbridge.connectors import CollectionSpec, F
from vectorbridge.connectors.copying import copy_collection
from vectorbridge.connectors.scoring import Boost, ScoreFormula
from vectorbridge.encoders import BinaryQuantizer, BM25Encoder, ProductQuantizer, SparseVector
from vectorbridge.errors import InvalidInputError, TenantScopeError, UnsupportedFeatureError
from vectorbridge.retrievers import MMR, Calibrate, Formula, Grouping, HybridRetriever, MaxSim, \
    PseudoRelevanceFeedback, Quantized, VectorBridgeStore
from tests.backends import unique_name
from tests.fakes import VOCAB, BagDense, BagTokens, fitted_calibrator

TENANTS = ["acme", 'q"uo\\te', "ünï' or tenant != '' or '🚀"]
IDS = [f"d{i}" for i in range(6)]


def _spec(conn, name: str) -> CollectionSpec:
    sparse = ["s"] if conn.capabilities.sparse else []
    return CollectionSpec(name, dense={"v": 4}, sparse=sparse, tenant_key="tenant",
                          text_key="text", group_key="grp")


def _vectors(conn, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {"v": rng.standard_normal((n, 4)).astype(np.float32)}
    if conn.capabilities.sparse:
        out["s"] = [SparseVector([1, 2 + i % 3], [1.0, 0.5]) for i in range(n)]
    return out


def _queries(conn) -> dict:
    return {"v": np.ones(4, np.float32), **({"s": SparseVector([1], [1.0])}
                                             if conn.capabilities.sparse else {})}


# -- the spec ---------------------------------------------------------------------------------
def test_the_tenant_key_is_the_partition_key_and_round_trips():
    spec = CollectionSpec("docs", dense={"v": 4}, tenant_key="tenant")
    assert spec.partition_key == "tenant"
    assert CollectionSpec.from_json(spec.to_json()) == spec
    with pytest.raises(InvalidInputError, match="leave partition_key unset"):
        CollectionSpec("docs", dense={"v": 4}, tenant_key="tenant", partition_key="source")
    with pytest.raises(InvalidInputError, match="tenant_key payload key name"):
        CollectionSpec("docs", dense={"v": 4}, tenant_key="ten ant")


# -- the handle -------------------------------------------------------------------------------
def test_a_handle_confines_every_operation(conn):
    name = unique_name("tn")
    conn.create_collection(_spec(conn, name))
    for i, t in enumerate(TENANTS):  # the same ids in every tenant
        conn.tenant(t).upsert(name, IDS, _vectors(conn, 6, i),
                              [{"text": f"{t} {d}", "grp": f"g{j % 2}", "n": j}
                               for j, d in enumerate(IDS)])
    conn.optimize(name)
    q = _queries(conn)
    for t in TENANTS:
        h = conn.tenant(t)
        mine = lambda hits: all(x.payload["tenant"] == t for x in hits)  # noqa: E731
        assert h.count(name) == 6 and h.ids(name) == IDS
        assert [r.payload["text"] for r in h.get(name, ["d2", "nope"])] == [f"{t} d2"]
        hits = h.search(name, "v", q["v"], k=20)
        assert sorted(x.id for x in hits) == IDS and mine(hits)
        assert mine(h.hybrid_search(name, q, k=20)) and len(h.hybrid_search(name, q, k=20)) == 6
        grouped = h.search(name, "v", q["v"], k=5, group_by="grp", group_size=3)
        assert mine(grouped) and len(grouped) == 6
        boosted = h.search(name, "v", q["v"], k=3, formula=ScoreFormula(boosts=(Boost("n", 9.0),)))
        assert mine(boosted) and boosted[0].id == "d5"  # the boost, computed in this tenant
        assert mine(h.rescore(name, "v", q["v"], IDS, k=6))
        page = h.scroll(name, limit=4)
        assert mine(page.records) and len(page.records) == 4
        if conn.capabilities.native_mmr:
            assert mine(h.mmr_search(name, "v", q["v"], k=3, fetch_k=6))
    assert conn.all_tenants().count(name) == 18
    # writes: delete, patch and the same id elsewhere
    acme, other = conn.tenant(TENANTS[0]), conn.tenant(TENANTS[1])
    assert acme.delete(name, ["d0", "d1"]) == 2 and other.count(name) == 6
    assert other.delete(name, filter=F("grp") == "g0") == 3
    assert acme.count(name) == 4 and conn.tenant(TENANTS[2]).count(name) == 6
    assert acme.update_payload(name, ["d3"], patch={"n": -1}) == 1
    assert [r.payload["n"] for r in other.get(name, ["d3"])] == [3]
    assert other.update_payload(name, ["d0"], patch={"n": 1}) == 0  # d0 of `other` is gone


def test_the_engines_hybrid_search_honours_the_partition_key(conn):
    """milvus#50398: Milvus' ``hybrid_search`` did not enforce partition-key isolation. The
    handle would drop another tenant's hits anyway; this asks the engine alone (the unscoped
    admin handle, the tenant as a plain filter, nothing checked after it), in every branch."""
    name = unique_name("tm")
    conn.create_collection(_spec(conn, name))
    for i, t in enumerate(TENANTS):
        conn.tenant(t).upsert(name, IDS, _vectors(conn, 6, i),
                              [{"text": t, "grp": "g"} for _ in IDS])
    conn.optimize(name)
    admin = conn.all_tenants()
    for t in TENANTS:
        hits = admin.hybrid_search(name, _queries(conn), k=20, prefetch_k=20,
                                   filter=F("tenant") == t)
        assert len(hits) == 6 and {x.payload["tenant"] for x in hits} == {t}
        assert all(x.id.startswith(f"{len(t)}:{t}:") for x in hits)  # the stored ids


def test_unscoped_access_and_cross_tenant_writes_are_refused(conn):
    name = unique_name("tr")
    conn.create_collection(_spec(conn, name))
    acme = conn.tenant("acme")
    acme.upsert(name, ["a"], _vectors(conn, 1, 0), [{"text": "x", "grp": "g"}])
    q = np.ones(4, np.float32)
    for call in (lambda: conn.search(name, "v", q), lambda: conn.count(name),
                 lambda: conn.get(name, ["a"]), lambda: conn.ids(name),
                 lambda: conn.delete(name, ["a"]),
                 lambda: conn.upsert(name, ["b"], _vectors(conn, 1, 1), [{"text": "x"}])):
        with pytest.raises(TenantScopeError, match="connector.tenant"):
            call()
    with pytest.raises(TenantScopeError, match="names tenant 'globex'"):
        acme.upsert(name, ["b", "c"], _vectors(conn, 2, 1),
                    [{"text": "ok", "grp": "g"}, {"text": "x", "grp": "g", "tenant": "globex"}])
    with pytest.raises(TenantScopeError, match="cannot move between tenants"):
        acme.update_payload(name, ["a"], patch={"tenant": "globex"})
    for admin_job in (lambda: acme.drop_collection(name), lambda: acme.set_alias("al", name),
                      lambda: acme.create_collection(_spec(conn, name), recreate=True)):
        with pytest.raises(TenantScopeError, match="every tenant"):
            admin_job()
    with pytest.raises(TenantScopeError, match="already a scoped handle"):
        acme.tenant("globex")
    assert acme.count(name) == 1 and conn.all_tenants().count(name) == 1  # nothing written
    plain = unique_name("plain")
    conn.create_collection(CollectionSpec(plain, dense={"v": 4}))
    with pytest.raises(TenantScopeError, match="has no tenant_key"):
        acme.count(plain)


def test_ids_that_look_like_another_tenants_stay_apart(conn):
    """Original ids are any text: one shaped like another tenant's stored id is still its own
    tenant's; the admin handle cannot store a point outside its tenant's namespace; a handle's
    write by id looks the ids up within its tenant first."""
    name, moved = unique_name("tx"), unique_name("ty")
    conn.create_collection(_spec(conn, name))
    acme, globex = conn.tenant("acme"), conn.tenant("globex")
    acme.upsert(name, ["6:globex:x"], _vectors(conn, 1, 0), [{"text": "acme", "grp": "g"}])
    globex.upsert(name, ["x"], _vectors(conn, 1, 1), [{"text": "globex", "grp": "g"}])
    assert [r.payload["text"] for r in acme.get(name, ["6:globex:x"])] == ["acme"]
    assert [r.payload["text"] for r in globex.get(name, ["x"])] == ["globex"]
    with pytest.raises(TenantScopeError, match="not a stored id of tenant 'acme'"):
        copy_collection(acme, name, conn.all_tenants(), moved, verify=False)  # bare ids
    assert not conn.all_tenants().has_collection(moved) or conn.all_tenants().count(moved) == 0
    with pytest.raises(TenantScopeError, match="cannot move between tenants"):
        conn.all_tenants().update_payload(name, filter=F("grp") == "g",
                                          patch={"tenant": "acme"})
    assert globex.update_payload(name, ["6:globex:x"], patch={"n": 1}) == 0
    assert globex.delete(name, ["6:globex:x"]) == 0 and acme.count(name) == 1
    with pytest.raises(TenantScopeError, match="all_tenants"):
        conn.drop_collection(name)  # every tenant's data: the admin handle says so
    conn.all_tenants().drop_collection(name)
    assert not conn.has_collection(name)
    with pytest.raises(InvalidInputError, match="NUL"):
        conn.tenant("a\0b")
    with pytest.raises(InvalidInputError, match="surrogate"):
        conn.tenant("a\ud800")


def test_copy_one_tenant_or_the_whole_collection(conn):
    name, copy_all, copy_one = unique_name("tc"), unique_name("ta"), unique_name("to")
    conn.create_collection(_spec(conn, name))
    for i, t in enumerate(TENANTS):
        conn.tenant(t).upsert(name, IDS, _vectors(conn, 6, i),
                              [{"text": t, "grp": "g"} for _ in IDS])
    with pytest.raises(TenantScopeError):
        copy_collection(conn, name, conn, copy_all, verify=False)
    assert copy_collection(conn.all_tenants(), name, conn.all_tenants(), copy_all).copied == 18
    assert conn.tenant(TENANTS[1]).count(copy_all) == 6
    src, dst = conn.tenant(TENANTS[1]), conn.tenant(TENANTS[0])  # a tenant into another one
    with pytest.raises(TenantScopeError, match="names tenant"):
        copy_collection(src, name, dst, copy_one, verify=False)  # the payloads name TENANTS[1]
    report = copy_collection(src, name, conn.tenant(TENANTS[1]), copy_one)
    assert report.copied == 6 and conn.all_tenants().count(copy_one) == 6


# -- the property: random interleaved operations never cross a tenant --------------------------
OPS = st.lists(st.tuples(
    st.sampled_from(["add", "delete", "delete_filter", "patch"]),
    st.integers(0, len(TENANTS) - 1),
    st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True),
    st.integers(0, 3)), min_size=1, max_size=8)


def _examples(backend) -> int:
    return 3 if backend.name in ("milvus-2.3-server", "milvus-lite-server") else \
        (5 if backend.is_milvus else 12)


def test_random_interleaved_operations_never_cross_a_tenant(backend, conn):
    loop = asyncio.new_event_loop()  # one loop for every async call (clients bind to it)

    @settings(max_examples=_examples(backend), deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ops=OPS, use_async=st.booleans())
    def check(ops, use_async):
        name = unique_name("tp")
        conn.create_collection(_spec(conn, name))
        model: dict[str, dict[str, dict]] = {t: {} for t in TENANTS}

        def call(h, method, *args, **kwargs):
            if use_async:
                return loop.run_until_complete(getattr(h, "a" + method)(*args, **kwargs))
            return getattr(h, method)(*args, **kwargs)

        for step, (op, ti, ids, value) in enumerate(ops):
            t, h = TENANTS[ti], conn.tenant(TENANTS[ti])
            if op == "add":
                payloads = [{"text": f"{t}/{d}/{step}", "grp": f"g{value}", "v": value}
                            for d in ids]
                call(h, "upsert", name, ids, _vectors(conn, len(ids), step), payloads)
                model[t].update({d: {**p, "tenant": t} for d, p in zip(ids, payloads)})
            elif op == "delete":
                gone = call(h, "delete", name, ids)
                assert gone == len([d for d in ids if d in model[t]])
                for d in ids:
                    model[t].pop(d, None)
            elif op == "delete_filter":
                call(h, "delete", name, filter=F("v") == value)
                model[t] = {d: p for d, p in model[t].items() if p["v"] != value}
            else:
                call(h, "update_payload", name, ids, patch={"note": value})
                for d in ids:
                    if d in model[t]:
                        model[t][d]["note"] = value
        q = _queries(conn)
        for t in TENANTS:
            h, want = conn.tenant(t), model[t]
            assert call(h, "count", name) == len(want)
            assert call(h, "ids", name) == sorted(want)
            got = {r.id: r.payload for r in call(h, "get", name, IDS)}
            assert got == want
            for hits in (call(h, "search", name, "v", q["v"], k=10),
                         call(h, "hybrid_search", name, q, k=10),
                         call(h, "search", name, "v", q["v"], k=10, group_by="grp")):
                assert {x.id for x in hits} <= set(want)
                assert all(x.payload == want[x.id] for x in hits)
            assert len(call(h, "search", name, "v", q["v"], k=10)) == len(want)
        conn.all_tenants().drop_collection(name)

    try:
        check()
    finally:
        loop.close()


# -- every pipeline, per retriever and per call, sync and async -------------------------------
rng = np.random.default_rng(11)
TEXTS = [" ".join(rng.choice(VOCAB, 8)) for _ in range(40)]
DOC_IDS = [f"p{i}" for i in range(40)]


PIPELINES = {
    "dense": lambda: dict(dense=BagDense()),
    "hybrid-rrf": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                               fusion="rrf"),
    "hybrid-dbsf": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                                fusion="dbsf"),
    "hybrid-weighted": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                                    fusion={"kind": "weighted", "weights": (0.7, 0.3)}),
    "grouped": lambda: dict(dense=BagDense(), stages=[Grouping("grp", size=2)]),
    "mmr": lambda: dict(dense=BagDense(), stages=[MMR(0.5, fetch_k=20)]),
    "formula": lambda: dict(dense=BagDense(), stages=[
        Formula(ScoreFormula(boosts=(Boost("n", 0.01),)))]),
    "pq-codes": lambda: dict(dense=BagDense(), stages=[
        Quantized(ProductQuantizer(m=8, nbits=4), oversample=4)]),
    "binary-codes": lambda: dict(dense=BagDense(), stages=[Quantized(BinaryQuantizer())]),
    "maxsim": lambda: dict(dense=BagDense(), stages=[MaxSim(BagTokens(), k=30)]),
    "prf": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                        stages=[PseudoRelevanceFeedback()]),
    "calibrated": lambda: dict(dense=BagDense(), stages=[Calibrate(fitted_calibrator(), 0.0)]),
    "engine-feedback": lambda: dict(dense=BagDense(), stages=[
        PseudoRelevanceFeedback(dense_docs=3, sparse_docs=0, dense_mode="engine")]),
}


#: Writes between the reads: (tenant index, add or delete, ids among the 40).
PIPELINE_OPS = st.lists(st.tuples(st.integers(0, len(TENANTS) - 1),
                                  st.sampled_from(["add", "delete"]),
                                  st.lists(st.sampled_from(DOC_IDS), min_size=1, max_size=5,
                                           unique=True)), max_size=4)


@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_every_pipeline_returns_its_tenants_documents_only(backend, conn, pipeline):
    """Per pipeline: three tenants built with the same ids, then random interleaved adds and
    deletes of one tenant at a time; every tenant's answers, per retriever and per call,
    sync and async, are its own documents, and never one it deleted."""
    loop = asyncio.new_event_loop()

    @settings(max_examples=1 if backend.is_milvus else 2, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ops=PIPELINE_OPS)
    def check(ops):
        name, built = unique_name("tq"), {}
        options = PIPELINES[pipeline]()  # one set of encoders: a PQ codebook is the collection's
        model: dict[str, set[str]] = {}
        try:
            for i, t in enumerate(TENANTS):  # the same ids, other texts, in each tenant
                texts = TEXTS[i * 10:] + TEXTS[:i * 10]
                built[t] = HybridRetriever.from_texts(
                    texts[:30], ids=DOC_IDS[:30], connector=conn, collection=name, tenant=t,
                    k=8, metadatas=[{"grp": f"g{j % 4}", "n": j, "tag": t} for j in range(30)],
                    **options)
                model[t] = set(DOC_IDS[:30])
        except UnsupportedFeatureError as e:
            pytest.skip(f"unsupported on {conn.engine}: {e}")
        for ti, op, ids in ops:
            t = TENANTS[ti]
            if op == "add":
                built[t].add_texts([TEXTS[DOC_IDS.index(d)] for d in ids], ids=ids,
                                   metadatas=[{"grp": "g9", "n": 99, "tag": t} for _ in ids])
                model[t] |= set(ids)
            else:
                built[t].delete(ids)
                model[t] -= set(ids)
        shared = built[TENANTS[1]].model_copy(update={"connector": conn})  # per-call tenants
        assert shared.tenant is None
        with pytest.raises(TenantScopeError, match="shared by tenants"):
            shared.invoke(TEXTS[3])
        for t in TENANTS:
            for q in (TEXTS[3], TEXTS[25]):
                for docs in (built[t].invoke(q), shared.invoke(q, tenant=t),
                             loop.run_until_complete(shared.ainvoke(q, tenant=t)),
                             loop.run_until_complete(built[t].ainvoke(q))):
                    assert all(d.metadata["tag"] == t for d in docs), (pipeline, t)
                    assert {d.id for d in docs} <= model[t], (pipeline, t)
        with pytest.raises(TenantScopeError, match="confined to tenant"):
            built[TENANTS[0]].invoke(TEXTS[3], tenant=TENANTS[1])
        conn.all_tenants().drop_collection(name)

    try:
        check()
    finally:
        loop.close()


async def test_the_store_is_confined_to_its_tenant(conn, tmp_path):
    name = unique_name("ts")
    a = VectorBridgeStore.from_texts(TEXTS[:5], BagDense(), ids=DOC_IDS[:5], connector=conn,
                                     collection=name, tenant="acme")
    b = VectorBridgeStore(connector=conn, collection=name, embedding=BagDense(), tenant="globex")
    await b.aadd_texts(TEXTS[5:8], ids=DOC_IDS[:3])
    assert conn.spec(name).tenant_key == "tenant"
    assert {d.id for d in a.similarity_search(TEXTS[6], k=10)} == set(DOC_IDS[:5])
    assert [d.page_content for d in b.get_by_ids(["p0"])] == [TEXTS[5]]
    shared = VectorBridgeStore(connector=conn, collection=name, embedding=BagDense())
    assert {d.page_content for d in shared.similarity_search(TEXTS[6], k=10, tenant="globex")} \
        == set(TEXTS[5:8])  # a per-call tenant, as LangChain's search kwargs
    assert {d.id for d in await shared.amax_marginal_relevance_search(
        TEXTS[6], k=2, fetch_k=5, tenant="acme")} <= set(DOC_IDS[:5])
    with pytest.raises(InvalidInputError, match="did you mean 'tenant'"):
        shared.similarity_search(TEXTS[6], tenent="globex")  # never ignored
    with pytest.raises(TenantScopeError, match="confined to tenant 'acme'"):
        a.similarity_search(TEXTS[6], tenant="globex")
    journal = tmp_path / "ingest.journal"  # one journal, two tenants: both are written
    for t in ("j1", "j2"):
        HybridRetriever.from_texts(TEXTS[:3], ids=DOC_IDS[:3], connector=conn, collection=name,
                                   dense=BagDense(), tenant=t, journal=journal)
    assert conn.tenant("j2").count(name) == 3
    shared.add_texts(TEXTS[10:12], ids=["n1", "n2"], tenant="j3")  # a per-call tenant writes
    assert [r.payload["tenant"] for r in conn.tenant("j3").get(name, ["n1"])] == ["j3"]
    with pytest.raises(TenantScopeError, match="all_tenants"):
        shared.delete()  # unscoped: never drops a collection of tenants
    shared.delete(tenant="j3")
    assert conn.tenant("j3").count(name) == 0 and conn.tenant("j2").count(name) == 3
    b.delete()  # every document of this tenant, not the collection
    assert b.similarity_search(TEXTS[6], k=10) == [] and len(a.get_by_ids(DOC_IDS)) == 5


def test_where_the_engines_keep_bm25_statistics(conn):
    """Pinned, so a change upstream shows: Milvus' BM25 function keeps its statistics per
    partition (a tenant alone in its partition gets its own IDF), Qdrant's IDF modifier and
    BM25 model over the whole collection (docs: Reliability, *Lexical statistics per tenant*)."""
    import math

    if not conn.capabilities.engine_bm25:
        pytest.skip(f"{conn.engine} has no BM25 of its own")
    from vectorbridge.connectors import SparseField

    name = unique_name("ti")
    conn.create_collection(CollectionSpec(name, sparse={"s": SparseField(bm25="engine")},
                                          tenant_key="tenant"))
    conn.tenant("a").upsert(name, ["a0", "a1", "a2", "a3"],
                            {"s": ["zebra", "apple", "apple", "apple"]})
    conn.tenant("b").upsert(name, [f"b{i}" for i in range(40)], {"s": ["zebra"] * 40})
    conn.optimize(name)
    score = conn.tenant("a").search(name, "s", "zebra", k=1)[0].score

    def idf(n, df):
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    if conn.engine.startswith("milvus"):
        assert score == pytest.approx(idf(4, 1), rel=1e-3)  # tenant a's own statistics
    else:
        assert score < idf(4, 1) / 2  # 41 of 44 documents hold "zebra" collection-wide


def test_a_collection_vectorbridge_did_not_create_can_still_be_recreated(tmp_path):
    """The tenant check before a drop reads the spec; a foreign collection has none (and no
    tenants): recreate=True and drop_collection work on it as before."""
    from qdrant_client import QdrantClient, models

    from vectorbridge.connectors import QdrantConnector

    client = QdrantClient(path=str(tmp_path))
    client.create_collection("x", vectors_config=models.VectorParams(
        size=2, distance=models.Distance.DOT))
    client.close()
    conn = QdrantConnector(path=str(tmp_path))
    spec = conn.create_collection(CollectionSpec("x", dense={"v": 2}), recreate=True)
    assert spec.name == "x" and conn.count("x") == 0
    conn.drop_collection("x")
    assert not conn.has_collection("x")
