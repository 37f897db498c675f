"""ColBERTv2 residual compression: codes, buckets, persistence, MaxSim on real MiniLM tokens,
and the retriever storing codes (Qdrant engines) with client-side decoding + MaxSim."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vectorbridge.connectors import MultiVectorField, QdrantConnector
from vectorbridge.encoders import FDEEncoder, ResidualCodec, TokenEncoder, maxsim
from vectorbridge.errors import InvalidInputError, SpecMismatchError
from vectorbridge.retrievers import HybridRetriever, MaxSim
from tests.corpus import TEXTS, unless_refused


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n_docs=60, tokens=20, dim=32, k=8, noise=0.15, seed=0):
    """Token matrices around ``k`` directions, as a corpus' tokens cluster."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((k, dim)))
    return [unit(centres[rng.integers(0, k, tokens)] + noise * rng.standard_normal((tokens, dim)))
            for _ in range(n_docs)]


def mean_cos(codec, docs):
    X = np.concatenate(docs)
    return float((codec.decode(*codec.encode(X)) * X).sum(axis=1).mean())


def test_codes_have_the_promised_size_and_round_trip_through_bytes():
    docs = clustered()
    codec = ResidualCodec(n_centroids=8, nbits=2).fit(docs)
    ids, res = codec.encode(docs[0])
    assert ids.dtype == np.uint16 and ids.shape == (20,) and ids.max() < 8
    assert res.dtype == np.uint8 and res.shape == (20, 32 * 2 // 8)
    assert codec.bytes_per_token == 2 + 8
    rows = codec.to_bytes(docs[0])
    assert rows.dtype == np.uint8 and rows.shape == (20, codec.bytes_per_token)
    np.testing.assert_array_equal(codec.from_bytes(rows), codec.decode(ids, res))
    np.testing.assert_allclose(np.linalg.norm(codec.decode(ids, res), axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("nbits, dim", [(1, 32), (2, 32), (1, 30), (2, 30)])
def test_decoding_reads_each_dimensions_bucket_from_the_packed_bits(nbits, dim):
    docs = clustered(dim=dim)
    codec = ResidualCodec(8, nbits).fit(docs)
    X = np.concatenate(docs[:3])
    ids, res = codec.encode(X)
    assert res.shape[1] == -(-dim * nbits // 8)
    # reference: unpack the bits (MSB first), read nbits per dimension, look the value up
    bits = np.unpackbits(res, axis=1)[:, : dim * nbits].reshape(len(X), dim, nbits)
    buckets = bits @ (1 << np.arange(nbits - 1, -1, -1))
    want = codec.centroids[ids] + codec.values[np.arange(dim)[None, :], buckets]
    np.testing.assert_allclose(codec.decode(ids, res), unit(want), rtol=1e-5, atol=1e-6)
    # and the buckets are the ones the cutoffs give
    resid = X - codec.centroids[ids]
    np.testing.assert_array_equal(buckets, (resid[:, :, None] > codec.cutoffs[None]).sum(axis=2))


def test_more_bits_reconstruct_better_and_both_beat_the_centroid_alone():
    docs = clustered(noise=0.3)
    one, two = ResidualCodec(8, 1).fit(docs), ResidualCodec(8, 2).fit(docs)
    X = np.concatenate(docs)
    centroid_only = float((unit(one.centroids[one._nearest(X)]) * X).sum(axis=1).mean())
    c1, c2 = mean_cos(one, docs), mean_cos(two, docs)
    assert centroid_only < c1 < c2
    assert c2 > 0.9  # residuals here are mostly Gaussian noise: 2 bits keep ~0.93


def test_buckets_split_each_dimensions_residuals_into_equal_shares():
    docs = clustered(n_docs=200)
    codec = ResidualCodec(8, 2).fit(docs)
    X = np.concatenate(docs)
    res = X - codec.centroids[codec._nearest(X)]
    buckets = (res[:, :, None] > codec.cutoffs[None]).sum(axis=2)  # (n, dim) in 0..3
    shares = np.stack([(buckets == b).mean(axis=0) for b in range(4)])  # (4, dim)
    np.testing.assert_allclose(shares, 0.25, atol=0.03)
    assert (np.diff(codec.cutoffs, axis=1) > 0).all() and (np.diff(codec.values, axis=1) > 0).all()
    # each bucket's value lies between its cutoffs
    lo = np.concatenate([np.full((32, 1), -np.inf), codec.cutoffs], axis=1)
    hi = np.concatenate([codec.cutoffs, np.full((32, 1), np.inf)], axis=1)
    assert ((codec.values > lo) & (codec.values < hi)).all()


def test_saved_codec_decodes_identically_and_names_itself(tmp_path):
    docs = clustered()
    codec = ResidualCodec(8, 2).fit(docs)
    codec.save(tmp_path / "codec.npz")
    back = ResidualCodec.load(tmp_path / "codec.npz")
    rows = codec.to_bytes(docs[3])
    np.testing.assert_array_equal(back.from_bytes(rows), codec.from_bytes(rows))
    assert back.fingerprint() == codec.fingerprint()
    assert ResidualCodec(8, 2, seed=5).fit(docs).fingerprint() != codec.fingerprint()
    assert ResidualCodec(8, 1).fit(docs).fingerprint() != codec.fingerprint()


def test_bad_codec_input_is_refused():
    docs = clustered(n_docs=2, tokens=3)
    with pytest.raises(InvalidInputError, match="nbits"):
        ResidualCodec(8, nbits=3)
    with pytest.raises(InvalidInputError, match="not fitted"):
        ResidualCodec(8).encode(docs[0])
    with pytest.raises(InvalidInputError, match="training tokens"):
        ResidualCodec(64).fit(docs)
    codec = ResidualCodec(4, 2).fit(docs)
    ids, res = codec.encode(docs[0])
    with pytest.raises(InvalidInputError, match="out of range"):
        codec.decode(ids + 100, res)
    with pytest.raises(InvalidInputError, match="residuals"):
        codec.decode(ids, res[:, :2])
    with pytest.raises(InvalidInputError, match="to_bytes"):
        codec.from_bytes(np.zeros((2, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="shape"):
        codec.encode(np.ones((3, 7), np.float32))


def test_maxsim_rankings_survive_2bit_residuals_on_minilm_tokens(minilm):
    from scipy.stats import spearmanr

    enc = TokenEncoder(minilm)
    docs = enc.encode_documents(TEXTS)
    codec = ResidualCodec(n_centroids=64, nbits=2).fit(docs)
    decoded = [codec.from_bytes(codec.to_bytes(d)) for d in docs]
    assert mean_cos(codec, docs) > 0.9
    for q in enc.encode_queries(["vitamin C and scurvy", "insulin resistance", "immune cells"]):
        full = [maxsim(q, d) for d in docs]
        small = [maxsim(q, d) for d in decoded]
        assert spearmanr(full, small).statistic > 0.9
        assert int(np.argmax(small)) in np.argsort(full)[-2:]


# -- the retriever ---------------------------------------------------------------------------
class TableTokens:
    """A TokenEncoder stand-in: fixed clustered token matrices per text."""

    def __init__(self, texts, queries):
        mats = clustered(n_docs=len(texts) + len(queries), tokens=12, dim=32, seed=7)
        self.table = dict(zip(list(texts) + list(queries), mats))

    def encode_documents(self, texts):
        return [self.table[t] for t in texts]

    def encode_queries(self, texts):
        return [self.table[t] for t in texts]


def test_retriever_stores_codes_and_ranks_by_decoded_maxsim(conn):
    queries = ["what causes scurvy", "insulin"]
    tok = TableTokens(TEXTS, queries)
    codec = ResidualCodec(n_centroids=16, nbits=2)
    fde = FDEEncoder(reps=4, d_proj=8)
    ids = [str(i) for i in range(len(TEXTS))]

    def build():
        return HybridRetriever.from_texts(TEXTS, ids=ids, connector=conn, collection="rc",
                                          recreate=True, multivector=tok, fde=fde,
                                          token_codec=codec, rerank_k=6, k=3)

    r = unless_refused(conn, build, multivector={"tokens": MultiVectorField(10, dtype="uint8")})
    field = conn.spec("rc").field("tokens")
    assert field.codes and field.dim == codec.bytes_per_token == 2 + 8
    assert field.encoding == codec.fingerprint()
    stored = conn.get("rc", ["0"], with_vectors=["tokens"])[0].vectors
    assert list(stored) == ["tokens"]
    np.testing.assert_array_equal(stored["tokens"], codec.to_bytes(tok.table[TEXTS[0]]))
    for q in queries:
        qt = tok.table[q]
        first = conn.search("rc", "fde", fde.encode_queries([qt])[0], k=6)  # the first stage
        want = sorted(((maxsim(qt, codec.from_bytes(codec.to_bytes(tok.table[TEXTS[int(h.id)]]))), h.id)
                       for h in first), key=lambda t: -t[0])[:3]
        got = r.invoke(q)
        assert [d.id for d in got] == [i for _, i in want]
        np.testing.assert_allclose([d.metadata["score"] for d in got], [s for s, _ in want], rtol=1e-5)
    with pytest.raises(InvalidInputError, match="compressed token codes"):
        conn.search("rc", "tokens", np.zeros((2, 10), np.uint8), k=3)
    other = ResidualCodec(n_centroids=16, nbits=2, seed=9).fit(list(tok.table.values()))
    with pytest.raises(SpecMismatchError, match="token_codec"):
        stages = tuple(dataclasses.replace(s, codec=other) if isinstance(s, MaxSim) else s
                       for s in r.stages)
        r.model_copy(update={"stages": stages}).invoke(queries[0])


async def test_async_codes_retrieval_equals_sync():
    tok = TableTokens(TEXTS, ["scurvy"])
    r = HybridRetriever.from_texts(TEXTS, connector=QdrantConnector(location=":memory:"),
                                   collection="rc", multivector=tok, fde=FDEEncoder(reps=4, d_proj=8),
                                   token_codec=ResidualCodec(16, 1), rerank_k=8, k=4)
    sync = [(d.id, d.metadata["score"]) for d in r.invoke("scurvy")]
    assert [(d.id, d.metadata["score"]) for d in await r.ainvoke("scurvy")] == sync


def test_codec_needs_tokens_and_a_first_stage():
    conn = QdrantConnector(location=":memory:")
    tok = TableTokens(TEXTS, [])
    with pytest.raises(InvalidInputError, match="first stage"):
        HybridRetriever.from_texts(TEXTS, connector=conn, collection="x", multivector=tok,
                                   token_codec=ResidualCodec(4))
    with pytest.raises(ValueError, match="multivector=TokenEncoder"):
        HybridRetriever(connector=conn, collection="x", dense=object(), token_codec=ResidualCodec(4))
    with pytest.raises(ValueError, match="ResidualCodec"):
        HybridRetriever(connector=conn, collection="x", multivector=tok, fde=FDEEncoder(),
                        token_codec="2bit")
    assert not conn.has_collection("x")
