"""Same query, same answer: rankings are deterministic, ties broken by the stated rule.

Engines order exactly tied scores arbitrarily, and differently from call to call; RRF with
a small k makes such ties common (rank 1 in either branch scores the same), and a corpus
with duplicated texts makes them certain. For each backend x fusion kind x pipeline (plain
hybrid, engine-quantized dense branch, MaxSim over token vectors in the engine, a MaxSim
reranker, pseudo-relevance feedback), 100 queries asked 3 times must return the same ids in the same order, the async
path must return the same, and equal scores must come in id order (``rank_key``).
"""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.encoders import BM25Encoder
from vectorbridge.errors import UnsupportedFeatureError
from vectorbridge.retrievers import HybridRetriever, PseudoRelevanceFeedback
from vectorbridge.retrievers.hybrid import SCORE_KEY
from vectorbridge.retrievers.rerankers import RERANK_SCORE_KEY, MaxSimReranker
from tests.backends import unique_name
from tests.fakes import VOCAB, BagDense, BagTokens

rng = np.random.default_rng(11)
_UNIQUE = [" ".join(rng.choice(VOCAB[:30], 6)) for _ in range(60)]
TEXTS = _UNIQUE + _UNIQUE[:30]  # 30 texts twice: exact ties in every branch
IDS = [f"u{i:02d}" for i in range(60)] + [f"c{i:02d}" for i in range(30)]
QUERIES = [" ".join(rng.choice(VOCAB[:30], 3)) for _ in range(100)]

PIPELINES = {
    "dense": lambda: dict(dense=BagDense()),  # one branch: what Milvus 2.3 runs
    "plain": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None)),
    "quantized": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                              quantizer="scalar-int8"),
    "maxsim": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                           multivector=BagTokens(), rerank_k=20),
    "maxsim-rerank": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                                  rerank=MaxSimReranker(BagTokens()), rerank_k=20),
    "prf": lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                        prf=PseudoRelevanceFeedback()),
}


CASES = [("dense", "rrf")] + [(p, f) for p in PIPELINES if p != "dense"
                               for f in ("rrf", "dbsf", "weighted")]


@pytest.mark.parametrize("pipeline,fusion", CASES, ids=[f"{p}-{f}" for p, f in CASES])
async def test_same_query_same_ranking_on_every_path(conn, pipeline, fusion):
    name = unique_name("det")
    try:
        r = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection=name, k=10,
                                       fusion=fusion, rrf_k=2, **PIPELINES[pipeline]())
    except UnsupportedFeatureError as e:
        assert not conn.has_collection(name)
        pytest.skip(f"unsupported on {conn.engine}: {e}")

    reranked = r.rerank is not None  # its order: the reranker's score, ties in first-stage order
    key = RERANK_SCORE_KEY if reranked else SCORE_KEY

    def ranking(docs):
        return [(d.id, d.metadata[key]) for d in docs]

    def ids(rankings):
        return [[d for d, _ in rows] for rows in rankings]

    first = [ranking(r.invoke(q)) for q in QUERIES]
    repeats = [[ranking(r.invoke(q)) for q in QUERIES] for _ in range(2)]
    repeats.append([ranking(await r.ainvoke(q)) for q in QUERIES])
    for again in repeats:  # same ids, same order; scores to float noise (qdrant-client's
        assert ids(again) == ids(first)  # emulation of DBSF rounds differently per call)
        np.testing.assert_allclose([s for rows in again for _, s in rows],
                                   [s for rows in first for _, s in rows], rtol=1e-6)
    ties = 0
    for rows in first:
        for (a, sa), (b, sb) in zip(rows, rows[1:]):
            assert sa >= sb
            if sa == sb:
                ties += 1
                assert reranked or a < b, (rows, "equal scores must come in id order")
    if not pipeline.startswith("maxsim"):  # MaxSim ties of duplicates need not reach the top 10
        assert ties > 0, "the corpus is meant to produce ties"


def _drive(op):
    """Run a call generator that makes no client call; return its value."""
    try:
        next(op)
    except StopIteration as done:
        return done.value
    raise AssertionError("made a client call")


def test_tie_safe_cut_widens_until_the_tie_ends_inside():
    from vectorbridge.connectors import QdrantConnector
    from vectorbridge.connectors.base import MAX_TIE_WIDENING, Hit

    # the engine's order: 5 distinct scores, then 40 tied ones in reverse id order, then 5 lower
    hits = [Hit(f"a{i}", 10.0 - i) for i in range(5)] + \
        [Hit(f"t{i:02d}", 1.0) for i in reversed(range(40))] + [Hit(f"z{i}", 0.5 - i) for i in range(5)]
    asked = []

    def fetch(n):
        asked.append(n)
        return hits[:n]
        yield  # a call generator

    conn = QdrantConnector(location=":memory:")
    got = _drive(conn._tie_safe(fetch, 10))
    assert [h.id for h in got] == [f"a{i}" for i in range(5)] + [f"t{i:02d}" for i in range(5)]
    assert asked == [15, 30, 60]  # widened while the last hit still tied with the 10th
    asked.clear()
    flat = [Hit(f"f{i:04d}", 1.0) for i in reversed(range(1000))]
    hits[:] = flat
    got = _drive(conn._tie_safe(fetch, 10))
    assert asked[-1] == 15 * MAX_TIE_WIDENING and len(got) == 10  # bounded widening
    assert [h.id for h in got] == sorted(h.id for h in got)
