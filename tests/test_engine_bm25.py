"""BM25 whose statistics follow the collection: the engine's BM25 over raw text
(``SparseField(bm25="engine")``: Milvus' BM25 function, Qdrant's BM25 model) and the engine's
IDF over client term counts (``SparseField(idf=True)``: Qdrant ``Modifier.IDF``).

The property pinned here is incremental correctness: ingest half a corpus, query, ingest the
rest — the rankings then equal a fresh build of the whole corpus. IDF fitted by the client on
the first half does not (it is frozen at ``fit``), which is why the engine paths are the default
where an engine has them.
"""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.connectors import CollectionSpec
from vectorbridge.connectors.spec import SparseField
from vectorbridge.encoders import BM25Encoder
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError
from vectorbridge.retrievers import HybridRetriever
from vectorbridge.retrievers.feedback import PseudoRelevanceFeedback as PRF
from tests.backends import unique_name
from tests.corpus import unless_refused

# "vitamin" is common in the first half and absent from the second, "scurvy" the reverse: IDF
# fitted on the first half ranks the two terms the other way round from the whole corpus.
FIRST = ["vitamin c and vitamin d in food", "vitamin intake in adults", "vitamin tablets daily",
         "vitamin levels in blood", "vitamin deficiency signs", "scurvy in sailors at sea"]
SECOND = ["scurvy and bleeding gums", "scurvy outbreak on a ship", "the history of scurvy",
          "scurvy in children", "scurvy treatment with fruit", "bone fractures in the elderly"]
ALL = FIRST + SECOND
QUERIES = ["vitamin scurvy", "scurvy in adults", "vitamin deficiency in sailors"]


def _ids(texts: list[str], offset: int = 0) -> list[str]:
    return [f"d{offset + i}" for i in range(len(texts))]


def _fill(conn, name: str, field: SparseField, texts: list[str], offset: int, enc) -> None:
    values = texts if field.from_text else enc.encode_documents(texts)
    conn.upsert(name, _ids(texts, offset), {"bm25": values}, [{"text": t} for t in texts])


def _ranking(conn, name: str, field: SparseField, enc) -> list[list[tuple[str, float]]]:
    out = []
    for q in QUERIES:
        query = q if field.from_text else enc.encode_queries([q])[0]
        out.append([(h.id, h.score) for h in conn.search(name, "bm25", query, k=len(ALL))])
    return out


def _assert_same(got, want) -> None:
    for g, w in zip(got, want):
        assert [i for i, _ in g] == [i for i, _ in w]
        np.testing.assert_allclose([s for _, s in g], [s for _, s in w], rtol=1e-4)


@pytest.mark.parametrize("field", [SparseField(bm25="engine"), SparseField(idf=True)],
                         ids=["engine-bm25", "engine-idf"])
def test_engine_statistics_follow_the_collection(conn, field):
    """Two writes with ``optimize`` (a flush: a new segment) between them rank as one write of
    everything, and keep doing so after deletes — where the engine's statistics span the
    collection. Milvus Lite keeps them per segment: the grown collection ranks each half by
    its own IDF (pinned, so a Lite that fixes it shows up here)."""
    enc = BM25Encoder()  # idf="engine": term counts, IDF from the engine
    grown, fresh = unique_name("grow"), unique_name("fresh")
    spec = CollectionSpec(name=grown, sparse={"bm25": field}, text_key="text")
    unless_refused(conn, lambda: conn.create_collection(spec), sparse={"bm25": field})
    _fill(conn, grown, field, FIRST, 0, enc)
    conn.optimize(grown)
    assert {i for i, _ in _ranking(conn, grown, field, enc)[0]} <= set(_ids(FIRST))
    _fill(conn, grown, field, SECOND, len(FIRST), enc)
    conn.create_collection(spec.renamed(fresh))
    _fill(conn, fresh, field, ALL, 0, enc)
    for name in (grown, fresh):
        conn.optimize(name)
    got, want = _ranking(conn, grown, field, enc), _ranking(conn, fresh, field, enc)
    if field.from_text and not conn.capabilities.bm25_global_stats:
        assert [i for i, _ in got[0]] != [i for i, _ in want[0]]
        assert got[0][0][0] == "d5"  # "scurvy" is rare in the first segment only
        return
    _assert_same(got, want)
    # deletes move the statistics too
    conn.delete(grown, ids=_ids(SECOND, len(FIRST)))
    conn.delete(fresh, ids=_ids(SECOND, len(FIRST)))
    _assert_same(_ranking(conn, grown, field, enc), _ranking(conn, fresh, field, enc))


