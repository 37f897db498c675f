"""Encoders on the real packaged models, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from sentence_transformers import SentenceTransformer

from vectorbridge.encoders import DenseEncoder, SparseVector, SpladeEncoder, TokenEncoder, maxsim
from vectorbridge.errors import InvalidInputError

DOCS = [
    "Cats are small domesticated carnivorous mammals kept as pets.",
    "The stock market fell sharply after the central bank raised interest rates.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Proteins fold into three-dimensional structures determined by their amino acid sequence.",
]
QUERIES = ["what pets do people keep", "how do plants make energy from sunlight",
           "amino acids determine protein structure", "interest rate hike hits stocks"]
RELEVANT = [0, 2, 3, 1]


@pytest.fixture(scope="module")
def dense(minilm):
    return DenseEncoder(minilm)


def test_dense_shapes_norms_and_ranking(dense, minilm):
    X = dense.encode_documents(DOCS)
    Q = dense.encode_queries(QUERIES)
    assert dense.dim == 384
    assert X.dtype == np.float32 and X.shape == (4, 384) and Q.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert (Q @ X.T).argmax(axis=1).tolist() == RELEVANT
    direct = minilm.encode(DOCS, normalize_embeddings=True)
    np.testing.assert_allclose(X, direct, atol=1e-5)  # same numbers as sentence-transformers
    assert dense.encode_documents([]).shape == (0, 384)


def test_dense_is_a_langchain_embeddings(dense):
    assert isinstance(dense, Embeddings)
    v = dense.embed_query(QUERIES[0])
    assert isinstance(v, list) and len(v) == 384
    np.testing.assert_allclose(v, dense.encode_queries(QUERIES[:1])[0], atol=1e-6)
    docs = dense.embed_documents(DOCS[:2])
    assert len(docs) == 2 and isinstance(docs[0][0], float)


def test_dense_uses_model_prompts(minilm_path):
    prompted = SentenceTransformer(minilm_path, device="cpu",
                                   prompts={"query": "query: ", "document": "passage: "})
    enc = DenseEncoder(prompted, normalize=False)
    plain = SentenceTransformer(minilm_path, device="cpu")
    np.testing.assert_allclose(enc.encode_queries(["cats"]), plain.encode(["query: cats"]), atol=1e-5)
    np.testing.assert_allclose(enc.encode_documents(["cats"]), plain.encode(["passage: cats"]), atol=1e-5)
    assert not np.allclose(enc.encode_queries(["cats"]), enc.encode_documents(["cats"]))


def test_dense_loads_by_path_and_rejects_bad_input(minilm_path):
    enc = DenseEncoder(Path(minilm_path), device="cpu", batch_size=2)
    assert enc.encode_documents(DOCS[:3]).shape == (3, 384)
    with pytest.raises(InvalidInputError, match="wrap it"):
        enc.encode_documents("one string")
    with pytest.raises(InvalidInputError, match=r"texts\[1\] is NoneType"):
        enc.encode_documents(["ok", None])
    with pytest.raises(InvalidInputError, match="model must be a name"):
        DenseEncoder(42)


def test_token_encoder_matrices_and_maxsim(minilm):
    enc = TokenEncoder(minilm)
    mats = enc.encode_documents(DOCS)
    lengths = [len(minilm.tokenizer(d)["input_ids"]) for d in DOCS]
    assert [m.shape for m in mats] == [(n, 384) for n in lengths]  # padding removed, CLS/SEP kept
    for m in mats:
        assert m.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)
    qs = enc.encode_queries(QUERIES)
    ranking = [int(np.argmax([maxsim(q, d) for d in mats])) for q in qs]
    assert ranking == RELEVANT
    assert enc.encode_documents([]) == []


def test_splade_sparse_vectors(splade_path):
    enc = SpladeEncoder(splade_path, device="cpu")
    vocab = enc.model.tokenizer.get_vocab()
    docs = enc.encode_documents(DOCS)
    assert all(isinstance(v, SparseVector) and len(v) > 0 for v in docs)
    for v in docs:
        assert v.values.min() > 0 and int(v.indices.max()) < enc.vocab_size == len(vocab)
    assert vocab["protein"] in set(docs[3].indices.tolist())  # a lexical expansion of the text
    qs = enc.encode_queries(QUERIES)
    scores = np.array([[q.dot(d) for d in docs] for q in qs])
    assert scores.argmax(axis=1).tolist() == RELEVANT
    capped = SpladeEncoder(enc.model, max_active_dims=5).encode_documents(DOCS[:1])[0]
    assert len(capped) == 5


def test_precision_is_checked_and_auto_follows_the_hardware(monkeypatch):
    """``"auto"`` is bfloat16 only where the CPU computes it natively (emulated bfloat16 is
    several times slower than float32); unknown values are refused before any loading."""
    from vectorbridge.encoders import _st

    with pytest.raises(InvalidInputError, match="precision='fp8' is not one of"):
        DenseEncoder("/nonexistent/model", precision="fp8")
    assert _st.resolve_precision("float32", "cpu") == "float32"
    assert _st.resolve_precision("bfloat16", None) == "bfloat16"
    for native in (True, False):
        monkeypatch.setattr(_st, "cpu_has_native_bf16", lambda native=native: native)
        assert _st.resolve_precision("auto", "cpu") == ("bfloat16" if native else "float32")
    assert _st.resolve_precision("auto", "mps") == "float32"


def test_default_precision_is_auto_and_a_callers_model_keeps_its_dtype(minilm_path, monkeypatch):
    """By name or path the default follows the hardware (bfloat16 only where native); a model
    object passed in keeps its dtype under the default, and an explicit precision converts
    it."""
    import torch

    from vectorbridge.encoders import _st

    def dtype(enc):
        return next(enc.model.parameters()).dtype

    for native, want in ((False, "float32"), (True, "bfloat16")):
        monkeypatch.setattr(_st, "cpu_has_native_bf16", lambda native=native: native)
        enc = DenseEncoder(minilm_path, device="cpu")
        assert enc.precision == want and dtype(enc) == getattr(torch, want)
        assert enc.cache_namespace[2] == want  # a shared query cache keeps them apart
    own = SentenceTransformer(minilm_path, device="cpu")
    assert DenseEncoder(own).precision == "float32" and dtype(DenseEncoder(own)) == torch.float32
    own.to(torch.bfloat16)
    kept = DenseEncoder(own)
    assert kept.precision == "bfloat16" and dtype(kept) == torch.bfloat16
    assert TokenEncoder(own).precision == "bfloat16"
    assert DenseEncoder(own, precision="float32").precision == "float32"
    assert next(own.parameters()).dtype == torch.float32  # explicit: converted in place
    own.to(torch.float16)
    assert DenseEncoder(own).precision == "float16"  # named as it is, never called float32
    assert dtype(DenseEncoder(own, precision="float32")) == torch.float32
    chosen = DenseEncoder(minilm_path, device="cpu", model_kwargs={"dtype": torch.float16})
    assert chosen.precision == "float16" and dtype(chosen) == torch.float16  # the caller's choice


def test_auto_on_cuda_is_bfloat16_only_where_the_gpu_computes_it(monkeypatch):
    """Compute capability 8.0+ (Ampere on) has bfloat16 units; older GPUs emulate it, so
    ``"auto"`` keeps float32 there, for the device asked for."""
    import torch

    from vectorbridge.encoders import _st

    asked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for major, want in ((7, "float32"), (8, "bfloat16")):
        monkeypatch.setattr(torch.cuda, "get_device_capability",
                            lambda d, major=major: asked.append(str(d)) or (major, 0))
        assert _st.resolve_precision("auto", "cuda:1") == want
    assert asked == ["cuda:1", "cuda:1"]


def test_bfloat16_encoder_gives_float32_vectors_close_to_float32(minilm_path):
    """bfloat16 weights, float32 outputs, same directions (dense and per-token)."""
    texts = ["a cat sat on the mat", "stars fuse hydrogen", "bread rises with yeast"]
    full = DenseEncoder(minilm_path, device="cpu", precision="float32").encode_documents(texts)
    half = DenseEncoder(minilm_path, device="cpu", precision="bfloat16")
    assert half.precision == "bfloat16"
    got = half.encode_documents(texts)
    assert got.dtype == np.float32 and got.shape == full.shape
    assert np.all(np.sum(got * full, axis=1) > 0.99)
    tok = TokenEncoder(minilm_path, device="cpu", precision="bfloat16").encode_documents(texts)
    assert all(m.dtype == np.float32 and np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-3)
               for m in tok)


def test_onnx_backend_matches_torch_and_int8_keeps_the_ranking(minilm_path, tmp_path,
                                                               monkeypatch):
    """backend="onnx" runs the same weights on ONNX Runtime inside the same
    sentence-transformers pipeline (prompts, pooling, normalisation, token outputs): float32
    equals torch; int8 stays close and keeps every query's best document. Exporting and
    quantizing write only into the cache: nothing lands in the working directory (onnxruntime
    tools write scratch models into the CWD; two once ended up in the repository)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    cache = tmp_path / "onnx"
    torch_dense = DenseEncoder(minilm_path, device="cpu", precision="float32")
    onnx_dense = DenseEncoder(minilm_path, device="cpu", backend="onnx", onnx_cache=cache)
    assert onnx_dense.onnx_path is not None and onnx_dense.onnx_path.is_relative_to(cache)
    np.testing.assert_allclose(onnx_dense.encode_documents(DOCS), torch_dense.encode_documents(DOCS),
                               atol=1e-5)
    np.testing.assert_allclose(onnx_dense.embed_query(QUERIES[0]), torch_dense.embed_query(QUERIES[0]),
                               atol=1e-5)
    torch_tok = TokenEncoder(minilm_path, device="cpu", precision="float32").encode_documents(DOCS)
    onnx_tok = TokenEncoder(minilm_path, device="cpu", backend="onnx", onnx_cache=cache)
    for a, b in zip(torch_tok, onnx_tok.encode_documents(DOCS)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5)

    int8 = DenseEncoder(minilm_path, device="cpu", backend="onnx", quantize="int8", onnx_cache=cache)
    assert int8.onnx_path.name == "model-int8.onnx"
    full, q = torch_dense.encode_documents(DOCS), int8.encode_documents(DOCS)
    assert np.all(np.sum(full * q, axis=1) > 0.95)
    best = (int8.encode_queries(QUERIES) @ q.T).argmax(axis=1)
    assert best.tolist() == RELEVANT
    assert list(cwd.iterdir()) == []


