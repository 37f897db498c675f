"""LinearReducer (LeanVec-style projection): the fit's mechanics and its two variants, persistence,
refusals, and ``HybridRetriever(reducer=...)`` on every engine: a reduced first stage,
engine quantization stacked on it, full-vector rescoring, filters, fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.bench.data import embeddings_for
from vectorbridge.connectors import F
from vectorbridge.connectors.spec import DenseField
from vectorbridge.encoders import BinaryQuantizer, BM25Encoder, LinearReducer, TokenEncoder
from vectorbridge.errors import InvalidInputError, SpecMismatchError, UnsupportedFeatureError
from vectorbridge.retrievers import HybridRetriever
from tests.backends import unique_name

N, DIM, LATENT = 400, 48, 10


@pytest.fixture(scope="module")
def low_rank():
    """Unit vectors near a 10-d subspace of 48-d, and queries near some of them."""
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(DIM, LATENT)))[0]
    X = rng.normal(size=(N, LATENT)) @ basis.T + 0.03 * rng.normal(size=(N, DIM))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    Q = (X[:25] + 0.05 * rng.normal(size=(25, DIM))).astype(np.float32)
    return X, Q


def test_fit_is_an_orthonormal_deterministic_projection(low_rank):
    X, _ = low_rank
    red = LinearReducer(dim=12).fit(X)
    Xr = red.transform(X)
    assert Xr.shape == (N, 12) and Xr.dtype == np.float32
    assert np.allclose(red.components.T @ red.components, np.eye(12), atol=1e-5)
    assert red.kept > 0.98 and red.variant == "documents"  # the 10-d subspace is kept
    assert np.array_equal(LinearReducer(dim=12).fit(X).components, red.components)
    # inner products survive: the data lives in the kept subspace
    assert np.abs(Xr[:50] @ Xr[:50].T - X[:50] @ X[:50].T).max() < 0.05
    assert np.abs(LinearReducer(dim=4).fit(X).transform(X)[:50] @
                  LinearReducer(dim=4).fit(X).transform(X)[:50].T - X[:50] @ X[:50].T).max() > 0.1


def test_ood_fit_keeps_the_directions_queries_use():
    """Documents spread widely along directions no query uses; the query-aware fit keeps
    the directions queries and documents share, the documents-only fit does not."""
    rng = np.random.default_rng(0)
    n, d = 2000, 32
    X = rng.normal(size=(n, d)) * np.r_[np.full(8, 3.0), np.full(24, 1.0)]  # 8 loud dims
    Q = rng.normal(size=(1000, d)) * np.r_[np.zeros(8), np.ones(8), np.zeros(16)]  # 8 quiet ones
    exact = Q @ X.T

    def error(red):
        return np.abs(red.transform(Q) @ red.transform(X).T - exact).mean()

    docs_only = LinearReducer(dim=8).fit(X)
    ood = LinearReducer(dim=8).fit(X, queries=Q)
    assert ood.variant == "queries+documents"
    assert error(ood) < 0.5 * error(docs_only)
    # query_weight=0 is the documents-only fit
    assert np.allclose(np.abs(LinearReducer(dim=8, query_weight=0.0).fit(X, queries=Q).components),
                       np.abs(docs_only.components), atol=1e-4)


def test_save_load_round_trip_and_fingerprint(tmp_path, low_rank):
    X, _ = low_rank
    red = LinearReducer(dim=12).fit(X)
    red.save(tmp_path / "r.npz")
    back = LinearReducer.load(tmp_path / "r.npz")
    assert np.array_equal(back.transform(X), red.transform(X))
    assert back.fingerprint() == red.fingerprint() and back.kept == red.kept
    assert LinearReducer(dim=12).fit(X[:200]).fingerprint() != red.fingerprint()
    np.savez(tmp_path / "evil.npz", config=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InvalidInputError, match="pickle"):
        LinearReducer.load(tmp_path / "evil.npz")


def test_refusals(low_rank):
    X, Q = low_rank
    for bad in (0, -3, 2.5, True):
        with pytest.raises(InvalidInputError, match="dim"):
            LinearReducer(dim=bad)
    with pytest.raises(InvalidInputError, match="query_weight"):
        LinearReducer(dim=4, query_weight=1.5)
    with pytest.raises(InvalidInputError, match="must reduce"):
        LinearReducer(dim=DIM).fit(X)
    with pytest.raises(InvalidInputError, match="not fitted"):
        LinearReducer(dim=4).transform(X)
    with pytest.raises(InvalidInputError, match=r"\(n, 48\)"):
        LinearReducer(dim=4).fit(X, queries=Q[:, :10])
    with pytest.raises(InvalidInputError, match=r"\(n, 48\)"):
        LinearReducer(dim=4).fit(X).transform(X[:, :10])
    with pytest.raises(InvalidInputError, match="NaN"):
        LinearReducer(dim=4).fit(np.full((5, DIM), np.nan))


def test_retriever_options_are_checked_before_anything_is_written(conn, low_rank):
    X, Q = low_rank
    emb = embeddings_for([f"d{i}" for i in range(N)], X, [], np.zeros((0, DIM), np.float32))
    base = dict(connector=conn, collection="never", dense=emb)
    with pytest.raises(InvalidInputError, match="LinearReducer"):
        HybridRetriever(**base, reducer="pca")
    with pytest.raises(InvalidInputError, match="reducer="):
        HybridRetriever(**base, full_vectors=False)
    with pytest.raises(UnsupportedFeatureError, match="engine quantization"):
        HybridRetriever(**base, reducer=LinearReducer(8), quantizer=BinaryQuantizer(1))
    with pytest.raises(UnsupportedFeatureError, match="multivector"):
        HybridRetriever(**base, reducer=LinearReducer(8), multivector=TokenEncoder.__new__(TokenEncoder))
    with pytest.raises(InvalidInputError, match="give dense"):
        HybridRetriever(connector=conn, collection="never", sparse=BM25Encoder(),
                        reducer=LinearReducer(8))
    assert not conn.has_collection("never")


@pytest.mark.parametrize("quantization", [None, "scalar-int8"])
def test_reduced_first_stage_then_full_rescoring(conn, low_rank, quantization):
    X, Q = low_rank
    texts, qtexts = [f"d{i}" for i in range(N)], [f"q{i}" for i in range(len(Q))]
    emb = embeddings_for(texts, X, qtexts, Q)
    name = unique_name("red")
    red = LinearReducer(dim=12)
    opts = dict(connector=conn, collection=name, dense=emb, reducer=red, quantizer=quantization,
                k=10)
    try:
        r = HybridRetriever.from_texts(texts, ids=[str(i) for i in range(N)],
                                       metadatas=[{"g": i % 4} for i in range(N)], **opts)
    except UnsupportedFeatureError as e:  # an engine with one vector field, or no IVF_SQ8
        assert "vector field" in str(e) or "scalar-int8" in str(e) or "quantiz" in str(e)
        pytest.skip(f"{conn.engine}: {e}")
    assert red.components is not None  # fitted on the first chunk
    spec = conn.spec(name)
    assert spec.dense["reduced"].dim == 12 and spec.dense["reduced"].encoding == red.fingerprint()
    assert spec.dense["reduced"].quantization == quantization
    assert spec.dense["dense"] == DenseField(DIM, index=False)
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    exact = np.argsort(-(Qn @ X.T), axis=1, kind="stable")[:, :10]
    for i, q in enumerate(qtexts):  # rescored by the full vectors: the exact top 10, cosines
        docs = r.invoke(q)
        assert {d.id for d in docs} == {str(j) for j in exact[i]}
        top = int(docs[0].id)
        assert docs[0].metadata["score"] == pytest.approx(float(Qn[i] @ X[top]), abs=1e-3)
        filtered = r.invoke(q, filter=F("g") == 1)  # the filter applies in the first stage
        want = [j for j in np.argsort(-(Qn[i] @ X.T), kind="stable") if j % 4 == 1][:10]
        assert [d.id for d in filtered] == [str(j) for j in want]
    # a reducer fitted on other data is refused, not silently mixed
    other = LinearReducer(dim=12).fit(X[:100])
    with pytest.raises(SpecMismatchError, match="reducer"):
        HybridRetriever(**dict(opts, reducer=other)).invoke(qtexts[0])


def test_reduced_field_alone_without_full_vectors(conn, low_rank):
    X, Q = low_rank
    texts, qtexts = [f"d{i}" for i in range(N)], [f"q{i}" for i in range(len(Q))]
    emb = embeddings_for(texts, X, qtexts, Q)
    name = unique_name("redonly")
    try:
        r = HybridRetriever.from_texts(texts, ids=[str(i) for i in range(N)], connector=conn,
                                       collection=name, dense=emb, reducer=LinearReducer(dim=6),
                                       full_vectors=False, k=10)
    except UnsupportedFeatureError as e:
        pytest.skip(f"{conn.engine}: {e}")
    assert set(conn.spec(name).dense) == {"reduced"}  # the full vectors are not stored
    red = r.reducer
    Qr, Xr = red.transform(Q / np.linalg.norm(Q, axis=1, keepdims=True)), red.transform(X)
    for i, q in enumerate(qtexts[:10]):  # ranked by the reduced dot products
        docs = r.invoke(q)
        assert docs[0].metadata["score"] == pytest.approx(float((Xr @ Qr[i]).max()), abs=1e-3)


def test_reducer_beside_sparse_fuses_the_full_vector_ranking(conn, low_rank):
    """With a sparse branch, the full-vector ranking of the candidates joins the fusion: its
    best document is in the fused top 10, and the filter holds in every branch."""

    X, Q = low_rank
    texts = [f"doc{i} topic{i % 5}" for i in range(N)]
    qtexts = [f"topic{i % 5} question{i}" for i in range(len(Q))]
    emb = embeddings_for(texts, X, qtexts, Q)
    try:
        r = HybridRetriever.from_texts(texts, ids=[str(i) for i in range(N)],
                                       metadatas=[{"g": i % 4} for i in range(N)], connector=conn,
                                       collection=unique_name("redhy"), dense=emb,
                                       sparse=BM25Encoder(), reducer=LinearReducer(dim=12), k=10)
    except UnsupportedFeatureError as e:
        pytest.skip(f"{conn.engine}: {e}")
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    for i, q in enumerate(qtexts[:10]):
        assert str(int(np.argmax(Qn[i] @ X.T))) in {d.id for d in r.invoke(q)}
        assert {int(d.id) % 4 for d in r.invoke(q, filter=F("g") == 2)} == {2}