def test_client_idf_fitted_on_the_first_half_goes_stale():
    """The reason for the engine paths: client IDF is frozen at ``fit``."""
    stale = BM25Encoder(idf="client").fit(FIRST)
    whole = BM25Encoder(idf="client").fit(ALL)
    docs = whole.encode_documents(ALL)  # document vectors do not depend on IDF

    def ranking(enc):
        q = enc.encode_queries(["vitamin scurvy"])[0]
        scores = [sum(q.to_dict().get(int(i), 0.0) * w for i, w in zip(d.indices, d.values))
                  for d in docs]
        return [ALL[i] for i in np.argsort(scores, kind="stable")[::-1][:3]]

    # IDF from the first half prefers "scurvy" (rare there); the whole corpus, "vitamin"
    assert "scurvy" in ranking(stale)[0] and "vitamin" in ranking(whole)[0]


def test_retriever_grows_with_current_statistics_on_every_engine(conn):
    """``add_texts`` after ``from_texts`` ranks as one ``from_texts`` of everything: where the
    engine keeps collection-wide statistics (Qdrant's IDF, Milvus servers' BM25) by itself,
    elsewhere because the client IDF the retriever fitted on its first chunk adds every later
    chunk (``BM25Encoder.follows_writes``); frozen at the first half it ranked otherwise."""
    fields = {"sparse": ["sparse"]}
    grown = unless_refused(conn, lambda: HybridRetriever.from_texts(
        FIRST, ids=_ids(FIRST), connector=conn, collection=unique_name("rg"),
        sparse=BM25Encoder(), k=len(ALL)), **fields)
    grown.add_texts(SECOND, ids=_ids(SECOND, len(FIRST)))
    fresh = HybridRetriever.from_texts(ALL, ids=_ids(ALL), connector=conn,
                                       collection=unique_name("rf"), sparse=BM25Encoder(),
                                       k=len(ALL))
    conn.optimize(grown.collection)
    got = [[d.id for d in grown.invoke(q)] for q in QUERIES]
    want = [[d.id for d in fresh.invoke(q)] for q in QUERIES]
    caps = conn.capabilities
    if caps.engine_idf or (caps.engine_bm25 and caps.bm25_global_stats):
        assert got == want
    else:  # the same IDF; documents of the first half keep its average length (measured on
        # SciFact: docs, Operations), which moves weak matches at this corpus's tail only
        assert [g[:3] for g in got] == [w[:3] for w in want]
        assert grown.sparse.idf == "client" and grown.sparse.follows_writes
        assert grown.sparse.n_docs == fresh.sparse.n_docs == len(ALL)
        frozen = BM25Encoder(idf="client").fit(FIRST)  # what add_texts used to leave
        stale = HybridRetriever(connector=conn, collection=grown.collection, sparse=frozen,
                                k=len(ALL))
        assert [[d.id for d in stale.invoke(q)][:3] for q in QUERIES] != [w[:3] for w in want]


def test_engine_bm25_texts_are_checked_before_anything_is_written(conn):
    name = unique_name("bmv")
    spec = CollectionSpec(name=name, sparse={"bm25": SparseField(bm25="engine")})
    unless_refused(conn, lambda: conn.create_collection(spec), sparse={"bm25": SparseField(bm25="engine")})
    vec = BM25Encoder().encode_documents(["a sparse vector"])
    with pytest.raises(InvalidInputError, match="must be a str"):
        conn.upsert(name, ["a"], {"bm25": vec}, [{}])
    with pytest.raises(InvalidInputError, match="65535"):
        conn.upsert(name, ["a", "b"], {"bm25": ["short", "x" * 70_000]}, [{}, {}])
    with pytest.raises(InvalidInputError, match="must be a str"):
        conn.search(name, "bm25", vec[0], k=1)
    assert conn.count(name) == 0


