"""BM25Encoder against bm25s (the reference implementation) with the same tokenisation,
client-side and with the engine applying IDF."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer

from vectorbridge.beir import load_beir
from vectorbridge.connectors import CollectionSpec, MilvusConnector, QdrantConnector, SparseField
from vectorbridge.encoders import BM25Encoder
from vectorbridge.encoders.bm25 import term_id
from vectorbridge.errors import InvalidInputError

SAMPLE = Path(__file__).resolve().parents[1] / "vectorbridge" / "data" / "sample.jsonl"
SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"
K1, B = 1.2, 0.75


def _sample():
    rows = [json.loads(x) for x in SAMPLE.read_text().splitlines()]
    texts = [f"{r['title']} {r['text']}" for r in rows]
    queries = ["how do stars make energy", "gene editing with CRISPR", "bread fermentation yeast",
               "ranking documents by term frequency", "why does exercise help the heart",
               "earthquakes and mountains", "Roman empire collapse invasions"]
    return [r["id"] for r in rows], texts, queries


def _scifact(n_docs=300, n_queries=60):
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"SciFact not found at {SCIFACT} (../shared beside the checkout)")
    ds = load_beir(SCIFACT, max_docs=n_docs)
    qids = sorted(ds.queries)[:n_queries]
    return ds.doc_ids, [ds.doc_text(i) for i in range(len(ds.doc_ids))], [ds.queries[q] for q in qids]


@pytest.fixture(params=["sample", "scifact"])
def corpus(request):
    return _sample() if request.param == "sample" else _scifact()


TRICKY = ["", "   ", "The THE the", "a1 b2 x", "naïve café Ünïcode — ça-va?", "C++ and C# vs. R",
          "re-ranking, re-rank; reranked!", "running runs ran RUNNER", "123 4567 co2 H2O"]


@pytest.mark.parametrize("language, stopwords", [("english", "en"), (None, "en"), ("english", None),
                                                 ("english", ["running", "cat"]),
                                                 ("german", "german")])
def test_tokenize_equals_bm25s(corpus, language, stopwords):
    """The encoder's own tokenizer (no per-call tqdm) gives exactly bm25s' tokens, and the
    stem memo does not change a second pass."""
    _, texts, queries = corpus
    texts = texts + queries + TRICKY
    stemmer = Stemmer.Stemmer(language) if language else None
    ref = bm25s.tokenize(texts, stopwords=stopwords or [], stemmer=stemmer, return_ids=False,
                         show_progress=False)
    enc = BM25Encoder(language=language, stopwords=stopwords)
    assert enc.tokenize(texts) == ref
    assert [enc.tokenize([t])[0] for t in reversed(texts)] == ref[::-1]


@pytest.mark.parametrize("idf", ["engine", "client"])
def test_unchecked_vectors_hold_the_invariants(corpus, idf):
    """BM25 output skips SparseVector's checks; each vector must pass them anyway (sorted
    unique in-range ids, finite weights >= 0) and equal its validated copy."""
    from vectorbridge.encoders import SparseVector

    _, texts, queries = corpus
    enc = BM25Encoder(idf=idf).fit(texts)
    for v in enc.encode_documents(texts + TRICKY) + enc.encode_queries(queries + TRICKY):
        assert v.indices.dtype == np.uint32 and v.values.dtype == np.float32
        assert SparseVector(v.indices.astype(np.int64)[::-1], v.values[::-1]) == v


def test_unknown_stopword_list_is_refused():
    with pytest.raises(InvalidInputError, match="stopwords='klingon'"):
        BM25Encoder(stopwords="klingon")


def bm25s_scores(texts, queries):
    stemmer = Stemmer.Stemmer("english")
    ref = bm25s.BM25(k1=K1, b=B, method="lucene")
    ref.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
              show_progress=False)
    qtoks = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, return_ids=False,
                           show_progress=False)
    return np.array([ref.get_scores(q) for q in qtoks])


def test_client_idf_scores_equal_bm25s(corpus):
    ids, texts, queries = corpus
    enc = BM25Encoder(k1=K1, b=B, idf="client").fit(texts)
    D, Q = enc.encode_documents(texts), enc.encode_queries(queries)
    ours = np.array([[q.dot(d) for d in D] for q in Q])
    ref = bm25s_scores(texts, queries)
    # Document vectors carry the (k1 + 1) factor bm25s' lucene variant drops: same ranking.
    np.testing.assert_allclose(ours, ref * (K1 + 1), rtol=1e-4, atol=1e-5)
    for o, r in zip(ours, ref):
        assert np.argsort(-o, kind="stable")[:10].tolist() == np.argsort(-r, kind="stable")[:10].tolist()


def _top(scores, ids, k=10):
    order = np.argsort(-scores, kind="stable")
    return [(ids[i], float(scores[i])) for i in order[:k] if scores[i] > 0]


@pytest.mark.parametrize("engine", ["qdrant-idf-modifier", "milvus-client-idf"])
def test_engine_ranking_equals_bm25s(corpus, engine, tmp_path):
    ids, texts, queries = corpus
    if engine == "qdrant-idf-modifier":
        conn = QdrantConnector(location=":memory:")
        enc = BM25Encoder(k1=K1, b=B, idf="engine").fit(texts)
        field = SparseField(idf=True)
    else:
        conn = MilvusConnector(uri=str(tmp_path / "bm25.db"))
        enc = BM25Encoder(k1=K1, b=B, idf="client").fit(texts)
        field = SparseField(idf=False)
    conn.create_collection(CollectionSpec(name="bm25", sparse={"bm25": field}))
    conn.upsert("bm25", ids, {"bm25": enc.encode_documents(texts)})
    ref = bm25s_scores(texts, queries) * (K1 + 1)
    for q, qv in zip(ref, enc.encode_queries(queries)):
        expected = _top(q, ids)
        hits = conn.search("bm25", "bm25", qv, k=10)
        np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], rtol=1e-4)
        # ids may swap only where bm25s itself has a tie
        for h, (eid, es) in zip(hits, expected):
            assert h.id == eid or abs(q[ids.index(h.id)] - es) < 1e-4
    conn.close()


def test_term_ids_are_stable_and_corpus_independent():
    # Pinned values: changing the hash would silently break every stored BM25 vector.
    assert term_id("protein") == 3367873639
    assert term_id("cat") == 2349752873
    a = BM25Encoder().fit(["proteins fold"]).encode_queries(["protein"])[0]
    b = BM25Encoder().fit(["completely different corpus about cats"]).encode_queries(["protein"])[0]
    assert a.indices.tolist() == b.indices.tolist() == [term_id("protein")]


def test_engine_mode_queries_carry_counts_and_client_mode_idf():
    enc = BM25Encoder(idf="engine").fit(["cat dog", "cat", "bird"])
    q = enc.encode_queries(["cat cat bird"])[0]
    assert sorted(q.values.tolist()) == [1.0, 2.0]
    client = BM25Encoder(idf="client").fit(["cat dog", "cat", "bird"])
    w = dict(zip(client.encode_queries(["cat bird"])[0].indices.tolist(),
                 client.encode_queries(["cat bird"])[0].values.tolist()))
    idf_cat, idf_bird = np.log1p((3 - 2 + 0.5) / 2.5), np.log1p((3 - 1 + 0.5) / 1.5)
    assert w[term_id("cat")] == pytest.approx(idf_cat, rel=1e-6)
    assert w[term_id("bird")] == pytest.approx(idf_bird, rel=1e-6)


def test_saturation_and_length_normalisation():
    enc = BM25Encoder(k1=1.2, b=0.75, avg_doc_len=4.0)
    short, long_ = enc.encode_documents(["cat", "cat dog bird fish mouse horse goat"])
    many = enc.encode_documents(["cat cat cat cat cat cat cat cat"])[0]
    assert short.values[0] > long_.values[list(long_.indices).index(term_id("cat"))]
    assert many.values[0] < 1.2 + 1  # saturates below k1 + 1


def test_unfitted_encoder_fits_on_first_batch_and_save_load(tmp_path):
    enc = BM25Encoder(idf="client")
    with pytest.raises(InvalidInputError, match="fit"):
        enc.encode_queries(["cat"])
    docs = enc.encode_documents(["the cat sat", "a dog ran far away"])
    assert enc.n_docs == 2 and enc.avg_doc_len == pytest.approx(3.0)  # "the" and "a" are stopwords
    enc.save(tmp_path / "bm25.json")
    again = BM25Encoder.load(tmp_path / "bm25.json")
    assert again.encode_documents(["the cat sat"])[0] == docs[0]
    assert again.encode_queries(["cat dog"])[0] == enc.encode_queries(["cat dog"])[0]
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(InvalidInputError, match="not a"):
        BM25Encoder.load(tmp_path / "bad.json")
    with pytest.raises(InvalidInputError, match="idf="):
        BM25Encoder(idf="server")  # type: ignore[arg-type]
