"""Pseudo-relevance feedback: Rocchio and RM3 arithmetic, and the retriever's feedback rounds
on every backend (which documents feed which branch, and what the final query becomes)."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from vectorbridge.connectors import QdrantConnector
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.encoders import BM25Encoder, SparseVector
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers import HybridRetriever
from vectorbridge.retrievers.feedback import PseudoRelevanceFeedback as PRF
from vectorbridge.retrievers.feedback import rm3, rocchio
from tests.corpus import unless_refused

TEXTS = [
    "scurvy is a vitamin deficiency disease",
    "vitamin tablets contain ascorbic acid",
    "citrus fruit holds ascorbic acid and vitamin",
    "the football match ended with a late goal",
    "stock market shares fell sharply today",
    "the orchestra played a quiet symphony",
    "rain and wind hit the northern coast",
    "a new bridge opened across the river",
]
IDS = [f"d{i}" for i in range(len(TEXTS))]


class TableEmbeddings(Embeddings):
    """Fixed unit vectors per text: the test knows every stored vector exactly."""

    def __init__(self, texts: list[str], queries: list[str], dim: int = 8, seed: int = 3) -> None:
        rng = np.random.default_rng(seed)
        vecs = rng.normal(size=(len(texts) + len(queries), dim))
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        self.table = dict(zip(texts + queries, vecs.astype(np.float32)))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text].tolist()


# -- the arithmetic --------------------------------------------------------------------------
def test_rocchio_moves_the_query_towards_the_feedback_mean_at_its_norm():
    q = np.array([2.0, 0.0, 0.0], np.float32)
    fb = np.array([[0, 1, 0], [0, 0, 1]], np.float32)
    out = rocchio(q, fb, alpha=1.0, beta=2.0)
    want = q + 2.0 * fb.mean(axis=0)
    np.testing.assert_allclose(out, want / np.linalg.norm(want) * 2.0, rtol=1e-6)
    assert np.linalg.norm(out) == pytest.approx(2.0)
    np.testing.assert_array_equal(rocchio(q, np.zeros((0, 3)), 1.0, 1.0), q)  # no feedback
    only_fb = rocchio(q, fb, alpha=0.0, beta=1.0)  # alpha 0: the feedback direction alone
    np.testing.assert_allclose(only_fb / np.linalg.norm(only_fb), [0, 2 ** -0.5, 2 ** -0.5], rtol=1e-6)


def _sv(pairs: dict[int, float]) -> SparseVector:
    ids = sorted(pairs)
    return SparseVector(np.array(ids), np.array([pairs[i] for i in ids], float))


def test_rm3_is_anserinis_mixture():
    q = _sv({1: 1.0, 2: 1.0})
    d1 = _sv({1: 2.0, 3: 2.0})          # P(w|D1): 1 -> .5, 3 -> .5
    d2 = _sv({3: 1.0, 4: 1.0, 5: 2.0})  # P(w|D2): 3 -> .25, 4 -> .25, 5 -> .5
    out = rm3(q, [d1, d2], scores=[3.0, 1.0], n_terms=2, original_weight=0.6)
    # relevance model: 1 -> 1.5, 3 -> 1.75, 4 -> .25, 5 -> .5; the 2 heaviest: 3 and 1
    rm = {3: 1.75 / 3.25, 1: 1.5 / 3.25}
    want = {1: 0.6 * 0.5 + 0.4 * rm[1], 2: 0.6 * 0.5, 3: 0.4 * rm[3]}
    assert out.indices.tolist() == sorted(want)
    np.testing.assert_allclose(out.values, [want[i] for i in sorted(want)])
    assert out.values.sum() == pytest.approx(1.0)
    # scores that are not probabilities of the query (negative, fused) weigh documents equally
    flat = rm3(q, [d1, d2], scores=[0.5, -1.0], n_terms=10, original_weight=0.0)
    assert dict(zip(flat.indices.tolist(), flat.values)) == pytest.approx(
        {1: 0.25, 3: 0.375, 4: 0.125, 5: 0.25})
    assert rm3(q, [], [], 5, 0.5) is q  # nothing to learn from


def test_bm25_term_counts_and_query_vector():
    enc = BM25Encoder(idf="client").fit(TEXTS)
    counts = enc.term_counts(["vitamin vitamin scurvy"])[0]
    assert sorted(counts.values.tolist()) == [1.0, 2.0]
    q = enc.encode_queries(["vitamin vitamin scurvy"])[0]
    np.testing.assert_allclose(q.values, counts.values * enc.idf_of(counts.indices))
    np.testing.assert_allclose(enc.query_vector(counts).values, q.values)
    assert BM25Encoder(idf="engine").query_vector(counts) is counts


@pytest.mark.parametrize("kwargs, match", [
    (dict(dense_docs=0, sparse_docs=0), "does nothing"),
    (dict(dense_docs=-1), "dense_docs"),
    (dict(sparse_docs=2.5), "sparse_docs"),
    (dict(alpha=0.0, beta=0.0), "alpha and beta"),
    (dict(beta=float("nan")), "alpha and beta"),
    (dict(original_weight=1.5), "original_weight"),
    (dict(interpolate="during"), "interpolate"),
    (dict(sparse_terms=0), "sparse_terms"),
])
def test_bad_feedback_settings_are_refused(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        PRF(**kwargs)


# -- the retriever on every backend ------------------------------------------------------------
def _build(conn, name, **kw):
    def make():
        return HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection=name,
                                          recreate=True, **kw)
    return unless_refused(conn, make, sparse=["sparse"]) if "sparse" in kw else make()


class _Spy:
    """Records the connector's search calls (and passes them through)."""

    def __init__(self, conn, monkeypatch):
        self.calls: list[tuple[str, object, object]] = []
        for method in ("search", "hybrid_search"):
            real = getattr(conn, method)

            def spy(*a, _real=real, _m=method, **k):
                hits = _real(*a, **k)
                self.calls.append((_m, a[2] if _m == "search" else dict(a[1]), hits))
                return hits
            monkeypatch.setattr(conn, method, spy)


