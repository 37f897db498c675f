"""Filters reach every candidate stage: pipeline x backend x filter selectivity.

Every retrieval pipeline with a first stage that chooses candidates (binary or PQ codes,
engine quantization, FDE, residual token codes, feedback rounds, calibration, a reranker)
must apply the filter when it chooses them. Post-filtering a fixed candidate list returns
fewer results than exist, or none, for selective filters. For each pipeline and filter the
test checks that every result matches and that there are min(k, matching) of them; where
the stages are set to see every candidate (oversample, rerank_k >= the corpus), the ranking
also equals exact filtered search computed here with numpy.

The encoders are small deterministic bags of word vectors, so the corpus builds in
milliseconds on every backend and exact scores are known.
"""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.connectors import F
from vectorbridge.encoders import BinaryQuantizer, BM25Encoder, FDEEncoder, ProductQuantizer, \
    ResidualCodec
from vectorbridge.encoders.scoring import maxsim
from vectorbridge.errors import UnsupportedFeatureError
from vectorbridge.retrievers import HybridRetriever, PseudoRelevanceFeedback
from vectorbridge.retrievers.rerankers import MaxSimReranker
from tests.backends import unique_name
from tests.fakes import VOCAB, BagDense, BagTokens, fitted_calibrator

N, K = 120, 10
rng = np.random.default_rng(7)
TEXTS = [" ".join(rng.choice(VOCAB, 8)) for _ in range(N)]
IDS = [f"d{i}" for i in range(N)]
METAS = [{"grp": i % 20, "u": i} for i in range(N)]
QUERIES = [" ".join(rng.choice(VOCAB, 5)) for _ in range(3)]

#: name -> (filter, predicate on metadata): all points, ~50 %, 5 %, exactly one, none.
FILTERS = {
    "all": (F("u") >= 0, lambda m: True),
    "half": (F("grp") < 10, lambda m: m["grp"] < 10),
    "5pct": (F("grp") == 3, lambda m: m["grp"] == 3),
    "one": (F("u") == 17, lambda m: m["u"] == 17),
    "none": (F("grp") == 99, lambda m: False),
}


#: name -> (options of from_texts, exact ranking to compare with: "dense", "maxsim" or None)
PIPELINES = {
    "dense": (lambda: dict(dense=BagDense()), "dense"),
    "hybrid": (lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None)), None),
    "binary-codes+rescore": (lambda: dict(dense=BagDense(), quantizer=BinaryQuantizer(),
                                          oversample=N), "dense"),
    "pq-codes+rescore": (lambda: dict(dense=BagDense(), quantizer=ProductQuantizer(m=8, nbits=4),
                                      oversample=N), "dense"),
    "engine-int8": (lambda: dict(dense=BagDense(), quantizer="scalar-int8", oversample=N), "dense"),
    "fde+maxsim": (lambda: dict(multivector=BagTokens(), fde=FDEEncoder(d_proj=8, reps=4),
                                rerank_k=2 * N, prefetch_k=2 * N), "maxsim"),
    "token-codes": (lambda: dict(multivector=BagTokens(), fde=FDEEncoder(d_proj=8, reps=4),
                                 token_codec=ResidualCodec(16, 2), rerank_k=2 * N), None),
    "prf": (lambda: dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                         prf=PseudoRelevanceFeedback()), None),
    "calibrated": (lambda: dict(dense=BagDense(), calibrator=fitted_calibrator(), score_threshold=0.0),
                   None),
    "reranker": (lambda: dict(dense=BagDense(), rerank=MaxSimReranker(BagTokens()), rerank_k=30),
                 None),
}


def _exact_scores(kind: str, query: str, allowed: list[int]) -> dict[str, float]:
    """Exact score of every allowed document: cosine of the bag vectors, or MaxSim."""
    if kind == "dense":
        q = np.asarray(BagDense().embed_query(query))
        return {IDS[i]: float(np.asarray(BagDense().embed_query(TEXTS[i])) @ q) for i in allowed}
    q = BagTokens()._one(query)
    return {IDS[i]: maxsim(q, BagTokens()._one(TEXTS[i])) for i in allowed}


def _assert_exact_top_k(got: list[str], scores: dict[str, float], where: str) -> None:
    """``got`` is an exact top k: its documents' exact scores are the k best, best first
    (equal up to float32 rounding, where near-ties may come in either order)."""
    want = sorted(scores.values(), reverse=True)[:K]
    np.testing.assert_allclose([scores[d] for d in got], want, atol=1e-5, err_msg=where)


@pytest.mark.parametrize("pipeline", list(PIPELINES))
async def test_filters_reach_every_candidate_stage(conn, pipeline):
    options, exact = PIPELINES[pipeline]
    name = unique_name("fp")
    try:
        r = HybridRetriever.from_texts(TEXTS, ids=IDS, metadatas=METAS, connector=conn,
                                       collection=name, k=K, **options())
    except UnsupportedFeatureError as e:
        assert not conn.has_collection(name)  # refused before anything was written
        pytest.skip(f"unsupported on {conn.engine}: {e}")
    for label, (flt, keep) in FILTERS.items():
        allowed = [i for i, m in enumerate(METAS) if keep(m)]
        for q in QUERIES:
            got = r.invoke(q, filter=flt)
            where = f"{pipeline} / {label} / {q!r}"
            assert all(keep(d.metadata) for d in got), where
            assert len(got) == min(K, len(allowed)), where
            if exact is not None:
                _assert_exact_top_k([d.id for d in got], _exact_scores(exact, q, allowed), where)
        if label == "5pct":  # the async path chooses candidates the same way
            assert [d.id for d in await r.ainvoke(QUERIES[0], filter=flt)] == \
                [d.id for d in r.invoke(QUERIES[0], filter=flt)]
