"""TurboQuant as an engine quantization of a dense field, ranking with or without the float
originals, and ACORN for filtered searches (``QdrantConnector(acorn=...)``); refused with the
alternatives on engines without them."""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.connectors import CollectionSpec, DenseField, F, QdrantConnector
from vectorbridge.connectors.qdrant.edge import edge_params
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError
from tests.backends import unique_name

DIM, N = 64, 1500


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(N, DIM)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = X[:40] + 0.1 * rng.normal(size=(40, DIM)).astype(np.float32)
    return X, Q


def _recall(conn, name, X, Q) -> float:
    out = []
    for q in Q:
        got = {h.id for h in conn.search(name, "d", q, k=10)}
        out.append(len(got & {str(i) for i in np.argsort(-(X @ q))[:10]}) / 10)
    return float(np.mean(out))


def _build(conn, X, quantization, rescore=True) -> str:
    name = unique_name("tq")
    conn.create_collection(CollectionSpec(name=name, dense={"d": DenseField(
        DIM, quantization=quantization, rescore=rescore)}))
    conn.upsert(name, [str(i) for i in range(N)], {"d": X}, batch_size=500)
    conn.optimize(name)
    return name


def test_turbo_quant_compresses_and_rescoring_restores(conn, data):
    X, Q = data
    spec = CollectionSpec(name="probe", dense={"d": DenseField(DIM, quantization="turbo-1bit")})
    if conn.unsupported(spec):
        with pytest.raises(UnsupportedFeatureError, match="scalar-int8"):
            conn.create_collection(spec.renamed(unique_name("tq")))
        pytest.skip(f"{conn.engine} has no TurboQuant")
    rescored = _recall(conn, _build(conn, X, "turbo-4bit"), X, Q)
    assert rescored >= 0.95
    codes_only = _recall(conn, _build(conn, X, "turbo-1bit", rescore=False), X, Q)
    with_floats = _recall(conn, _build(conn, X, "turbo-1bit"), X, Q)
    if conn.capabilities.quantization:  # the engine ranks by 1-bit codes: visibly worse
        assert codes_only < with_floats
    else:  # accepted, not applied (qdrant-client local mode): exact either way
        assert codes_only == with_floats == 1.0


def test_rescore_flag_is_part_of_the_spec():
    with pytest.raises(InvalidInputError, match="rescore"):
        CollectionSpec(name="x", dense={"d": DenseField(8, quantization="turbo-2bit", rescore="no")})
    spec = CollectionSpec(name="x", dense={"d": DenseField(8, quantization="turbo-2bit", rescore=False)})
    assert CollectionSpec.from_json(spec.to_json()).dense["d"].rescore is False


def test_acorn_reaches_filtered_searches_only(tmp_path, data):
    X, Q = data
    conn = QdrantConnector(path=str(tmp_path / "edge"), acorn=0.2)
    conn.create_collection(CollectionSpec(name="a", dense={"d": DIM}))
    conn.upsert("a", [str(i) for i in range(N)], {"d": X}, [{"g": i % 50} for i in range(N)],
                batch_size=500)
    conn.optimize("a")
    f = conn.spec("a").field("d")
    flt = F("g") == 7
    params = edge_params(conn.backend._params(f, flt))
    assert params.acorn.enable and params.acorn.max_selectivity == pytest.approx(0.2)
    assert conn.backend._params(f, None) is None  # unfiltered searches: no ACORN
    for q in Q[:10]:  # a 2 % filter: still the exact filtered top 10
        got = [h.id for h in conn.search("a", "d", q, k=10, filter=flt)]
        s = np.where(np.arange(N) % 50 == 7, X @ q, -np.inf)
        assert got == [str(i) for i in np.argsort(-s)[:10]]
    conn.close()
    with pytest.raises(InvalidInputError, match="max_selectivity"):
        QdrantConnector(location=":memory:", acorn=2.0)


def test_hnsw_ef_widens_the_graph_walk_of_dense_searches(tmp_path, data):
    """``QdrantConnector(hnsw_ef=...)`` reaches Edge's search parameters for dense fields
    (not sparse ones), and a wide walk over the graph finds the exact top 10."""
    X, Q = data
    conn = QdrantConnector(path=str(tmp_path / "edge"), hnsw_ef=400)
    conn.create_collection(CollectionSpec(name="a", dense={"d": DIM}, sparse=["s"]))
    conn.upsert("a", [str(i) for i in range(N)], {"d": X, "s": [{1: 1.0}] * N}, batch_size=500)
    conn.optimize("a")
    spec = conn.spec("a")
    assert edge_params(conn.backend._params(spec.field("d"), None)).hnsw_ef == 400
    assert conn.backend._params(spec.field("s"), None) is None
    for q in Q[:10]:
        got = [h.id for h in conn.search("a", "d", q, k=10)]
        assert got == [str(i) for i in np.argsort(-(X @ q))[:10]]
    conn.close()
    for bad in (0, True, 2.5):
        with pytest.raises(InvalidInputError, match="hnsw_ef"):
            QdrantConnector(location=":memory:", hnsw_ef=bad)