def test_rm3_expansion_finds_documents_the_query_words_miss(conn):
    bm25 = BM25Encoder()  # built with prf=: client-made term weights, which RM3 rewrites
    expanded = _build(conn, "prf_rm3", sparse=bm25, k=5,
                      prf=PRF(dense_docs=0, sparse_docs=1, sparse_terms=5))
    plain = expanded.model_copy(update={"prf": None})
    assert [d.id for d in plain.invoke("scurvy")] == ["d0"]  # only d0 says "scurvy"
    got = [d.id for d in expanded.invoke("scurvy")]
    assert got[0] == "d0" and {"d1", "d2"} <= set(got)  # reached through "vitamin"
    assert not {"d3", "d4", "d5", "d6", "d7"} & set(got)


def test_dense_feedback_query_is_rocchio_of_the_top_documents(conn, monkeypatch):
    query = "what causes scurvy"
    emb = TableEmbeddings(TEXTS, [query])
    r = _build(conn, "prf_dense", dense=emb, k=4,
               prf=PRF(dense_docs=2, alpha=1.0, beta=0.8, sparse_docs=0))
    spy = _Spy(conn, monkeypatch)
    got = r.invoke(query)
    (m1, q1, fb_hits), (m2, q2, final) = spy.calls  # one feedback round, one final search
    assert m1 == m2 == "search"
    np.testing.assert_allclose(q1, emb.table[query], rtol=1e-6)
    top2 = [emb.table[TEXTS[IDS.index(h.id)]] for h in fb_hits[:2]]
    np.testing.assert_allclose(q2, rocchio(emb.table[query], np.array(top2), 1.0, 0.8), rtol=1e-5)
    assert [d.id for d in got] == [h.id for h in final]
    D = np.array([emb.table[t] for t in TEXTS])
    cos = D @ q2 / np.linalg.norm(q2)
    assert [d.id for d in got] == [IDS[i] for i in np.argsort(-cos)[:4]]


@pytest.mark.parametrize("placement", ["after", "before"])
def test_feedback_comes_from_each_branch_or_from_the_fused_ranking(conn, monkeypatch, placement):
    query = "scurvy vitamin"
    emb = TableEmbeddings(TEXTS, [query])
    prf = PRF(dense_docs=2, sparse_docs=3, sparse_terms=4, interpolate=placement)
    r = _build(conn, f"prf_{placement}", dense=emb, sparse=BM25Encoder(), k=4, prf=prf)
    spy = _Spy(conn, monkeypatch)
    got = r.invoke(query)
    *rounds, (last, final_q, final) = spy.calls
    assert last == "hybrid_search" and [d.id for d in got] == [h.id for h in final]
    if placement == "after":  # one plain search per branch, each feeding itself
        assert [(m, type(q)) for m, q, _ in rounds] == [("search", np.ndarray), ("search", SparseVector)]
        dense_fb, sparse_fb = rounds[0][2][:2], rounds[1][2][:3]
    else:  # one fused round feeds both
        assert [m for m, _, _ in rounds] == ["hybrid_search"]
        dense_fb, sparse_fb = rounds[0][2][:2], rounds[0][2][:3]
    want_dense = rocchio(emb.table[query], np.array([emb.table[TEXTS[IDS.index(h.id)]]
                                                     for h in dense_fb]), prf.alpha, prf.beta)
    np.testing.assert_allclose(final_q["dense"], want_dense, rtol=1e-5)
    enc = r.sparse
    want_sparse = enc.query_vector(rm3(enc.term_counts([query])[0],
                                       enc.term_counts([TEXTS[IDS.index(h.id)] for h in sparse_fb]),
                                       [h.score for h in sparse_fb], 4, prf.original_weight))
    assert final_q["sparse"].indices.tolist() == want_sparse.indices.tolist()
    np.testing.assert_allclose(final_q["sparse"].values, want_sparse.values, rtol=1e-5)
    assert len(final_q["sparse"].indices) > len(enc.term_counts([query])[0].indices)


async def test_async_feedback_equals_sync(conn):
    query = "scurvy vitamin"
    emb = TableEmbeddings(TEXTS, [query])
    for placement in ("after", "before"):
        r = _build(conn, "prf_async", dense=emb, sparse=BM25Encoder(), k=5,
                   prf=PRF(dense_docs=2, sparse_docs=2, interpolate=placement),
                   fusion="rrf", rrf_k=Fusion().k)
        sync = [(d.id, d.metadata["score"]) for d in r.invoke(query)]
        got = [(d.id, d.metadata["score"]) for d in await r.ainvoke(query)]
        assert [i for i, _ in got] == [i for i, _ in sync]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in sync], rtol=1e-5)


def test_feedback_needs_the_branch_it_feeds():
    conn = QdrantConnector(location=":memory:")
    emb = TableEmbeddings(TEXTS, [])
    # pydantic wraps the InvalidInputError in its ValidationError (a ValueError)
    with pytest.raises(ValueError, match="give dense="):
        HybridRetriever(connector=conn, collection="x", sparse=BM25Encoder(), prf=PRF())
    with pytest.raises(ValueError, match="BM25Encoder"):
        HybridRetriever(connector=conn, collection="x", dense=emb, prf=PRF())
    with pytest.raises(ValueError, match="PseudoRelevanceFeedback"):
        HybridRetriever(connector=conn, collection="x", dense=emb, prf={"dense_docs": 3})
