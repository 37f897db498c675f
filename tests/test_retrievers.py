"""The LangChain layer on real (packaged) models: HybridRetriever end to end on every backend,
the rerankers against the models' own scores, and the store's MMR / filters / errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from tests.backends import unique_name
from tests.corpus import TEXTS, assert_hits, unless_refused
from vectorbridge.connectors import CollectionSpec, DenseField, F, QdrantConnector
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.encoders import BM25Encoder, DenseEncoder, TokenEncoder, maxsim
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers import (
    RERANK_SCORE_KEY, SCORE_KEY, CrossEncoderReranker, HybridRetriever, MaxSimReranker,
    VectorBridgeStore,
)

IDS = ["1", "foo", "doc 3", "ünï", "5", "6", "7", "8", "9", "10"]
METAS = [{"n": i, "topic": "nutrition" if i in (0, 1, 6) else "other"} for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def dense(minilm):
    return DenseEncoder(minilm)


@pytest.fixture(scope="module")
def tokens(minilm):
    return TokenEncoder(minilm)


def test_hybrid_retriever_end_to_end(conn, dense):
    bm25 = BM25Encoder()
    r = unless_refused(conn, lambda: HybridRetriever.from_texts(
        TEXTS, ids=IDS, metadatas=METAS, connector=conn, collection=unique_name("hy"),
        dense=dense, sparse=bm25, k=3), dense={"dense": 8}, sparse=["sparse"])
    docs = r.invoke("what causes scurvy?")
    assert len(docs) == 3 and {d.id for d in docs[:2]} == {"1", "foo"}
    assert docs[0].page_content in TEXTS[:2]
    assert set(docs[0].metadata) == {"n", "topic", SCORE_KEY}  # no internal key leaks
    scores = [d.metadata[SCORE_KEY] for d in docs]
    assert scores == sorted(scores, reverse=True)
    assert [d.id for d in r.invoke("insulin and the pancreas", k=2)] in (["9", "doc 3"], ["doc 3", "9"])
    kept = r.invoke("what causes scurvy?", k=10, filter=F("topic") == "other")
    assert kept and all(d.metadata["topic"] == "other" for d in kept)
    # IDF follows the collection: the engine's IDF on the encoder's term counts (Qdrant), else
    # the engine's BM25 over the raw text (Milvus >= 2.5 servers), else IDF moved into the queries
    stored = conn.spec(r.collection).sparse["sparse"]
    if conn.capabilities.engine_idf:
        assert bm25.idf == "engine" and stored.idf and not stored.from_text
    elif conn.capabilities.engine_bm25 and conn.capabilities.bm25_global_stats:
        assert stored.from_text and bm25.idf == "engine" and bm25.n_docs == 0
    else:
        assert bm25.idf == "client" and bm25.n_docs == len(TEXTS)


async def test_hybrid_retriever_async_equals_sync(conn, dense):
    r = unless_refused(conn, lambda: HybridRetriever.from_texts(
        TEXTS, ids=IDS, connector=conn, collection=unique_name("ha"), dense=dense,
        sparse=BM25Encoder(), k=4, fusion="dbsf"), dense={"dense": 8}, sparse=["sparse"])
    for q in ("vitamin C in fruit", "antibiotics"):
        sync, asyn = r.invoke(q), await r.ainvoke(q)
        assert [d.id for d in asyn] == [d.id for d in sync]
        np.testing.assert_allclose([d.metadata[SCORE_KEY] for d in asyn],
                                   [d.metadata[SCORE_KEY] for d in sync], rtol=1e-5)


def test_hybrid_retriever_over_existing_collection_and_single_branches(conn, dense):
    name = unique_name("hx")
    bm25 = BM25Encoder(idf="client")
    unless_refused(conn, lambda: HybridRetriever.from_texts(
        TEXTS, ids=IDS, connector=conn, collection=name, dense=dense, sparse=bm25), dense={"dense": 8}, sparse=["sparse"])
    dense_only = HybridRetriever(connector=conn, collection=name, dense=dense, k=2)
    hits = conn.search(name, "dense", dense.encode_queries(["penicillin"])[0], k=2)
    assert [d.id for d in dense_only.invoke("penicillin")] == [h.id for h in hits]
    sparse_only = HybridRetriever(connector=conn, collection=name, sparse=bm25, k=2)
    assert sparse_only.invoke("penicillin")[0].id == "5"
    with pytest.raises(ValueError, match="at least one"):  # pydantic wraps it in ValidationError
        HybridRetriever(connector=conn, collection=name)


def test_multivector_maxsim_stage_equals_brute_force(conn, dense, tokens):
    r = unless_refused(conn, lambda: HybridRetriever.from_texts(
        TEXTS, ids=IDS, connector=conn, collection=unique_name("mv"), dense=dense,
        sparse=BM25Encoder(), multivector=tokens, k=4, rerank_k=len(TEXTS),
        prefetch_k=len(TEXTS), maxsim="replace"), dense={"dense": 8}, sparse=["sparse"])
    q = "mitochondria and energy"
    docs = r.invoke(q)
    qt = tokens.encode_queries([q])[0]
    ref = sorted(zip([maxsim(qt, t) for t in tokens.encode_documents(TEXTS)], IDS),
                 key=lambda t: -t[0])[:4]
    assert [d.id for d in docs] == [i for _, i in ref]
    np.testing.assert_allclose([d.metadata[SCORE_KEY] for d in docs], [s for s, _ in ref], rtol=1e-4)
    # default "fuse": MaxSim's ranking is a third branch next to dense and BM25, fused by the
    # engine's default fusion
    fused = HybridRetriever(connector=conn, collection=r.collection, dense=dense, sparse=r.sparse,
                            multivector=tokens, k=4, prefetch_k=len(TEXTS))
    engine_bm25 = conn.spec(r.collection).sparse["sparse"].from_text  # Milvus: text queries
    want = conn.hybrid_search(r.collection, {"dense": dense.encode_queries([q])[0], "sparse": q
                                             if engine_bm25 else r.sparse.encode_queries([q])[0]},
                              k=4, fusion=conn.default_fusion, prefetch_k=len(TEXTS),
                              rescore=("tokens", qt), rescore_mode="fuse")
    got = [SimpleNamespace(id=d.id, score=d.metadata[SCORE_KEY]) for d in fused.invoke(q)]
    assert_hits(got, [(h.id, h.score) for h in want])


# -- rerankers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory, minilm_path):
    """A 2-layer BERT cross-encoder with random weights, saved like any hub model."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-ce")
    tok = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, num_labels=1)
    BertForSequenceClassification(cfg).eval().save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def test_cross_encoder_reranker_follows_the_models_own_scores(tiny_cross_encoder):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    query = "what causes scurvy?"
    docs = [Document(id=i, page_content=t, metadata={SCORE_KEY: 1.0}) for i, t in zip(IDS, TEXTS)]
    out = CrossEncoderReranker(tiny_cross_encoder, top_n=4, batch_size=3).compress_documents(docs, query)
    tok = AutoTokenizer.from_pretrained(tiny_cross_encoder)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder).eval()
    with torch.no_grad():
        logits = model(**tok([query] * len(TEXTS), TEXTS, padding=True, truncation=True,
                             return_tensors="pt")).logits[:, 0].numpy()
    want = [IDS[i] for i in np.argsort(-logits, kind="stable")[:4]]
    assert [d.id for d in out] == want
    assert all(RERANK_SCORE_KEY in d.metadata and d.metadata[SCORE_KEY] == 1.0 for d in out)
    with pytest.raises(InvalidInputError, match="top_n"):
        CrossEncoderReranker(tiny_cross_encoder, top_n=0)


