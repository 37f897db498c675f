"""Pure units: the filter compilers, CollectionSpec, SparseVector, the public names."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qdrant_client import models

import vectorbridge
import vectorbridge.connectors as connectors
import vectorbridge.encoders as encoders
from vectorbridge.connectors import CollectionSpec, DenseField, F, Filter, Metric
from vectorbridge.connectors.milvus.filter import ids_expr, literal, to_milvus
from vectorbridge.connectors.qdrant import ID_NAMESPACE, point_id
from vectorbridge.connectors.qdrant.filter import to_qdrant
from vectorbridge.encoders import SparseVector
from vectorbridge.errors import InvalidInputError


@pytest.mark.parametrize("value", ['" or 1==1 or "', 'a\\" or true or \\"', "x\\", 'end"', "\n\t\x01"])
def test_milvus_literal_is_one_token(value):
    lit = literal(value)
    assert lit.startswith('"') and lit.endswith('"')
    body = lit[1:-1]
    i = 0
    while i < len(body):  # every quote inside is escaped; no bare backslash at the end
        if body[i] == "\\":
            i += 2
            continue
        assert body[i] != '"', lit
        i += 1
    assert i == len(body)


def test_milvus_expression_shape():
    expr = to_milvus((F("lang") == "en") & ~(F("year") >= 2000) | F("meta.tag").isin(["a", "b"]))
    assert expr == (
        '((((exists payload["lang"]) and payload["lang"] == "en") and '
        '(not ((exists payload["year"]) and (not (payload["year"] like "%")) and '
        'payload["year"] >= 2000))) or '
        '((exists payload["meta"]["tag"]) and (payload["meta"]["tag"] == "a" or payload["meta"]["tag"] == "b")))'
    )
    assert ids_expr("id", ['a"b']) == 'id in ["a\\"b"]'
    # \n \t \r escaped (every parser reads those); other control characters go in raw.
    assert to_milvus(F("t") == "a\nb\x1fc\\") == '((exists payload["t"]) and payload["t"] == "a\\nb\x1fc\\\\")'
    assert to_milvus(None) == ""


def test_qdrant_filter_shape():
    f = to_qdrant((F("lang") == "en") & ~(F("score") == 2.5))
    assert isinstance(f, models.Filter)
    must = f.must
    assert must[0].match == models.MatchValue(value="en")
    assert must[1].must_not[0].range == models.Range(gte=2.5, lte=2.5)  # float equality
    assert to_qdrant(F("n").isin([1, 2])).must[0].match == models.MatchAny(any=[1, 2])
    assert to_qdrant(None) is None


@pytest.mark.parametrize("key", ['lang"] or 1', "a b", "", "x[0]", ".a", "a..b", 3])
def test_bad_filter_keys_rejected(key):
    with pytest.raises(InvalidInputError, match="filter key"):
        F(key) if isinstance(key, str) else Filter.from_dict({key: 1})


@pytest.mark.parametrize("bad", [
    {"$where": "1"}, {"a": {"$regex": "x"}}, {"a": {"$in": []}}, {"a": float("nan")},
    {"a": [1, 2]}, {"a": {"$in": [1, "x"]}}, {"a": {"$gt": "z"}}, {},
])
def test_bad_filter_dicts_rejected(bad):
    with pytest.raises(InvalidInputError):
        Filter.from_dict(bad)


def test_filter_dict_equals_builder():
    d = Filter.from_dict({"lang": "en", "year": {"$gte": 2000, "$lt": 2010},
                          "$or": [{"a": 1}, {"b": {"$ne": 2}}]})
    payloads = [{"lang": "en", "year": 2005, "a": 1}, {"lang": "en", "year": 2005, "b": 2},
                {"lang": "de", "year": 2005, "a": 1}, {"lang": "en", "year": 2015, "a": 1}]
    assert [d.matches(p) for p in payloads] == [True, False, False, False]


def test_spec_normalises_and_round_trips():
    spec = CollectionSpec(name="docs", dense={"dense": 384, "img": DenseField(512, "dot")},
                          sparse=["bm25"], multivector={"tok": 128}, binary={"bits": 256})
    assert spec.dense["img"].metric is Metric.DOT
    assert set(spec.fields) == {"dense", "img", "bm25", "tok", "bits"}
    assert CollectionSpec.from_json(spec.to_json()).to_json() == spec.to_json()
    codes = CollectionSpec(name="c", multivector={"t": {"dim": 98, "dtype": "uint8", "encoding": "x"}})
    back = CollectionSpec.from_json(codes.to_json())
    assert back.multivector["t"].codes and back.multivector["t"].encoding == "x"
    assert not spec.multivector["tok"].codes
    with pytest.raises(InvalidInputError, match="no field 'nope'.*'bm25'"):
        spec.field("nope")


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="bad name", dense={"d": 3}), "collection name"),
    (dict(name="a__b", dense={"d": 3}), "collection name"),
    (dict(name="ok"), "no vector field"),
    (dict(name="ok", dense={"d": 0}), "dim"),
    (dict(name="ok", dense={"d": 3}, sparse=["d"]), "declared twice"),
    (dict(name="ok", dense={"id": 3}), "reserved"),
    (dict(name="ok", binary={"b": 12}), "multiple of 8"),
    (dict(name="ok", sparse="bm25"), "list of field names"),
    (dict(name="ok", multivector={"t": {"dim": 8, "dtype": "int4"}}), "multivector dtype"),
    (dict(name="ok", dense={"d": 3}, payload_indexes={"y": "int"}), "'keyword', 'integer'"),
    (dict(name="ok", dense={"d": 3}, payload_indexes={"a.b": "integer"}), "top-level"),
    (dict(name="ok", dense={"d": 3}, payload_indexes={"_vb_x": "bool"}), "reserved"),
    (dict(name="ok", dense={"d": 3}, payload_indexes=["y"]), "mapping"),
    (dict(name="ok", dense={"d": 3}, group_key="doc", payload_indexes={"doc": "integer"}),
     "index it as 'keyword'"),
    (dict(name="ok", dense={"d": DenseField(3, on_disk="yes")}), "on_disk"),
])
def test_bad_specs_rejected(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        CollectionSpec(**kwargs)


def test_payload_indexes_compile_to_typed_columns_where_the_values_have_their_type():
    spec = CollectionSpec(name="c", dense={"d": 2}, payload_indexes={"year": "integer", "lang": "keyword"})
    assert CollectionSpec.from_json(spec.to_json()).payload_indexes == {"lang": "keyword", "year": "integer"}
    assert not spec.same_fields(CollectionSpec(name="c", dense={"d": 2}))
    cols = spec.payload_indexes
    assert to_milvus((F("year") >= 2000) & F("lang").isin(["en", "de"]), cols) == (
        '((_vb_key_year >= 2000) and (_vb_key_lang == "en" or _vb_key_lang == "de"))')
    # another type than the column's (or a key it does not index) keeps the JSON path,
    # where it means what it means on every engine
    assert to_milvus(F("year") == "2000", cols) == to_milvus(F("year") == "2000")
    assert to_milvus(F("year") == 2000.5, cols) == to_milvus(F("year") == 2000.5)
    assert to_milvus(F("lang") > 3, cols) == to_milvus(F("lang") > 3)
    assert to_milvus(F("other") == 1, cols) == to_milvus(F("other") == 1)


def test_rows_missing_an_indexed_key_are_refused_before_any_write():
    from vectorbridge.connectors.validation import prepare_rows

    spec = CollectionSpec(name="c", dense={"d": 2}, payload_indexes={"year": "integer", "ok": "bool"})
    X = np.ones((2, 2), np.float32)
    good = [{"year": 2001, "ok": True}, {"year": -5, "ok": False}]
    assert prepare_rows(spec, ["a", "b"], {"d": X}, good).payloads == good
    for bad in ({"ok": True}, {"year": "2001", "ok": True}, {"year": True, "ok": True},
                {"year": 2 ** 63, "ok": True}, {"year": 1, "ok": 1}):
        with pytest.raises(InvalidInputError, match=r"payloads\[1\].*payload_indexes"):
            prepare_rows(spec, ["a", "b"], {"d": X}, [good[0], bad])


def test_sparse_vector_validation_and_normalisation():
    v = SparseVector([9, 2, 5], [0.5, 1.0, 0.0])
    assert v.indices.tolist() == [2, 5, 9] and v.values.tolist() == [1.0, 0.0, 0.5]
    assert v.indices.dtype == np.uint32 and v.values.dtype == np.float32
    assert SparseVector.from_dict(v.to_dict()) == v
    assert v.dot(SparseVector([9, 2], [2.0, 1.0])) == pytest.approx(2.0)
    for bad, msg in [(([1, 1], [1.0, 2.0]), "duplicate"), (([1], [-1.0]), ">= 0"),
                     (([1], [np.nan]), "NaN"), (([-1], [1.0]), r"\[0, "), (([2**33], [1.0]), r"\[0, "),
                     (([1, 2], [1.0]), "equal length"), (([1.5], [1.0]), "integers")]:
        with pytest.raises(InvalidInputError, match=msg):
            SparseVector(np.asarray(bad[0]), np.asarray(bad[1]))


def test_public_names_are_pinned():
    assert set(encoders.__all__) == {"DenseEncoder", "BM25Encoder", "SpladeEncoder",
                                     "TokenEncoder", "SparseVector", "maxsim", "FDEEncoder",
                                     "BinaryQuantizer", "ProductQuantizer", "TokenPooler",
                                     "ResidualCodec", "LinearReducer", "QueryAdapter",
                                     "QueryCache", "CachedQueryEmbeddings"}
    assert {"CollectionSpec", "QdrantConnector", "MilvusConnector", "F", "Filter", "Hit",
            "Record", "Fusion", "RetryPolicy", "IngestJournal", "WriteReport",
            "WriteMode", "TenantConnector"} <= set(connectors.__all__)
    assert {"ServerUnavailableError", "TenantScopeError", "StoreLockedError",
            "MissingDependencyError"} <= \
        set(vectorbridge.__all__)
    from vectorbridge import retrievers

    assert {"VectorBridgeStore", "HybridRetriever", "CrossEncoderReranker",
            "MaxSimReranker", "PseudoRelevanceFeedback", "ScoreCalibrator"} <= set(retrievers.__all__)
    for mod in (vectorbridge, encoders, connectors, retrievers):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name} is exported but missing"


def test_secrets_stay_out_of_repr(tmp_path):
    q = connectors.QdrantConnector(location=":memory:", api_key="s3cret-key")
    assert "s3cret" not in repr(q)


def test_pinned_values_is_what_every_match_must_have():
    """A query routed to the pinned values' shards misses nothing: every payload the filter
    matches carries one of them (checked over a grid of payloads)."""
    from vectorbridge.connectors.filters import pinned_values

    cases = {
        F("t") == "a": {"a"},
        F("t").isin(["a", "b"]): {"a", "b"},
        (F("t") == "a") & (F("n") > 1): {"a"},
        F("t").isin(["a", "b"]) & F("t").isin(["b", "c"]): {"b"},
        (F("t") == "a") | (F("t") == "c"): {"a", "c"},
        (F("t") == "a") | (F("n") > 1): None,
        ~(F("t") == "a"): None,
        F("n") > 1: None,
        F("u") == "a": None,
    }
    grid = [{"t": t, "n": n} for t in ("a", "b", "c", "d") for n in (0, 2)] + [{"n": 2}]
    for flt, want in cases.items():
        got = pinned_values(flt, "t")
        assert (None if got is None else set(got)) == want, flt
        if got is not None:
            assert all(p.get("t") in got for p in grid if flt.matches(p)), flt
    assert pinned_values(None, "t") is None


@settings(max_examples=300, deadline=None)
@given(original=st.text(max_size=40) | st.sampled_from(["", "doc-1", "ünï ✓ 漢字", "emoji 🙂", "x" * 512]))
def test_qdrant_point_id_is_uuid5_of_the_original(original):
    # Points already stored carry uuid5 ids: the fast digest path must give exactly those,
    # or a re-upsert would write a second copy instead of replacing the point.
    assert point_id(original) == str(uuid.uuid5(ID_NAMESPACE, original))


flat_values = st.one_of(st.text(max_size=30), st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                        st.lists(st.integers(), max_size=2), st.sampled_from(["x" * 11_000, "\ud800"]))


@settings(max_examples=400, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=8), flat_values, max_size=5))
def test_payload_size_bound_never_admits_what_the_encoder_refuses(payload):
    # Payloads under the bound skip JSON encoding: the bound must be a true upper bound, and
    # only payloads that encode cleanly may take that path.
    import json

    from vectorbridge.connectors.validation import MAX_PAYLOAD_BYTES, check_payloads, flat_json_bound

    bound = flat_json_bound(payload)
    try:
        exact = len(json.dumps(payload, allow_nan=False, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError):
        exact = None
    if bound is not None:
        assert exact is not None and exact <= bound
    if exact is None or exact > MAX_PAYLOAD_BYTES:
        with pytest.raises(InvalidInputError):
            check_payloads([payload], 1, None)
    elif not any(k.startswith("_vb") for k in payload):
        assert check_payloads([payload], 1, None) == [payload]


def test_payload_size_bound_covers_the_limit_exactly():
    from vectorbridge.connectors.validation import MAX_PAYLOAD_BYTES, check_payloads

    at_limit = {"t": "a" * (MAX_PAYLOAD_BYTES - len('{"t": ""}'))}
    assert check_payloads([at_limit], 1, None) == [at_limit]  # exact size decides at the edge
    with pytest.raises(InvalidInputError, match="bytes as JSON"):
        check_payloads([{"t": "a" * MAX_PAYLOAD_BYTES}], 1, None)
    with pytest.raises(InvalidInputError, match="not JSON-serialisable"):
        check_payloads([{"t": float("nan")}], 1, None)


def test_token_fields_never_searched_get_no_graph():
    """``MultiVectorField(index=False)`` (the FDE layout's tokens): Qdrant builds no HNSW graph
    (``m=0``), Milvus a FLAT companion index; the default keeps both."""
    from vectorbridge.connectors.milvus.schema import token_schema
    from vectorbridge.connectors.qdrant.convert import _vector_params
    from vectorbridge.connectors.spec import MultiVectorField

    assert _vector_params(MultiVectorField(8, index=False)).hnsw_config.m == 0
    assert _vector_params(MultiVectorField(8)).hnsw_config is None
    _, idx = token_schema(MultiVectorField(8, index=False), "AUTOINDEX")
    assert [i.index_type for i in idx] == ["FLAT"]
    _, idx = token_schema(MultiVectorField(8), "AUTOINDEX")
    assert [i.index_type for i in idx] == ["AUTOINDEX"]
    with pytest.raises(InvalidInputError, match="index"):
        CollectionSpec(name="x", multivector={"t": {"dim": 8, "index": "no"}})