def test_field_options_are_checked():
    with pytest.raises(InvalidInputError, match="includes the engine's IDF"):
        CollectionSpec(name="x", sparse={"s": SparseField(bm25="engine", idf=True)})
    with pytest.raises(InvalidInputError, match="bm25='client'"):
        CollectionSpec(name="x", sparse={"s": {"bm25": "client"}})
    spec = CollectionSpec(name="x", sparse={"s": SparseField(bm25="engine")})
    assert CollectionSpec.from_json(spec.to_json()).sparse["s"].from_text


def test_retriever_over_an_engine_bm25_field(conn):
    """A retriever queries an engine-BM25 field with the text itself (whatever its encoder)
    and refuses RM3 feedback, which needs client term weights; built with ``prf=``, a
    retriever stores those instead."""
    field = SparseField(bm25="engine")
    name = unique_name("rt")
    spec = CollectionSpec(name=name, dense={"dense": 2}, sparse={"sparse": field}, text_key="text")
    unless_refused(conn, lambda: conn.create_collection(spec), dense={"dense": 2},
                   sparse={"sparse": field})
    dense = np.array([[1.0, 0.0] if "vitamin" in t else [0.0, 1.0] for t in ALL], np.float32)
    conn.upsert(name, _ids(ALL), {"dense": dense, "sparse": ALL}, [{"text": t} for t in ALL])
    conn.optimize(name)
    r = HybridRetriever(connector=conn, collection=name, sparse=BM25Encoder(), k=3)
    want = conn.search(name, "sparse", "scurvy in children", k=3)
    assert [d.id for d in r.invoke("scurvy in children")] == [h.id for h in want]
    assert want[0].id == "d9"
    prf = PRF(dense_docs=0, sparse_docs=2, sparse_terms=3)
    with pytest.raises(UnsupportedFeatureError, match="sparse_docs=0"):
        r.model_copy(update={"prf": prf}).invoke("vitamin")
    if conn.capabilities.engine_idf:
        return  # Qdrant's defaults are client term counts anyway
    with_prf = HybridRetriever.from_texts(ALL, ids=_ids(ALL), connector=conn,
                                          collection=unique_name("rp"), sparse=BM25Encoder(),
                                          prf=prf)
    assert not conn.spec(with_prf.collection).sparse["sparse"].from_text
    assert with_prf.invoke("vitamin")


def test_qdrant_engine_bm25_is_qdrants_own_model(conn):
    """On Qdrant engines an engine-BM25 field holds exactly ``qdrant_edge.Bm25()``'s document
    vectors (the default config, which mirrors the server's ``qdrant/bm25``) and is searched
    with its query vectors: a raw Qdrant query built with that model gets the same answer, so
    other Qdrant clients that use the model can read and query the collection."""
    if not conn.engine.startswith("qdrant"):
        pytest.skip(f"{conn.engine}: the BM25 model is Qdrant's")
    import qdrant_edge
    from qdrant_client import models

    from vectorbridge.connectors.qdrant.convert import point_id

    model = qdrant_edge.Bm25()
    name = unique_name("bmq")
    conn.create_collection(CollectionSpec(name=name, sparse={"bm25": SparseField(bm25="engine")}))
    conn.upsert(name, _ids(ALL), {"bm25": ALL})
    for rec, text in zip(conn.get(name, _ids(ALL), with_vectors=True), ALL):
        want = model.embed_document(text)
        stored = dict(zip(rec.vectors["bm25"].indices.tolist(), rec.vectors["bm25"].values.tolist()))
        assert stored == pytest.approx(dict(zip(want.indices, want.values)))
    q = model.embed_query("scurvy in children")
    raw = conn.client.query_points(name, query=models.SparseVector(indices=list(q.indices),
                                                                     values=list(q.values)),
                                   using="bm25", limit=len(ALL), with_payload=True)
    by_point = {point_id(i): i for i in _ids(ALL)}
    want = sorted(((by_point[str(p.id)], p.score) for p in raw.points),
                  key=lambda t: (-t[1], t[0]))[:5]  # vectorbridge's order: equal scores by id
    got = conn.search(name, "bm25", "scurvy in children", k=5)
    assert [h.id for h in got] == [i for i, _ in want]
    np.testing.assert_allclose([h.score for h in got], [s for _, s in want], rtol=1e-6)