def test_maxsim_reranker_equals_per_document_maxsim(tokens):
    query = "insulin secretion"
    docs = [Document(id=i, page_content=t) for i, t in zip(IDS, TEXTS)]
    rr = MaxSimReranker(tokens, top_n=None, batch_size=3)  # batches cross document boundaries
    qt = tokens.encode_queries([query])[0]
    ref = np.array([maxsim(qt, m) for m in tokens.encode_documents(TEXTS)])
    np.testing.assert_allclose(rr.score(query, docs), ref, rtol=1e-5)
    out = rr.compress_documents(docs, query)
    assert [d.id for d in out] == [IDS[i] for i in np.argsort(-ref, kind="stable")]


def test_retriever_with_reranker_stage(conn, dense, tokens):
    r = unless_refused(conn, lambda: HybridRetriever.from_texts(
        TEXTS, ids=IDS, connector=conn, collection=unique_name("rr"), dense=dense,
        sparse=BM25Encoder(), k=3, rerank=MaxSimReranker(tokens), rerank_k=6), dense={"dense": 8}, sparse=["sparse"])
    docs = r.invoke("vitamin C")
    assert len(docs) == 3
    rs = [d.metadata[RERANK_SCORE_KEY] for d in docs]
    assert rs == sorted(rs, reverse=True) and all(SCORE_KEY in d.metadata for d in docs)


