"""Calibrated relevance filtering: the query-dependent map learns what a global cosine cutoff
cannot, never re-orders, persists without pickle, and the retriever keeps exactly the
documents at or above the threshold on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.connectors import QdrantConnector
from vectorbridge.errors import InvalidInputError
from vectorbridge.encoders import BM25Encoder
from vectorbridge.retrievers import HybridRetriever
from vectorbridge.retrievers.calibration import ScoreCalibrator, relevance_labels
from tests.test_feedback import IDS, TEXTS, TableEmbeddings


def _two_kinds_of_query(n: int, seed: int):
    """Queries of two kinds, told apart by the embedding's first coordinate: for kind A a
    relevant document scores ~0.8 and the rest ~0.6; for kind B ~0.5 and ~0.3. One global
    cosine cutoff cannot serve both kinds; a query-dependent map can."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 2, n)
    Q = rng.normal(size=(n, 6)).astype(np.float32)
    Q[:, 0] = np.where(kind == 1, 2.0, -2.0)
    rel, non = np.where(kind == 1, 0.8, 0.5), np.where(kind == 1, 0.6, 0.3)
    Y = np.zeros((n, 20), dtype=bool)
    Y[np.arange(n), rng.integers(0, 3, n)] = rng.uniform(size=n) < 0.8  # 0 or 1 relevant, near the top
    S = np.where(Y, rel[:, None], non[:, None]) + rng.normal(0, 0.04, size=(n, 20))
    order = np.argsort(-S, axis=1)  # each query's candidates in ranking order
    return Q, np.take_along_axis(S, order, 1), np.take_along_axis(Y, order, 1)


def _f1(keep, Y):
    p = (keep & Y).sum() / max(keep.sum(), 1)
    r = (keep & Y).sum() / Y.sum()
    return 2 * p * r / (p + r) if p + r else 0.0


@pytest.mark.parametrize("score_features", [0, 5])
def test_query_dependent_map_beats_any_global_cosine_cutoff(score_features):
    Q, S, Y = _two_kinds_of_query(600, seed=0)
    Qt, St, Yt = _two_kinds_of_query(300, seed=1)
    cal = ScoreCalibrator(score_features=score_features, epochs=300).fit(Q, S, Y)
    P = cal.calibrate(Qt, St)
    best_raw = max(_f1(St >= t, Yt) for t in np.linspace(0.2, 0.9, 141))  # even tuned on the test set
    assert _f1(P >= 0.5, Yt) > best_raw + 0.1
    assert _f1(P >= 0.5, Yt) > 0.9
    # calibrated: among candidates it gives >= 0.5, most are relevant; below, few are
    assert Yt[P >= 0.5].mean() > 0.85 and Yt[P < 0.5].mean() < 0.05
    # the map is increasing for every query: it filters, it never re-orders
    assert (np.diff(P, axis=1) <= 1e-7).all()
    a, _ = cal.mapping(Qt, St)
    assert (a > 0).all()


def test_saved_calibrator_gives_the_same_probabilities(tmp_path):
    Q, S, Y = _two_kinds_of_query(200, seed=2)
    cal = ScoreCalibrator(epochs=50).fit(Q, S, Y)
    cal.save(tmp_path / "cal.npz")
    back = ScoreCalibrator.load(tmp_path / "cal.npz")
    np.testing.assert_array_equal(back.calibrate(Q, S), cal.calibrate(Q, S))
    assert back.score_features == cal.score_features
    refit = ScoreCalibrator(epochs=50).fit(Q, S, Y)  # same seed, same data: same network
    np.testing.assert_allclose(refit.calibrate(Q, S), cal.calibrate(Q, S), atol=1e-6)