def test_onnx_exports_are_cached_by_weights(minilm_path, tmp_path):
    """A second load reuses the export; other weights get their own (a stale export of a
    changed model is never used)."""
    cache = tmp_path / "onnx"
    first = DenseEncoder(minilm_path, device="cpu", backend="onnx", onnx_cache=cache).onnx_path
    stamp = first.stat().st_mtime_ns
    again = DenseEncoder(minilm_path, device="cpu", backend="onnx", onnx_cache=cache).onnx_path
    assert again == first and again.stat().st_mtime_ns == stamp
    model = SentenceTransformer(minilm_path, device="cpu")
    import torch

    with torch.no_grad():
        model[0].model.embeddings.word_embeddings.weight[5] += 1.0
    changed = DenseEncoder(model, backend="onnx", onnx_cache=cache)
    assert changed.onnx_path != first
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == sorted(
        {first.parent.name, changed.onnx_path.parent.name})
    assert not any(p.name.startswith("tmp") for p in first.parent.iterdir())  # nothing half-written


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "tensorrt"}, "backend='tensorrt' is not one of"),
    ({"backend": "onnx", "quantize": "int4"}, "quantize='int4' is not one of"),
    ({"quantize": "int8"}, "needs backend='onnx'"),
    ({"backend": "onnx", "precision": "bfloat16"}, "precision='bfloat16' is for backend='torch'"),
    ({"backend": "onnx", "device": "cuda"}, "runs on the CPU"),
])
def test_onnx_backend_refuses_what_cannot_run(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        DenseEncoder("/nonexistent/model", **kwargs)  # refused before any loading


def test_splade_has_no_onnx_backend(splade_path):
    with pytest.raises(InvalidInputError, match="not available for SpladeEncoder"):
        SpladeEncoder(splade_path, backend="onnx")