# -- the store beyond the standard suite ------------------------------------------------------

def test_store_mmr_has_langchains_meaning(conn, dense):
    texts = ["vitamin C prevents scurvy", "vitamin C prevents scurvy.", "Vitamin C prevents scurvy!",
             "insulin controls blood sugar", "exercise lowers blood pressure"]
    store = VectorBridgeStore(connector=conn, collection=unique_name("mmr"), embedding=dense)
    store.add_texts(texts, ids=["a", "b", "c", "d", "e"])
    plain = [d.id for d in store.similarity_search("vitamin C and scurvy", k=3)]
    relevant = store.max_marginal_relevance_search("vitamin C and scurvy", k=3, fetch_k=5,
                                                   lambda_mult=1.0)
    assert [d.id for d in relevant] == plain  # lambda_mult=1: pure relevance
    diverse = store.max_marginal_relevance_search("vitamin C and scurvy", k=3, fetch_k=5,
                                                  lambda_mult=0.0)
    assert len({d.id for d in diverse} & {"a", "b", "c"}) == 1  # near-duplicates pushed out


def test_store_filters_scores_and_errors(conn):
    emb = DeterministicFakeEmbedding(size=8)
    store = VectorBridgeStore(connector=conn, collection=unique_name("st"), embedding=emb)
    store.add_texts(TEXTS, metadatas=METAS, ids=IDS)
    got = store.similarity_search(TEXTS[0], k=10, filter=F("topic") == "nutrition")
    assert {d.id for d in got} == {"1", "foo", "7"}
    assert store.similarity_search(TEXTS[0], k=10, filter={"n": {"$gte": 8}})[0].id in ("9", "10")
    rel = store.similarity_search_with_relevance_scores(TEXTS[4], k=3)
    assert rel[0][0].id == "5" and all(0.0 <= s <= 1.0 for _, s in rel)
    n_before = conn.count(store.collection)
    with pytest.raises(InvalidInputError, match="page_content"):
        store.add_texts(["x", "y"], metadatas=[{}, {"page_content": "clash"}], ids=["x", "y"])
    with pytest.raises(InvalidInputError, match="2 metadatas for 1 texts"):
        store.add_texts(["x"], metadatas=[{}, {}])
    # None or empty texts are refused before the embedding model sees them.
    for bad, why in ((["x", None], "NoneType, not str"), (["x", " "], "empty")):
        with pytest.raises(InvalidInputError, match=why):
            store.add_texts(bad)
    with pytest.raises(InvalidInputError, match="empty"):
        HybridRetriever.from_texts(["x", ""], connector=conn, collection=unique_name("e"),
                                   dense=emb)
    assert conn.count(store.collection) == n_before  # nothing half-written
    other = unique_name("sp")
    conn.create_collection(CollectionSpec(name=other, multivector={"tokens": 8}))
    with pytest.raises(InvalidInputError, match="vector_field"):
        VectorBridgeStore(connector=conn, collection=other, embedding=emb).add_texts(["x"])


def test_store_from_texts_defaults_to_memory_qdrant():
    emb = DeterministicFakeEmbedding(size=8)
    store = VectorBridgeStore.from_texts(TEXTS[:3], emb, ids=["a", "b", "c"])
    assert isinstance(store.connector, QdrantConnector)
    assert store.get_by_ids(["c", "a"]) == [Document(id="c", page_content=TEXTS[2]),
                                            Document(id="a", page_content=TEXTS[0])]
    retriever = store.as_retriever(search_kwargs={"k": 2})
    assert [d.id for d in retriever.invoke(TEXTS[1])][0] == "b"