def test_bad_calibration_input_is_refused():
    Q, S, Y = _two_kinds_of_query(50, seed=3)
    with pytest.raises(InvalidInputError, match="not fitted"):
        ScoreCalibrator().calibrate(Q, S)
    with pytest.raises(InvalidInputError, match="same n"):
        ScoreCalibrator().fit(Q[:10], S, Y)
    with pytest.raises(InvalidInputError, match="match scores"):
        ScoreCalibrator().fit(Q, S, Y[:, :5])
    with pytest.raises(InvalidInputError, match="both relevant and non-relevant"):
        ScoreCalibrator().fit(Q, S, np.zeros_like(Y))
    bad = S.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        ScoreCalibrator().fit(Q, bad, Y)
    with pytest.raises(InvalidInputError, match="at least that many"):
        ScoreCalibrator(score_features=30).fit(Q, S, Y)
    with pytest.raises(InvalidInputError, match="score_features"):
        ScoreCalibrator(score_features=-1)


def test_relevance_labels_reads_qrels():
    labels = relevance_labels([["a", "b", "c"], ["c", "a", "z"]], [{"b": 1, "c": 0}, {"z": 2}])
    assert labels.tolist() == [[False, True, False], [False, False, True]]


def test_retriever_keeps_exactly_the_documents_at_or_above_the_threshold(conn):
    query = "what causes scurvy"
    emb = TableEmbeddings(TEXTS, [query])
    r = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection="calib",
                                   recreate=True, dense=emb, k=len(TEXTS))
    plain = r.invoke(query)
    scores = np.array([[d.metadata["score"] for d in plain]], np.float32)
    qv = np.array([emb.table[query]])
    # a calibrator fitted on this retriever's own scores (labels: the two best documents)
    rng = np.random.default_rng(0)
    Qf = qv + rng.normal(0, 0.05, (40, qv.shape[1]))
    Sf = np.repeat(scores, 40, 0) + rng.normal(0, 0.02, (40, scores.shape[1]))
    Sf = -np.sort(-Sf, axis=1)
    Yf = np.zeros_like(Sf, dtype=bool)
    Yf[:, :2] = True
    cal = ScoreCalibrator(score_features=3, epochs=100).fit(Qf, Sf, Yf)
    probs = cal.calibrate(qv, scores)[0]
    cut = float((probs[1] + probs[2]) / 2)  # between the 2nd and 3rd document
    kept = r.model_copy(update={"calibrator": cal, "score_threshold": cut}).invoke(query)
    assert [d.id for d in kept] == [d.id for d in plain[:2]]
    np.testing.assert_allclose([d.metadata["relevance"] for d in kept], probs[:2], rtol=1e-5)
    everything = r.model_copy(update={"calibrator": cal}).invoke(query, k=3)  # no threshold: k
    assert [d.id for d in everything] == [d.id for d in plain[:3]]
    np.testing.assert_allclose([d.metadata["relevance"] for d in everything], probs[:3], rtol=1e-5)
    assert r.model_copy(update={"calibrator": cal, "score_threshold": 1.0}).invoke(query) == []


def test_retriever_calibration_arguments_are_checked():
    conn = QdrantConnector(location=":memory:")
    emb = TableEmbeddings(TEXTS, [])
    Q, S, Y = _two_kinds_of_query(50, seed=4)
    fitted = ScoreCalibrator(epochs=5).fit(Q, S, Y)
    # pydantic wraps the InvalidInputError in its ValidationError (a ValueError)
    with pytest.raises(ValueError, match="give calibrator"):
        HybridRetriever(connector=conn, collection="x", dense=emb, score_threshold=0.5)
    with pytest.raises(ValueError, match="not fitted"):
        HybridRetriever(connector=conn, collection="x", dense=emb, calibrator=ScoreCalibrator())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        HybridRetriever(connector=conn, collection="x", dense=emb, calibrator=fitted, score_threshold=2)
    with pytest.raises(ValueError, match="give dense="):
        HybridRetriever(connector=conn, collection="x", sparse=BM25Encoder(), calibrator=fitted)
    with pytest.raises(ValueError, match="SparseEncoder"):  # sparse= is typed: checked too
        HybridRetriever(connector=conn, collection="x", sparse=object(), calibrator=fitted)
