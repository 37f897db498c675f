"""Grouped search on a chunked corpus: ``k`` distinct documents, each with its best chunks,
equal to a brute-force reference on every backend, with the filter applied in the engine."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from vectorbridge.connectors import CollectionSpec, F
from vectorbridge.connectors.grouping import group_hits, grouped
from vectorbridge.connectors.results import Hit
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers import HybridRetriever
from tests.backends import unique_name
from tests.corpus import assert_hits, ref_topk, require

DIM, N_DOCS = 8, 12


def _chunks() -> dict:
    """Documents of 1 to 6 chunks; a chunk's vector is its document's plus noise, so chunks
    of one document crowd the plain top k."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(N_DOCS, DIM))
    ids, docs, vecs, payloads = [], [], [], []
    for d in range(N_DOCS):
        for c in range(1 + d % 6):
            ids.append(f"doc{d}-chunk{c}")
            docs.append(f"doc{d}")
            vecs.append(centres[d] + 0.3 * rng.normal(size=DIM))
            payloads.append({"doc_id": f"doc{d}", "lang": "en" if c % 2 == 0 else "de",
                             "text": f"chunk {c} of document {d}"})
    X = np.asarray(vecs, np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return dict(ids=ids, docs=docs, dense=X, payloads=payloads)


def _reference(scores: np.ndarray, c: dict, k: int, size: int, allowed=None) -> list[tuple[str, float]]:
    ranked = ref_topk(scores, c["ids"], len(c["ids"]), allowed)
    hits = [Hit(id=i, score=s, payload={"doc_id": c["docs"][c["ids"].index(i)]}) for i, s in ranked]
    return [(h.id, h.score) for g in group_hits(hits, "doc_id", k, size) for h in g]


@pytest.fixture(params=[None, "doc_id"], ids=["paged", "group-key"])
def chunked(conn, request):
    """The chunked corpus; with ``group_key="doc_id"`` Milvus groups in the engine too."""
    c = _chunks()
    name = unique_name("grp")
    conn.create_collection(require(conn, CollectionSpec(name=name, dense={"dense": DIM},
                                                        text_key="text", group_key=request.param)))
    conn.upsert(name, c["ids"], {"dense": c["dense"]}, c["payloads"])
    return name, c


@pytest.mark.parametrize("k,size", [(3, 2), (5, 1), (4, 3)])
def test_group_by_equals_the_brute_force_reference(conn, chunked, k, size, monkeypatch):
    name, c = chunked
    native = conn.capabilities.native_grouping and (
        conn.spec(name).group_key or not conn.engine.startswith("milvus"))
    if native:  # one engine request: the paged search must not run
        monkeypatch.setattr(conn.backend, "op_search", lambda *a, **kw: pytest.fail("paged"))
    q = c["dense"][0] + 0.8 * c["dense"][7]  # no exact tie between two groups
    q /= np.linalg.norm(q)
    hits = conn.search(name, "dense", q, k=k, group_by="doc_id", group_size=size)
    assert_hits(hits, _reference(c["dense"] @ q, c, k, size))
    groups = list(dict.fromkeys(h.payload["doc_id"] for h in hits))
    assert len(groups) == k  # k distinct documents
    # the filter applies where candidates are chosen
    en = F("lang") == "en"
    got = conn.search(name, "dense", q, k=k, group_by="doc_id", group_size=size, filter=en)
    allowed = [p["lang"] == "en" for p in c["payloads"]]
    assert_hits(got, _reference(c["dense"] @ q, c, k, size, allowed))
    assert all(h.payload["lang"] == "en" for h in got)


def test_hybrid_search_groups_the_fused_ranking(conn, chunked):
    name, c = chunked
    q = c["dense"][3]
    fused = conn.hybrid_search(name, {"dense": q}, k=len(c["ids"]), prefetch_k=len(c["ids"]))
    want = [(h.id, h.score) for g in group_hits(fused, "doc_id", 4, 2) for h in g]
    got = conn.hybrid_search(name, {"dense": q}, k=4, group_by="doc_id", group_size=2)
    assert_hits(got, want)


def test_grouping_options_are_checked(conn, chunked):
    name, c = chunked
    if conn.spec(name).group_key:
        with pytest.raises(InvalidInputError, match="group_key"):
            conn.upsert(name, ["x"], {"dense": c["dense"][:1]}, [{"text": "no doc id"}])
    with pytest.raises(InvalidInputError, match="group_size"):
        conn.search(name, "dense", c["dense"][0], k=3, group_by="doc_id", group_size=0)
    with pytest.raises(InvalidInputError, match="group_by"):
        conn.search(name, "dense", c["dense"][0], k=3, group_by="")


def test_paging_stops_when_the_groups_are_full():
    """The fallback asks for k * size results first and doubles only while a group that made
    the top k may still have better points beyond what came back."""
    ranked = [Hit(id=f"{d}-{j}", score=100.0 - i, payload={"doc_id": d})
              for i, (d, j) in enumerate([("a", 0), ("a", 1), ("a", 2), ("b", 0), ("c", 0),
                                          ("b", 1), ("c", 1), ("d", 0)])]
    asked: list[int] = []

    def fetch(n):
        asked.append(n)
        return ranked[:n]
        yield  # pragma: no cover

    def drive(op):
        try:
            next(op)
        except StopIteration as stop:
            return stop.value

    got = drive(grouped(fetch, "doc_id", 2, 2))
    assert [h.id for h in got] == ["a-0", "a-1", "b-0", "b-1"] and asked == [4, 8]
    asked.clear()
    assert [h.id for h in drive(grouped(fetch, "doc_id", 1, 2))] == ["a-0", "a-1"] and asked == [2]


class _Table(Embeddings):
    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_documents(self, texts):
        return [self.table[t].tolist() for t in texts]

    def embed_query(self, text):
        return self.table[text].tolist()


def test_retriever_returns_k_documents_not_k_chunks(conn, chunked):
    name, c = chunked
    q = c["dense"][5]
    emb = _Table({"query": q})
    r = HybridRetriever(connector=conn, collection=name, dense=emb, k=3, group_by="doc_id",
                        group_size=2)
    docs = r.invoke("query")
    want = conn.search(name, "dense", q, k=3, group_by="doc_id", group_size=2)
    assert [d.id for d in docs] == [h.id for h in want]
    assert len({d.metadata["doc_id"] for d in docs}) == 3
    assert [d.id for d in r.invoke("query", filter=F("lang") == "de")] == [
        h.id for h in conn.search(name, "dense", q, k=3, group_by="doc_id", group_size=2,
                                  filter=F("lang") == "de")]


async def test_store_search_groups_too(conn, chunked):
    from vectorbridge.retrievers import VectorBridgeStore

    name, c = chunked
    q = c["dense"][9]
    store = VectorBridgeStore(conn, name, _Table({"query": q}))
    want = [h.id for h in conn.search(name, "dense", q, k=2, group_by="doc_id", group_size=3)]
    assert [d.id for d in store.similarity_search("query", k=2, group_by="doc_id",
                                                  group_size=3)] == want
    got = await store.asimilarity_search_with_score("query", k=2, group_by="doc_id", group_size=3)
    assert [d.id for d, _ in got] == want