def test_reranker_blend_fuses_incoming_and_reranked_orders(tokens):
    from vectorbridge.connectors.fusion import fuse

    query = "insulin secretion"
    docs = [Document(id=i, page_content=t) for i, t in zip(IDS, TEXTS)]
    mine = [d.id for d in MaxSimReranker(tokens).compress_documents(docs, query)]
    keep = MaxSimReranker(tokens, blend=Fusion("rrf", 5, (1.0, 0.0))).compress_documents(docs, query)
    assert [d.id for d in keep] == IDS  # all weight on the incoming order
    only = MaxSimReranker(tokens, blend=Fusion("rrf", 5, (0.0, 1.0))).compress_documents(docs, query)
    assert [d.id for d in only] == mine
    blend = Fusion("rrf", 5, (2.0, 1.0))
    got = MaxSimReranker(tokens, top_n=4, blend=blend).compress_documents(docs, query)
    want = fuse([[(i, 0.0) for i in IDS], [(i, 0.0) for i in mine]], blend, 4)
    assert [d.id for d in got] == [i for i, _ in want]


# -- compressed first stages -------------------------------------------------------------------

def test_binary_quantizer_first_stage_with_float_rescoring(conn, dense):
    from vectorbridge.encoders import BinaryQuantizer
    from vectorbridge.errors import SpecMismatchError

    name = unique_name("bq")
    build = lambda: HybridRetriever.from_texts(  # noqa: E731
        TEXTS, ids=IDS, connector=conn, collection=name, dense=dense,
        quantizer=BinaryQuantizer(bits=1), oversample=len(TEXTS), k=4)
    r = unless_refused(conn, build, dense={"dense": 8}, binary={"codes": 8})  # Milvus Lite, 2.3
    plain = HybridRetriever(connector=conn, collection=name, dense=dense, k=4)
    for q in ("what causes scurvy?", "insulin", "antibiotic resistance"):
        got, want = r.invoke(q), plain.invoke(q)  # every code is a candidate: exact float order
        assert [d.id for d in got] == [d.id for d in want]
        np.testing.assert_allclose([d.metadata[SCORE_KEY] for d in got],
                                   [d.metadata[SCORE_KEY] for d in want], rtol=1e-4)
    narrow = HybridRetriever(connector=conn, collection=name, dense=dense, k=2, oversample=1.0,
                             quantizer=r.quantizer)
    assert len(narrow.invoke("insulin")) == 2
    other = BinaryQuantizer(bits=2).fit(dense.encode_documents(TEXTS))
    with pytest.raises(SpecMismatchError, match="not comparable"):
        HybridRetriever(connector=conn, collection=name, dense=dense, quantizer=other).invoke("x")


def test_fde_first_stage_then_exact_maxsim(conn, tokens):
    from vectorbridge.encoders import FDEEncoder
    from vectorbridge.errors import SpecMismatchError

    name = unique_name("fde")
    r = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection=name,
                                   multivector=tokens, fde=FDEEncoder(reps=4), rerank_k=len(TEXTS), k=3)
    spec = conn.spec(name)
    assert spec.dense["fde"].dim == 4 * 32 * 16 and "vectorbridge.fde/1" in spec.dense["fde"].encoding
    assert spec.multivector["tokens"].index is False  # only read for MaxSim: no token graph
    q = "mitochondria and energy"
    qt = tokens.encode_queries([q])[0]
    ref = sorted(zip([maxsim(qt, t) for t in tokens.encode_documents(TEXTS)], IDS),
                 key=lambda t: -t[0])[:3]
    docs = r.invoke(q)  # all documents are FDE candidates here, so MaxSim decides alone
    assert [d.id for d in docs] == [i for _, i in ref]
    with pytest.raises(SpecMismatchError, match="not comparable"):
        HybridRetriever(connector=conn, collection=name, multivector=tokens,
                        fde=FDEEncoder(reps=4, seed=1)).invoke(q)
    with pytest.raises(SpecMismatchError):  # rebuilding under the name with another config
        HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection=name,
                                   multivector=tokens, fde=FDEEncoder(reps=4, seed=1))


def test_quantizer_and_fde_arguments_are_checked(conn, dense):
    from vectorbridge.encoders import BinaryQuantizer, FDEEncoder
    from vectorbridge.errors import UnsupportedFeatureError

    with pytest.raises(UnsupportedFeatureError, match="BinaryQuantizer or a ProductQuantizer"):
        HybridRetriever(connector=conn, collection="x", dense=dense, quantizer=FDEEncoder())
    with pytest.raises(ValueError, match="dense= alone"):
        HybridRetriever(connector=conn, collection="x", dense=dense, sparse=BM25Encoder(),
                        quantizer=BinaryQuantizer())
    with pytest.raises(ValueError, match="multivector=TokenEncoder"):
        HybridRetriever(connector=conn, collection="x", dense=dense, fde=FDEEncoder())


