"""Options are checked before anything is created or written.

A bad value or an unknown (misspelt) option name must raise a vectorbridge
``InvalidInputError`` that names the option, the value and what is allowed (the nearest
valid name for a misspelling) — never a pydantic ``ValidationError``, never a silent no-op —
and the collection must not exist afterwards.
"""

from __future__ import annotations

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from vectorbridge.encoders import BinaryQuantizer, BM25Encoder, DenseEncoder, FDEEncoder, \
    ProductQuantizer, ResidualCodec
from vectorbridge.encoders.pooling import TokenPooler
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers import HybridRetriever, PseudoRelevanceFeedback, ScoreCalibrator, \
    VectorBridgeStore
from vectorbridge.retrievers.rerankers import CrossEncoderReranker, MaxSimReranker
from tests.backends import unique_name

TEXTS = ["vitamin c and scurvy", "insulin and beta cells", "sleep and memory"]

#: (option, value, text the error must contain)
BAD_RETRIEVER_OPTIONS = [
    ("fusion", "bogus", "'rrf', 'dbsf' or 'weighted'"),
    ("rrf_k", 0, "RRF k"),
    ("k", 0, "k must be a positive integer"),
    ("prefetch_k", -1, "k must be a positive integer"),
    ("rerank_k", 2.5, "rerank_k"),
    ("maxsim", "sometimes", "'replace' or 'fuse'"),
    ("weights", ("heavy", 1.0), "weights"),
    ("quantizer", "bogus-8bit", "engine quantization"),
    ("oversample", 0.5, "oversample"),
    ("score_threshold", 0.5, "calibrator"),
    ("dense_field", "not a name!", "field name"),
    ("collection", "bad name!", "collection name"),
    ("prf", "rocchio", "PseudoRelevanceFeedback"),
    ("batch_size", 0, "batch_size"),
    # unknown names: refused with the closest valid name
    ("rrf_K", 10, "did you mean 'rrf_k'"),
    ("oversampel", 4, "did you mean 'oversample'"),
    ("group_pize", 2, "did you mean 'group_size'"),
    ("group_size", 0, "group_size must be a positive int"),
]


@pytest.mark.parametrize("option,value,message", BAD_RETRIEVER_OPTIONS,
                         ids=[o[0] for o in BAD_RETRIEVER_OPTIONS])
def test_hybrid_retriever_refuses_bad_options_before_any_write(conn, option, value, message):
    name = unique_name("opt")
    options = dict(connector=conn, collection=name, dense=DeterministicFakeEmbedding(size=8),
                   sparse=BM25Encoder())
    options[option] = value
    with pytest.raises(InvalidInputError, match="(?s)" + _re(message)):
        HybridRetriever.from_texts(TEXTS, **options)
    if option != "collection":
        assert not conn.has_collection(name)


@pytest.mark.parametrize("option,value,message", [
    ("metric", "manhattan", "'cosine'"),
    ("batch_size", 0, "batch_size"),
    ("index_after", -1, "index_after"),
    ("vector_feild", "dense", "did you mean 'vector_field'"),
])
def test_store_refuses_bad_options_before_any_write(conn, option, value, message):
    name = unique_name("opt")
    with pytest.raises(InvalidInputError, match=_re(message)):
        VectorBridgeStore.from_texts(TEXTS, DeterministicFakeEmbedding(size=8), connector=conn,
                                     collection=name, **{option: value})
    assert not conn.has_collection(name)


def test_invoke_refuses_unknown_call_options(tmp_path):
    from vectorbridge.connectors import QdrantConnector

    r = HybridRetriever.from_texts(TEXTS, connector=QdrantConnector(path=str(tmp_path / "q")),
                                   collection="c", dense=DeterministicFakeEmbedding(size=8))
    with pytest.raises(InvalidInputError, match="did you mean 'filter'"):
        r.invoke("scurvy", filtr={"n": 1})


def test_no_pydantic_error_reaches_users(conn):
    from pydantic import ValidationError

    try:
        HybridRetriever(connector=conn, collection="c", dense=DeterministicFakeEmbedding(size=8),
                        fusion="bogus")
    except InvalidInputError as e:
        assert not isinstance(e, ValidationError) and "fusion='bogus'" in str(e)
    else:
        pytest.fail("fusion='bogus' was accepted")


@pytest.mark.parametrize("build,message", [
    (lambda: BM25Encoder(k_1=1.0), "did you mean 'k1'"),
    (lambda: BinaryQuantizer(bit=1), "did you mean 'bits'"),
    (lambda: ProductQuantizer(m=8, nbit=4), "did you mean 'nbits'"),
    (lambda: FDEEncoder(dproj=8), "did you mean 'd_proj'"),
    (lambda: ResidualCodec(16, nbit=2), "did you mean 'nbits'"),
    (lambda: TokenPooler(pool_factr=2), "did you mean 'pool_factor'"),
    (lambda: PseudoRelevanceFeedback(dense_doc=2), "did you mean 'dense_docs'"),
    (lambda: ScoreCalibrator(epoch=3), "did you mean 'epochs'"),
    (lambda: MaxSimReranker(object(), batchsize=3), "did you mean 'batch_size'"),
    (lambda: MaxSimReranker(object(), top_n=0), "top_n"),
    (lambda: MaxSimReranker(object(), batch_size=0), "batch_size"),
    (lambda: CrossEncoderReranker("never/loaded", batchsize=3), "did you mean 'batch_size'"),
    (lambda: BM25Encoder(language="klingon"), "no Snowball stemmer"),
], ids=["bm25", "binary", "pq", "fde", "residual", "pooler", "prf", "calibrator",
        "maxsim-unknown", "maxsim-top_n", "maxsim-batch", "cross-encoder-unknown", "bm25-language"])
def test_encoders_and_rerankers_refuse_unknown_and_bad_options(build, message):
    with pytest.raises(InvalidInputError, match=_re(message)):
        build()


def test_dense_encoder_refuses_unknown_options_before_loading(minilm_path):
    with pytest.raises(InvalidInputError, match="did you mean 'batch_size'"):
        DenseEncoder(minilm_path, batchsize=2)
    with pytest.raises(InvalidInputError, match="batch_size"):
        DenseEncoder(minilm_path, batch_size=0)
    with pytest.raises(InvalidInputError, match="normalize must be True or False"):
        DenseEncoder(minilm_path, normalize="yes")


def _re(text: str) -> str:
    import re

    return re.escape(text)
