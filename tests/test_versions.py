"""Re-embedding behind an alias: reindex while readers read, promote atomically behind a
quality gate, roll back; on the reference engine, Qdrant Edge and Milvus Lite."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from vectorbridge.encoders import BM25Encoder
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers import (
    HybridRetriever, QualityGate, VersionedRetriever, drop_old_versions, next_version, promote,
    reindex, rollback,
)
from tests.backends import make_backend
from tests.fakes import VOCAB, BagDense

ENGINES = ["reference", "qdrant-edge", "milvus-lite-file"]


class ProjectedDense(Embeddings):
    """Another "model": BagDense through a fixed random 32 -> 24 projection."""

    P = np.random.default_rng(7).standard_normal((32, 24)).astype(np.float32)

    def _map(self, rows: list[list[float]]) -> list[list[float]]:
        x = np.asarray(rows, np.float32) @ self.P
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._map(BagDense().embed_documents(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._map([BagDense().embed_query(text)])[0]


@pytest.fixture(params=ENGINES)
def conn(request, tmp_path):
    backend = make_backend(request.param, request, tmp_path)
    yield backend.connect()
    backend.close_all()


def _corpus(n: int = 150):
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(VOCAB, 8)) for _ in range(n)]
    return [f"d{i}" for i in range(n)], texts, [{"n": i} for i in range(n)]


def _queries(m: int = 8) -> list[str]:
    rng = np.random.default_rng(11)
    return [" ".join(rng.choice(VOCAB, 3)) for _ in range(m)]


def _ids(docs) -> tuple[str, ...]:
    return tuple(d.id for d in docs)


def _live(conn):
    ids, texts, metas = _corpus()
    old = HybridRetriever.from_texts(texts, ids, metas, connector=conn, collection="docs_v1",
                                     dense=BagDense(), sparse=BM25Encoder(), k=5)
    conn.set_alias("docs", "docs_v1")
    return old


def test_reindex_under_load_promote_and_rollback(conn):
    old = _live(conn)
    v2 = next_version(conn, "docs")
    assert v2 == "docs_v2"
    new = HybridRetriever(connector=conn, collection=v2, dense=ProjectedDense(),
                          sparse=BM25Encoder(), k=5)
    reader = VersionedRetriever(connector=conn, alias="docs", versions={"docs_v1": old, v2: new})
    queries = _queries()
    want_old = {q: _ids(old.invoke(q)) for q in queries}
    answers: list[tuple[str, tuple[str, ...]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        i = 0
        while not stop.is_set():
            q = queries[i % len(queries)]
            i += 1
            try:
                answers.append((q, _ids(reader.invoke(q))))
            except Exception as e:  # noqa: BLE001 - counted, then asserted empty
                errors.append(e)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        report = reindex(conn, "docs", new, page_size=32, batch_size=16)
        assert report.documents == 150 and report.source == "docs_v1"
        during = len(answers)
        want_new = {q: _ids(new.invoke(q)) for q in queries}
        assert want_new != want_old  # another model: other answers, so the check below bites
        moved = promote(conn, "docs", v2, gate=QualityGate(old, new, queries, min_overlap=0.0))
        assert (moved.previous, moved.current) == ("docs_v1", v2) and moved.gate.queries == 8
        n = len(answers)
        while len(answers) < n + 2 * len(queries):
            pass
        back = rollback(conn, "docs")
        assert back.current == "docs_v1" and conn.resolve_alias("docs") == "docs_v1"
        n = len(answers)
        while len(answers) < n + len(queries):
            pass
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:3]
    assert during > 0 and all(a for _, a in answers)  # no empty answer, reads during reindex
    assert all(a in (want_old[q], want_new[q]) for q, a in answers)  # wholly one version
    assert any(a == want_new[q] != want_old[q] for q, a in answers)  # the new one was served
    assert all(a == want_old[q] for q, a in answers[-len(queries):])  # rolled back
    assert [_ids(reader.invoke(q)) for q in queries] == [want_old[q] for q in queries]


def test_gate_refuses_a_worse_version_unless_forced(conn):
    old = _live(conn)
    new = HybridRetriever(connector=conn, collection="docs_v2", dense=ProjectedDense(), k=5)
    reindex(conn, "docs", new)
    queries = {f"q{i}": q for i, q in enumerate(_queries())}
    # judgements that the old version answers perfectly: the new one can only lose
    qrels = {qid: {d: 1 for d in _ids(old.invoke(q))} for qid, q in queries.items()}
    gate = QualityGate(old, new, queries, qrels=qrels, max_drop=0.01)
    with pytest.raises(InvalidInputError, match="refused by the quality gate"):
        promote(conn, "docs", "docs_v2", gate=gate)
    assert conn.resolve_alias("docs") == "docs_v1"  # nothing moved
    moved = promote(conn, "docs", "docs_v2", gate=gate, force=True)
    assert moved.gate.old == pytest.approx(1.0) and moved.gate.new < 0.99
    assert conn.resolve_alias("docs") == "docs_v2"
    # a retriever with the old encoders, through the alias, is refused, not silently wrong
    stale = HybridRetriever(connector=conn, collection="docs", dense=BagDense(), k=5)
    with pytest.raises(InvalidInputError, match="encoder matches the collection"):
        stale.invoke("w1 w2")


def test_reindex_refusals_and_version_housekeeping(conn):
    old = _live(conn)
    with pytest.raises(InvalidInputError, match="live version"):
        reindex(conn, "docs", HybridRetriever(connector=conn, collection="docs_v1",
                                               dense=BagDense()))
    for n in (2, 3):
        v = next_version(conn, "docs")
        assert v == f"docs_v{n}"
        reindex(conn, "docs", HybridRetriever(connector=conn, collection=v, dense=BagDense()),
                texts=[("x", "w1 w2 w3", {"n": 0}), ("y", "w4 w5", None)])
        promote(conn, "docs", v)
    assert conn.count("docs") == 2 and conn.resolve_alias("docs") == "docs_v3"
    assert rollback(conn, "docs").current == "docs_v2"
    promote(conn, "docs", "docs_v3")
    assert drop_old_versions(conn, "docs", keep=1) == ["docs_v1"]
    assert not conn.has_collection("docs_v1") and conn.has_collection("docs_v2")
    moved = promote(conn, "docs", "docs_v2", drop_old=True)
    assert moved.dropped == "docs_v3" and not conn.has_collection("docs_v3")
    with pytest.raises(InvalidInputError, match="earlier version"):
        rollback(conn, "docs")
    assert old.k == 5


def test_vector_store_reads_and_writes_through_an_alias(conn):
    from vectorbridge.retrievers import VectorBridgeStore

    ids, texts, metas = _corpus(40)
    VectorBridgeStore(connector=conn, collection="s_v1", embedding=BagDense()).add_texts(
        texts, metas, ids=ids)
    conn.set_alias("s", "s_v1")
    store = VectorBridgeStore(connector=conn, collection="s", embedding=BagDense())
    assert [d.id for d in store.similarity_search(texts[3], k=1)] == ["d3"]
    store.add_texts(["w7 w8"], ids=["through-alias"])
    assert conn.get("s_v1", ["through-alias"]) and conn.count("s") == 41
    assert [d.id for d in store.max_marginal_relevance_search(texts[5], k=2)][0] == "d5"


def test_quality_gate_arithmetic_and_refusals(tmp_path):
    from types import SimpleNamespace

    class Fixed:
        def __init__(self, answers):
            self.answers = answers

        def invoke(self, q, k):
            return [SimpleNamespace(id=i) for i in self.answers[q][:k]]

    old = Fixed({"a": ["d1", "d2"], "b": ["d3"]})
    same = QualityGate(old, old, ["a", "b"]).evaluate()  # short answers, identical: overlap 1
    assert same.overlap == 1.0 and same.passed
    new = Fixed({"a": ["d2", "d9"], "b": []})
    r = QualityGate(old, new, {1: "a", 2: "b"}, qrels={1: {"d1": 1}, 2: {"d3": 2}}).evaluate()
    assert r.metric == "nDCG@10" and r.old == 1.0 and r.new == 0.0 and not r.passed
    assert r.overlap == pytest.approx((0.5 + 0.0) / 2)
    for bad in (dict(k=0), dict(max_drop=-1), dict(min_overlap=2)):
        with pytest.raises(InvalidInputError):
            QualityGate(old, new, ["a"], **bad)
    with pytest.raises(InvalidInputError, match="no query of the gate has judgements"):
        QualityGate(old, new, {"x": "a"}, qrels={"y": {"d1": 1}})
    (tmp_path / "qrels").mkdir()
    (tmp_path / "queries.jsonl").write_text('{"_id": "1", "text": "a"}\n{"_id": "3", "text": "b"}\n')
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n")
    beir = QualityGate(old, old, tmp_path, split="test")
    assert beir.queries == {"1": "a"} and beir.evaluate().new == 1.0