async def test_product_quantizer_candidates_with_float_rescoring(conn, dense):
    from vectorbridge.encoders import ProductQuantizer

    texts = TEXTS * 30  # 300 points: enough to train 2**4 centroids per subspace
    ids = [f"{i}-{j}" for j in range(30) for i in IDS]
    name = unique_name("pq")
    build = lambda: HybridRetriever.from_texts(  # noqa: E731
        texts, ids=ids, metadatas=[{"copy": j} for j in range(30) for _ in IDS], connector=conn,
        collection=name, dense=dense, quantizer=ProductQuantizer(m=48, nbits=4), oversample=3, k=5)
    r = unless_refused(conn, build, dense={"dense": 8}, binary={"codes": 8})  # Milvus Lite, 2.3
    assert conn.spec(name).binary["codes"].dim == 48 * 8
    plain = HybridRetriever(connector=conn, collection=name, dense=dense, k=5)
    q = "insulin and beta cells"
    got = r.invoke(q)
    want = plain.invoke(q)
    assert got[0].page_content == want[0].page_content  # duplicated texts: same top text
    np.testing.assert_allclose([d.metadata[SCORE_KEY] for d in got],
                               [d.metadata[SCORE_KEY] for d in want], rtol=1e-4)  # exact scores
    kept = r.invoke(q, filter=F("copy") == 3)
    assert kept and all(d.metadata["copy"] == 3 for d in kept)
    again = await r.ainvoke(q)  # duplicated texts tie exactly: compare texts and scores
    assert [(d.page_content, d.metadata[SCORE_KEY]) for d in again] == \
        [(d.page_content, d.metadata[SCORE_KEY]) for d in got]
    assert conn.ids(name) == sorted(ids)


@pytest.mark.parametrize("quantization", ["scalar-int8", "pq-x16", "binary-1bit"])
def test_engine_quantization_first_stage(conn, dense, quantization):
    """quantizer="<engine quantization>": the engine keeps the codes and rescores; results
    equal the exact dense ranking when every point is a candidate."""
    name = unique_name("eq")
    r = unless_refused(conn, lambda: HybridRetriever.from_texts(
        TEXTS, ids=IDS, connector=conn, collection=name, dense=dense, quantizer=quantization,
        oversample=len(TEXTS), k=4), dense={"dense": DenseField(384, quantization=quantization)})
    assert conn.spec(name).dense["dense"].quantization == quantization
    plain = HybridRetriever(connector=conn, collection=name, dense=dense, k=4)
    for q in ("what causes scurvy?", "insulin"):
        got, want = r.invoke(q), plain.invoke(q)
        assert [d.id for d in got] == [d.id for d in want]
        np.testing.assert_allclose([d.metadata[SCORE_KEY] for d in got],
                                   [d.metadata[SCORE_KEY] for d in want], rtol=1e-4)
    other = "scalar-int8" if quantization != "scalar-int8" else "pq-x16"
    from vectorbridge.errors import SpecMismatchError

    with pytest.raises(SpecMismatchError, match="engine quantization"):
        HybridRetriever(connector=conn, collection=name, dense=dense, quantizer=other).invoke("x")
    with pytest.raises(ValueError, match="engine quantization is one of"):
        HybridRetriever(connector=conn, collection=name, dense=dense, quantizer="pq-x3")


def test_fde_engine_quantization_first_stage(conn, tokens):
    """fde_quantization="pq-x32" (MUVERA's production PQ): the engine keeps PQ codes of the
    FDEs and rescores with the floats; with every point a candidate the results equal the
    float-FDE pipeline's."""
    from vectorbridge.encoders import FDEEncoder

    name, plain_name = unique_name("fdepq"), unique_name("fde")
    fde = FDEEncoder(reps=4)
    r = unless_refused(conn, lambda: HybridRetriever.from_texts(
        TEXTS, ids=IDS, connector=conn, collection=name, multivector=tokens, fde=fde,
        fde_quantization="pq-x32", oversample=len(TEXTS), rerank_k=4, k=3),
        dense={"fde": DenseField(4 * 32 * 16, quantization="pq-x32")})
    field = conn.spec(name).dense["fde"]
    assert field.quantization == "pq-x32" and field.encoding == fde.to_json()
    plain = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection=plain_name,
                                       multivector=tokens, fde=fde, rerank_k=4, k=3)
    for q in ("what causes scurvy?", "mitochondria and energy"):
        assert [d.id for d in r.invoke(q)] == [d.id for d in plain.invoke(q)]
    with pytest.raises(ValueError, match="fde_quantization"):
        HybridRetriever(connector=conn, collection=name, multivector=tokens, fde=fde,
                        fde_quantization="pq-x3")


