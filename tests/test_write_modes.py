"""Safe writes on every backend: upsert modes, partial payload updates, counted deletes and
request size limits (tests/backends.py), checked against the reference engine.

One dense field per collection, so Milvus 2.3.5 runs everything except the engine-BM25 case.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests.backends import unique_name
from tests.corpus import require
from vectorbridge.connectors import (
    CollectionSpec, Connector, Engine, F, IngestJournal, ReferenceConnector, ReferenceEngine,
    WriteReport,
)
from vectorbridge.connectors.journal import batch_digest
from vectorbridge.connectors.validation import prepare_rows
from vectorbridge.connectors.writes import GRPC_WIRE, JSON_WIRE, plan_requests
from vectorbridge.errors import InvalidInputError

DIM = 8
RNG = np.random.default_rng(7)
VEC = RNG.normal(size=(64, DIM)).astype(np.float32)
VEC /= np.linalg.norm(VEC, axis=1, keepdims=True)  # cosine engines store unit vectors


def dense_spec(name: str, **extra) -> CollectionSpec:
    return CollectionSpec(name=name, dense={"v": DIM}, text_key="text", **extra)


def load(conn, n: int = 6, **extra) -> str:
    name = unique_name("wm")
    conn.create_collection(dense_spec(name, **extra))
    ids = [f"p{i}" for i in range(n)]
    payloads = [{"text": f"doc {i}", "lang": "fr" if i % 3 == 0 else "en", "k": i}
                for i in range(n)]
    assert conn.upsert(name, ids, {"v": VEC[:n]}, payloads) == n
    return name


class Vec:
    """A stored vector that equals another within float32 noise."""

    def __init__(self, v) -> None:
        self.v = np.asarray(v, dtype=np.float32)

    def __eq__(self, other) -> bool:
        other = other.v if isinstance(other, Vec) else np.asarray(other, dtype=np.float32)
        return self.v.shape == other.shape and bool(np.allclose(self.v, other, atol=1e-5))

    def __repr__(self) -> str:
        return f"Vec({np.round(self.v, 4).tolist()})"


def state(conn, name: str, ids: list[str]) -> dict[str, tuple[dict, Vec]]:
    """{id: (payload, vector)} of the stored points among ``ids``."""
    return {r.id: (r.payload, Vec(r.vectors["v"])) for r in conn.get(name, ids, with_vectors=True)}


def on_reference(steps, n: int = 6):
    """Run ``steps(conn, name)`` on a fresh reference engine loaded like ``load``."""
    ref = ReferenceConnector()
    name = load(ref, n)
    return ref, name, steps(ref, name)


ALL = [f"p{i}" for i in range(6)] + ["n1", "n2", "n3"]


# -- modes ------------------------------------------------------------------------------------

def test_insert_never_overwrites_and_reports_the_stored_ids(conn):
    def steps(c, name):
        return c.upsert(name, ["p1", "n1", "p4", "n2"], {"v": VEC[10:14]},
                        [{"text": f"new {i}"} for i in range(4)], mode="insert")

    name = load(conn)
    before = state(conn, name, ALL)
    report = steps(conn, name)
    assert isinstance(report, WriteReport) and isinstance(report, int)
    assert report == 2 and report.written == 2 and report.refused == ["p1", "p4"]
    after = state(conn, name, ALL)
    assert after["p1"] == before["p1"] and after["p4"] == before["p4"]  # payload and vector
    assert after["n1"][0] == {"text": "new 1"} and after["n2"][0] == {"text": "new 3"}
    assert after["n1"][1] == VEC[11]
    assert conn.count(name) == 8
    ref, rname, rreport = on_reference(steps)
    assert rreport.refused == report.refused and state(ref, rname, ALL) == after


def test_update_never_creates_and_reports_the_missing_ids(conn):
    def steps(c, name):
        return c.upsert(name, ["n1", "p2", "n2", "p0"], {"v": VEC[20:24]},
                        [{"text": f"upd {i}", "lang": "de"} for i in range(4)], mode="update",
                        batch_size=3)  # two batches: one mixed, one all stored

    name = load(conn)
    report = steps(conn, name)
    assert report == 2 and report.written == 2 and report.refused == ["n1", "n2"]
    after = state(conn, name, ALL)
    assert set(after) == {f"p{i}" for i in range(6)}  # nothing created
    assert after["p2"][0] == {"text": "upd 1", "lang": "de"}  # replaced whole, as upsert does
    assert after["p0"][1] == VEC[23]
    ref, rname, rreport = on_reference(steps)
    assert rreport.refused == report.refused and state(ref, rname, ALL) == after
    # a batch the mode refuses whole writes nothing
    none = conn.upsert(name, ["n3"], {"v": VEC[:1]}, [{"text": "x"}], mode="update")
    assert (none, none.written, none.refused) == (0, 0, ["n3"])
    assert conn.count(name) == 6


def test_an_invalid_mode_is_refused_before_any_write(conn):
    name = load(conn)
    before = state(conn, name, ALL)
    for bad in ("replace", "INSERT", None, 1):
        with pytest.raises(InvalidInputError, match="'upsert', 'insert', 'update'"):
            conn.upsert(name, ["n1"], {"v": VEC[:1]}, [{"text": "x"}], mode=bad)
    assert state(conn, name, ALL) == before


def test_journal_keys_on_the_mode_and_keeps_the_refused_ids(conn, tmp_path):
    name = load(conn)
    journal = tmp_path / "ingest.journal"
    ids, vecs = ["p0", "n1", "n2", "p3"], {"v": VEC[30:34]}
    payloads = [{"text": f"j{i}"} for i in range(4)]
    first = conn.upsert(name, ids, vecs, payloads, mode="insert", batch_size=2, journal=journal)
    assert (first, first.written, first.refused) == (2, 2, ["p0", "p3"])
    again = conn.upsert(name, ids, vecs, payloads, mode="insert", batch_size=2, journal=journal)
    assert (again, again.written, again.refused) == (2, 0, ["p0", "p3"])  # from the journal
    assert len(IngestJournal(journal)) == 2
    # the same batches in another mode are new batches: written, not skipped
    up = conn.upsert(name, ids, vecs, payloads, batch_size=2, journal=journal)
    assert (up, up.written, up.refused) == (4, 4, [])
    assert state(conn, name, ["p0"])["p0"][0] == {"text": "j0"}
    assert len(IngestJournal(journal)) == 4


# -- update_payload ---------------------------------------------------------------------------

def test_update_payload_by_ids_filter_and_both(conn):
    def steps(c, name):
        return [c.update_payload(name, ["p1", "missing"], patch={"k": 100, "tag": ["a", 1]}),
                c.update_payload(name, filter=F("lang") == "fr", patch={"seen": True}),
                # p0 matches the filter too: counted and updated once; p4 does not; the
                # filter also takes p1 (k=100 now), p5, p6, p7
                c.update_payload(name, ["p0", "p4"], filter=F("k") >= 5, patch={"lang": "it"}),
                c.update_payload(name, [], patch={"x": 1}),
                c.update_payload(name, filter=F("lang") == "none", patch={"x": 1})]

    name = load(conn, n=8)
    ids = [f"p{i}" for i in range(8)] + ["missing"]
    before = state(conn, name, ids)
    counts = steps(conn, name)
    assert counts == [1, 3, 6, 0, 0]
    after = state(conn, name, ids)
    assert "missing" not in after
    assert after["p1"][0] == {"text": "doc 1", "lang": "it", "k": 100, "tag": ["a", 1]}
    assert after["p3"][0] == {"text": "doc 3", "lang": "fr", "k": 3, "seen": True}
    assert after["p0"][0] == {"text": "doc 0", "lang": "it", "k": 0, "seen": True}
    assert after["p2"][0] == before["p2"][0]
    assert all(after[i][1] == before[i][1] for i in after)  # vectors untouched
    ref, rname, rcounts = on_reference(steps, n=8)
    assert rcounts == counts and state(ref, rname, ids) == after
    assert conn.count(name, filter=F("lang") == "it") == 6  # filters see the new values


def test_bad_patches_are_refused_with_nothing_written(conn):
    name = unique_name("wm")
    spec = dense_spec(name, partition_key="tenant", group_key="doc",
                      payload_indexes={"year": "integer"})
    conn.create_collection(spec)
    payloads = [{"text": f"t{i}", "tenant": "a", "doc": f"d{i}", "year": 2000 + i}
                for i in range(3)]
    conn.upsert(name, ["a", "b", "c"], {"v": VEC[:3]}, payloads)
    before = state(conn, name, ["a", "b", "c"])
    bad = [{}, {"_vb_id": "x"}, {"text": ""}, {"text": "  "}, {"text": 3}, {"tenant": ""},
           {"doc": 5}, {"year": "2020"}, {"year": 1.5}, {"x": float("nan")}, {"x": object()},
           {1: "one"}, ["not", "a", "dict"], {"ok": 1, "text": None}]
    for patch in bad:
        with pytest.raises(InvalidInputError, match="patch"):
            conn.update_payload(name, ["a", "b"], filter=F("year") > 0, patch=patch)
    with pytest.raises(InvalidInputError, match="ids=.*or filter="):
        conn.update_payload(name, patch={"x": 1})
    with pytest.raises(InvalidInputError):
        conn.update_payload(name, "a", patch={"x": 1})  # ids must be a list
    if conn.engine.startswith("milvus"):  # Milvus keeps the payload in one 64 KiB JSON column
        with pytest.raises(InvalidInputError, match="point '[ab]'.*65536"):
            conn.update_payload(name, ["a", "b"], patch={"big": "x" * 65_500})
    assert state(conn, name, ["a", "b", "c"]) == before
    assert conn.update_payload(name, ["c"], patch={"year": 1999, "tenant": "z"}) == 1
    assert conn.count(name, filter=F("year") < 2000) == 1  # the typed copy followed
    assert conn.count(name, filter=F("tenant") == "z") == 1
    assert conn.count(name) == 3  # moved to another partition, not copied


@pytest.mark.parametrize("engine", ["reference", "qdrant-edge"])
def test_custom_sharding_refuses_moving_a_point_by_patch(engine, tmp_path):
    from vectorbridge.connectors import ENGINES

    conn = ENGINES[engine].connect(str(tmp_path))
    name = unique_name("wm")
    conn.create_collection(dense_spec(name, partition_key="tenant", sharding="custom"))
    conn.upsert(name, ["a"], {"v": VEC[:1]}, [{"text": "t", "tenant": "x"}])
    with pytest.raises(InvalidInputError, match="sharding='custom'"):
        conn.update_payload(name, ["a"], patch={"tenant": "y"})
    assert conn.get(name, ["a"])[0].payload == {"text": "t", "tenant": "x"}
    assert conn.update_payload(name, ["a"], patch={"text": "u"}) == 1
    conn.close()


@pytest.mark.parametrize("partial", [None, False])
def test_update_payload_keeps_every_field(conn, partial):
    """Sparse, engine-BM25 text and token vectors survive a payload update, on Milvus by
    partial_update (None: from the version) and by rewriting whole rows (False)."""
    if partial is False and not conn.engine.startswith("milvus"):
        pytest.skip("whole-row rewrite is Milvus' path")
    from vectorbridge.encoders import SparseVector

    name = unique_name("wm")
    spec = require(conn, CollectionSpec(
        name=name, dense={"v": DIM}, sparse={"s": {}, "bm": {"bm25": "engine"}},
        multivector={"tok": 4}, text_key="text"))
    conn.create_collection(spec)
    if partial is not None:
        conn.partial_update = partial
    texts = ["red apples and pears", "blue ocean water", "green apples grow"]
    sparse = [SparseVector(np.array([i, 9]), np.array([1.0, 0.5], np.float32)) for i in range(3)]
    tokens = [RNG.normal(size=(2 + i, 4)).astype(np.float32) for i in range(3)]
    conn.upsert(name, ["a", "b", "c"], {"v": VEC[:3], "s": sparse, "bm": texts, "tok": tokens},
                [{"text": t, "n": i} for i, t in enumerate(texts)])
    before = {r.id: r for r in conn.get(name, ["a", "b", "c"], with_vectors=True)}
    assert conn.update_payload(name, ["a", "c"], patch={"n": 7, "extra": "y"}) == 2
    after = {r.id: r for r in conn.get(name, ["a", "b", "c"], with_vectors=True)}
    assert after["a"].payload == {"text": texts[0], "n": 7, "extra": "y"}
    assert after["b"].payload == before["b"].payload
    for pid in "abc":
        np.testing.assert_allclose(after[pid].vectors["v"], before[pid].vectors["v"], atol=1e-6)
        np.testing.assert_allclose(after[pid].vectors["tok"], before[pid].vectors["tok"], atol=1e-6)
        assert after[pid].vectors["s"] == before[pid].vectors["s"]
    hits = conn.search(name, "bm", "apples", k=3)  # the BM25 text was kept
    assert {h.id for h in hits} == {"a", "c"} and all(h.payload["n"] == 7 for h in hits)


def test_the_default_engine_update_rewrites_whole_points():
    """Engine.op_update_payload / op_delete_counted defaults (an engine without its own)."""

    class Plain(ReferenceEngine):  # the reference store, without its own update and count
        op_update_payload = Engine.op_update_payload
        op_delete_counted = Engine.op_delete_counted

    conn = Connector(Plain())
    name = unique_name("wm")
    conn.create_collection(CollectionSpec(name=name, dense={"v": DIM}, multivector={"t": 4}))
    toks = [RNG.normal(size=(3, 4)).astype(np.float32) for _ in range(3)]
    conn.upsert(name, ["a", "b", "c"], {"v": VEC[:3], "t": toks},
                [{"k": 1}, {"k": 2}, {"k": 3, "big": "x" * 60_000}])
    assert conn.update_payload(name, ["a", "zz"], filter=F("k") == 2, patch={"m": True}) == 2
    got = {r.id: r for r in conn.get(name, ["a", "b", "c"], with_vectors=True)}
    assert got["a"].payload == {"k": 1, "m": True} and got["b"].payload == {"k": 2, "m": True}
    np.testing.assert_allclose(got["a"].vectors["t"], toks[0])
    with pytest.raises(InvalidInputError, match="'c'"):  # merged over 64 KiB: nothing written
        conn.update_payload(name, ["a", "c"], patch={"more": "y" * 6_000})
    assert "more" not in conn.get(name, ["a"])[0].payload
    assert conn.delete(name, ["a", "zz"], filter=F("k") == 2) == 2


# -- delete counts ----------------------------------------------------------------------------

def test_delete_returns_the_number_deleted(conn):
    def steps(c, name):
        return [c.delete(name, ids=["p1", "p2", "never"]),
                c.delete(name, filter=F("lang") == "fr"),  # p0 p3 p6 p9
                c.delete(name, filter=F("lang") == "fr"),  # none left
                # p4 matches the filter too (counted once), p5 does not, p1 is gone
                c.delete(name, ids=["p4", "p5", "p1"], filter=F("k") <= 4),
                c.delete(name, ids=[]),
                c.delete(name, ids=["p1"])]

    name = load(conn, n=10)
    counts = steps(conn, name)
    assert counts == [2, 4, 0, 2, 0, 0]
    assert conn.count(name) == 2
    assert sorted(conn.ids(name)) == ["p7", "p8"]
    _, _, rcounts = on_reference(steps, n=10)
    assert rcounts == counts


# -- async twins ------------------------------------------------------------------------------

async def test_async_modes_patch_and_delete(conn):
    name = load(conn)
    report = await conn.aupsert(name, ["p0", "n1"], {"v": VEC[40:42]},
                                [{"text": "a"}, {"text": "b"}], mode="insert")
    assert (report, report.written, report.refused) == (1, 1, ["p0"])
    report = await conn.aupsert(name, ["n2", "p1"], {"v": VEC[42:44]},
                                [{"text": "c"}, {"text": "d"}], mode="update")
    assert (report, report.refused) == (1, ["n2"])
    assert await conn.aupdate_payload(name, ["p1", "n2"], filter=F("lang") == "fr",
                                      patch={"z": 1}) == 3  # p1, p0, p3
    assert await conn.adelete(name, filter=F("z") == 1) == 3
    assert await conn.adelete(name, ids=["n1", "nope"]) == 1
    got = {r.id: r.payload for r in conn.get(name, ALL)}
    assert sorted(got) == ["p2", "p4", "p5"] and got["p2"] == {"text": "doc 2", "lang": "en", "k": 2}


# -- request sizes ----------------------------------------------------------------------------

_BIG: dict[str, list] = {}


def big_batch(n: int = 700, chars: int = 60_000) -> tuple[list[str], list[dict]]:
    """~40 MiB of payloads (each under the 64 KiB payload limit), built once."""
    if not _BIG:
        _BIG["ids"] = [f"big-{i:04d}" for i in range(n)]
        _BIG["payloads"] = [{"text": f"{i:06d}" + chr(97 + i % 26) * (chars - 6), "i": i}
                            for i in range(n)]
    return _BIG["ids"], _BIG["payloads"]


def test_a_40_mib_upsert_is_split_to_fit_each_engine(conn, tmp_path):
    ids, payloads = big_batch()
    assert sum(len(p["text"]) for p in payloads) > 40 * 2 ** 20
    name = unique_name("wm")
    spec = conn.create_collection(dense_spec(name))
    vecs = {"v": RNG.normal(size=(len(ids), DIM)).astype(np.float32)}
    journal = tmp_path / "big.journal"  # one line per request written
    n = conn.upsert(name, ids, vecs, payloads, batch_size=1000, journal=journal)
    assert n == len(ids) and n.written == len(ids)
    requests = len(IngestJournal(journal))
    plan = plan_requests(spec, prepare_rows(spec, ids, vecs, payloads), 1000, conn.wire,
                         conn.max_request_bytes)
    assert requests == len(plan)
    # Qdrant's 32 MiB limit splits it; Milvus' 64 MiB takes it whole
    assert requests == (1 if conn.engine.startswith("milvus") else 2), conn.engine
    assert conn.count(name) == len(ids)
    for start in range(0, len(ids), 100):
        part = ids[start:start + 100]
        got = {r.id: r.payload for r in conn.get(name, part)}
        assert [got[i] for i in part] == payloads[start:start + 100]


def test_a_small_limit_splits_requests_and_a_rerun_skips_them(conn, tmp_path):
    name = load(conn, n=0)
    conn.max_request_bytes = 64_000  # an engine attribute, set through the connector
    ids = [f"s{i}" for i in range(40)]
    payloads = [{"text": f"{i} " + "w" * 5_000} for i in range(40)]
    journal = tmp_path / "small.journal"
    n = conn.upsert(name, ids, {"v": VEC[:40]}, payloads, journal=journal)
    assert n == 40 and conn.count(name) == 40
    requests = len(IngestJournal(journal))
    assert 4 <= requests <= 12
    again = conn.upsert(name, ids, {"v": VEC[:40]}, payloads, journal=journal)
    assert (again, again.written) == (40, 0)  # the same requests, all acknowledged
    assert len(IngestJournal(journal)) == requests


def test_a_row_over_the_limit_is_refused_before_anything_is_written(conn):
    name = load(conn, n=0)
    conn.max_request_bytes = 20_000
    payloads = [{"text": "ok"}, {"text": "ok"}, {"text": "x" * 30_000}]
    with pytest.raises(InvalidInputError, match=r"row 2 \(id 'r2'\) is about [\d,]+ bytes.*"
                                                r"limit of 20,000 bytes"):
        conn.upsert(name, ["r0", "r1", "r2"], {"v": VEC[:3]}, payloads, batch_size=1)
    assert conn.count(name) == 0


# -- pure parts -------------------------------------------------------------------------------

def test_write_report_is_an_int_that_pickles():
    r = WriteReport(3, written=2, refused=["x"])
    assert r == 3 and r + 1 == 4 and repr(r) == "3" and f"{r}" == "3"
    back = pickle.loads(pickle.dumps(r))
    assert (back, back.written, back.refused) == (3, 2, ["x"])


def test_plans_are_stable_and_sized_per_wire():
    spec = dense_spec("p", multivector={"t": 128})
    ids = [f"i{i}" for i in range(50)]
    toks = [np.zeros((2000, 128), np.float32) for _ in ids]  # ~6.4 MB each as JSON
    rows = prepare_rows(spec, ids, {"v": VEC[:50], "t": toks}, [{"text": "a"}] * 50)
    qdrant = plan_requests(spec, rows, 256, JSON_WIRE, 32 * 2 ** 20)
    assert qdrant == plan_requests(spec, rows, 256, JSON_WIRE, 32 * 2 ** 20)  # deterministic
    assert len(qdrant) == 13 and qdrant[0] == (0, 4) and qdrant[-1][1] == 50
    assert plan_requests(spec, rows, 256, GRPC_WIRE, 64 * 2 ** 20) == [(0, 50)]  # tokens apart
    assert plan_requests(spec, rows, 20, JSON_WIRE, None) == [(0, 20), (20, 40), (40, 50)]
    one = rows.slice(0, 1)
    assert batch_digest("c", one) != batch_digest("c", one, "insert") != \
        batch_digest("c", one, "update")
    with pytest.raises(InvalidInputError, match="id 'i0'.*TokenPooler"):
        plan_requests(spec, rows, 256, JSON_WIRE, 4 * 2 ** 20)
