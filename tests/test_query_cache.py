"""Repeated queries skip the model (encoders/query_cache.py): the same encodings as without
the cache, counted hits, bounded size, entries kept apart per model and precision."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vectorbridge.encoders import CachedQueryEmbeddings, DenseEncoder, QueryCache, SpladeEncoder
from vectorbridge.errors import InvalidInputError
from tests.fakes import BagDense

QUERIES = ["what pets do people keep", "how plants make energy", "what pets do people keep"]


class Counting:
    """Wraps a model's encode_query, counting the texts it was asked."""

    def __init__(self, model):
        self.model, self.texts = model, []
        self._encode = model.encode_query

    def __enter__(self):
        def encode_query(texts, **kwargs):
            self.texts += list(texts)
            return self._encode(texts, **kwargs)
        self.model.encode_query = encode_query
        return self

    def __exit__(self, *exc):
        self.model.encode_query = self._encode


def test_a_dense_encoder_with_a_cache_gives_the_same_vectors_and_counts(minilm_path):
    plain = DenseEncoder(minilm_path, precision="float32")
    cached = DenseEncoder(minilm_path, query_cache=2, precision="float32")
    want = plain.encode_queries(QUERIES)
    with Counting(cached.model) as model:
        got = cached.encode_queries(QUERIES)
        again = cached.embed_query(QUERIES[1])
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(again, want[1], atol=1e-6)
    assert model.texts == QUERIES[:2]  # each distinct text once; the rest from the cache
    s = cached.query_cache.stats()
    assert (s.hits, s.misses, s.size) == (2, 2, 2) and s.hit_rate == 0.5
    cached.encode_queries(["third query"])  # maxsize 2: the least recently used goes
    with Counting(cached.model) as model:
        cached.encode_queries([QUERIES[0]])
    assert model.texts == [QUERIES[0]] and cached.query_cache.stats().size == 2
    got.flags.writeable = True
    got[:] = 0  # a caller's array is its own: the cache is unharmed
    np.testing.assert_allclose(cached.encode_queries(QUERIES[1:2])[0], want[1], atol=1e-6)
    assert cached.encode_queries([]).shape == (0, 384)


def test_one_cache_keeps_models_and_precisions_apart(minilm_path, splade_path):
    shared = QueryCache(100)
    dense = DenseEncoder(minilm_path, query_cache=shared, precision="float32")
    half = DenseEncoder(minilm_path, query_cache=shared, precision="bfloat16")
    sparse = SpladeEncoder(splade_path, query_cache=shared)
    d, h = dense.encode_queries(QUERIES[:1])[0], half.encode_queries(QUERIES[:1])[0]
    assert not np.array_equal(d, h) and float(d @ h) > 0.99  # bfloat16's own, not float32's
    s = sparse.encode_queries(QUERIES[:1])[0]
    assert s == SpladeEncoder(splade_path).encode_queries(QUERIES[:1])[0]
    assert shared.stats().size == 3 and shared.stats().hits == 0


def test_any_langchain_embeddings_and_threads():
    calls = []

    class Slow(BagDense):
        def embed_query(self, text):
            calls.append(text)
            return super().embed_query(text)

    cached = CachedQueryEmbeddings(Slow(), cache=10)
    vectors = {}

    def ask(i):
        vectors[i] = cached.embed_query(f"w{i % 3} w{i % 5}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(calls)) == 15 and cached.query_cache.stats().size == 10
    assert vectors[0] == pytest.approx(BagDense().embed_query("w0 w0"))
    assert cached.embed_documents(["w1"]) == BagDense().embed_documents(["w1"])
    with pytest.raises(InvalidInputError, match="query_cache= takes"):
        DenseEncoder("unused", query_cache="big")
    with pytest.raises(InvalidInputError, match="maxsize must be a positive int"):
        QueryCache(0)