async def test_store_asks_the_engine_to_index_after_bulk_writes(conn):
    """Milvus searches growing segments unindexed (116 ms vs 6.3 ms p50 per dense query on
    5,183 points before / after sealing them): the store asks the engine to index after
    from_texts and once ``index_after`` points have been written since the last time."""
    calls = []
    optimize = conn.optimize
    conn.optimize = lambda name: (calls.append(name), optimize(name))[1]
    name = unique_name("ix")
    store = VectorBridgeStore.from_texts(TEXTS[:3], DeterministicFakeEmbedding(size=8),
                                         connector=conn, collection=name, index_after=5)
    assert calls == [name]  # the bulk load
    store.add_texts(TEXTS[:3])
    assert calls == [name]  # 3 points since: below index_after
    await store.aadd_texts(TEXTS[:3])
    assert calls == [name, name]  # 6 >= 5 (the async path runs optimize in a worker thread)
    assert len(store.similarity_search("scurvy", k=20)) == 9


@pytest.mark.parametrize("codes", [False, True], ids=["float", "pq-codes"])
async def test_retriever_collection_grows_and_shrinks_with_its_own_encoders(conn, dense, codes):
    """``add_texts`` / ``delete`` (and their async twins) write through the retriever's
    layout: after growing in two steps the collection answers exactly like one built whole,
    and the PQ codes the retriever caches follow both changes."""
    from vectorbridge.encoders import ProductQuantizer

    texts = TEXTS * 30
    ids = [f"{i}-{j}" for j in range(30) for i in IDS]
    metas = [{"copy": j} for j in range(30) for _ in IDS]
    pq = ProductQuantizer(m=48, nbits=4) if codes else None
    grown = unless_refused(conn, lambda: HybridRetriever.from_texts(
        texts[:150], ids=ids[:150], metadatas=metas[:150], connector=conn,
        collection=unique_name("grow"), dense=dense, quantizer=pq, oversample=3, k=5),
        dense={"dense": 8}, **({"binary": {"codes": 8}} if codes else {}))
    q = "insulin and beta cells"
    assert all(d.metadata["copy"] < 15 for d in grown.invoke(q, k=20))  # codes cached here
    assert grown.add_texts(texts[150:250], ids=ids[150:250], metadatas=metas[150:250]) == ids[150:250]
    assert await grown.aadd_texts(texts[250:], ids=ids[250:], metadatas=metas[250:]) == ids[250:]
    whole = HybridRetriever.from_texts(
        texts, ids=ids, metadatas=metas, connector=conn, collection=unique_name("whole"),
        dense=dense, quantizer=pq, oversample=3, k=5)
    assert conn.count(grown.collection) == conn.count(whole.collection) == len(texts)
    for flt in (None, F("copy") >= 20):
        got, want = grown.invoke(q, filter=flt), whole.invoke(q, filter=flt)
        assert [d.page_content for d in got] == [d.page_content for d in want]
        # Milvus Lite scores a segment grown in two writes in another float32 summation
        # order than one written whole: the same scores within float32 rounding
        assert [d.metadata[SCORE_KEY] for d in got] == \
            pytest.approx([d.metadata[SCORE_KEY] for d in want], rel=1e-6)
    assert any(d.metadata["copy"] >= 15 for d in grown.invoke(q, k=20))  # new codes seen
    grown.delete(ids=[i for i in ids if i.endswith("-29")])
    await grown.adelete(filter=F("copy") >= 20)
    assert conn.count(grown.collection) == 200
    assert all(d.metadata["copy"] < 20 for d in grown.invoke(q, k=50))
    with pytest.raises(InvalidInputError, match="texts\\[0\\] is empty"):
        grown.add_texts([" "])
    assert conn.count(grown.collection) == 200
