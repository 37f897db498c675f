"""Binary and product quantizers against faiss and brute-force references."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from vectorbridge.encoders import BinaryQuantizer, ProductQuantizer
from vectorbridge.errors import InvalidInputError


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 64))
    x = centers[rng.integers(0, 20, 3000)] + 0.6 * rng.normal(size=(3000, 64))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall_at(idx: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(idx, truth)]))


# -- binary --------------------------------------------------------------------------------

def test_one_bit_codes_and_hamming_match_faiss(X):
    bq = BinaryQuantizer(bits=1).fit(X)
    codes = bq.encode(X)
    np.testing.assert_array_equal(codes, np.packbits(X > 0, axis=1))  # documented bit order
    assert bq.bytes_per_vector == 8 and codes.shape == (3000, 8)
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    D, _ = index.search(codes[:7], 3000)
    ours = bq.hamming(codes, codes[:7])
    np.testing.assert_array_equal(np.sort(ours, axis=1), D)
    scores, idx = bq.search(codes, X[:7], k=5)
    assert scores.shape == idx.shape == (7, 5)
    assert (idx[:, 0] == np.arange(7)).all() and (np.diff(scores, axis=1) <= 0).all()


@pytest.mark.parametrize("bits", [2, 4])
def test_thermometer_hamming_is_level_l1(X, bits):
    bq = BinaryQuantizer(bits=bits).fit(X)
    codes = bq.encode(X[:300])
    lv = bq.levels_of(codes)
    assert lv.min() == 0 and lv.max() == bits and codes.shape[1] == 64 * bits // 8
    want = np.abs(lv[:5, None, :] - lv[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(bq.hamming(codes, codes[:5]), want)
    dec = bq.decode(codes)  # each level decodes to its mean: closer than the 1-bit decoding
    err1 = np.abs(BinaryQuantizer(1).fit(X).decode(BinaryQuantizer(1).fit(X).encode(X[:300])) - X[:300]).mean()
    assert np.abs(dec - X[:300]).mean() < err1
    s, i = bq.search(codes, X[:4], k=3, mode="asymmetric")
    ref = X[:4] @ dec.T
    np.testing.assert_array_equal(i, np.argsort(-ref, axis=1, kind="stable")[:, :3])


def test_more_bits_and_asymmetric_retrieve_better(X):
    truth = np.argsort(-(X[:200] @ X.T), axis=1)[:, :10]
    r1 = recall_at(BinaryQuantizer(1).fit(X).search(BinaryQuantizer(1).fit(X).encode(X), X[:200], 10)[1], truth)
    b4 = BinaryQuantizer(4).fit(X)
    r4 = recall_at(b4.search(b4.encode(X), X[:200], 10, mode="asymmetric")[1], truth)
    assert r4 > r1 + 0.1 and r1 > 0.2, (r1, r4)


def test_centering_uses_the_fitted_mean(X):
    shifted = X + 2.0
    plain = BinaryQuantizer(1).fit(shifted).encode(shifted)
    assert plain.min() == 255  # every value positive: sign codes carry nothing
    centred = BinaryQuantizer(1, center=True).fit(shifted)
    np.testing.assert_array_equal(centred.encode(shifted), np.packbits(shifted > shifted.mean(0), axis=1))


def test_binary_errors_and_persistence(X, tmp_path):
    with pytest.raises(InvalidInputError, match="bits=3"):
        BinaryQuantizer(bits=3)
    with pytest.raises(InvalidInputError, match="not fitted"):
        BinaryQuantizer().encode(X)
    bq = BinaryQuantizer(bits=2).fit(X)
    with pytest.raises(InvalidInputError, match=r"shape \(n, 64\)"):
        bq.encode(X[:, :10])
    with pytest.raises(InvalidInputError, match="uint8"):
        bq.decode(np.zeros((2, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="NaN"):
        bq.encode(np.full((1, 64), np.nan))
    bq.save(tmp_path / "bq.npz")
    again = BinaryQuantizer.load(tmp_path / "bq.npz")
    np.testing.assert_array_equal(again.encode(X), bq.encode(X))


# -- product quantization ------------------------------------------------------------------

@pytest.fixture(scope="module")
def pq(X):
    return ProductQuantizer(m=16, nbits=6).fit(X)


def test_pq_codes_equal_faiss_with_the_same_codebooks(X, pq):
    ref = faiss.ProductQuantizer(64, 16, 6)
    faiss.copy_array_to_vector(pq.centroids.ravel(), ref.centroids)
    codes = pq.encode(X)
    assert codes.shape == (3000, 16) and codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, ref.compute_codes(X).reshape(3000, -1) if 6 == 8 else
                                  _unpack_faiss(ref, X))
    np.testing.assert_allclose(pq.decode(codes), ref.decode(ref.compute_codes(X)), atol=1e-6)


def _unpack_faiss(ref, X):
    """faiss packs 6-bit codes tightly; decode its codes to centroid ids via its own decoder."""
    dec = ref.decode(ref.compute_codes(X)).reshape(len(X), 16, 4)
    cents = faiss.vector_to_array(ref.centroids).reshape(16, 64, 4)
    return np.stack([np.argmin(((dec[:, j, None] - cents[j][None]) ** 2).sum(-1), axis=1)
                     for j in range(16)], axis=1).astype(np.uint8)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_adc_scores_equal_decoded_scores(X, metric):
    pq = ProductQuantizer(m=8, nbits=5, metric=metric).fit(X)
    codes = pq.encode(X)
    dec = pq.decode(codes)
    Q = X[:6]
    want = Q @ dec.T if metric == "ip" else -((Q[:, None] - dec[None]) ** 2).sum(axis=2)
    np.testing.assert_allclose(pq.scores(codes, Q), want, rtol=1e-4, atol=1e-4)
    s, i = pq.search(codes, Q, k=10)
    np.testing.assert_array_equal(i, np.argsort(-pq.scores(codes, Q), axis=1, kind="stable")[:, :10])


def test_pq_recall_and_reconstruction(X, pq):
    codes = pq.encode(X)
    truth = np.argsort(-(X[:200] @ X.T), axis=1)[:, :10]
    ours = recall_at(pq.search(codes, X[:200], 10)[1], truth)
    anchor = faiss.IndexPQ(64, 16, 6, faiss.METRIC_INNER_PRODUCT)  # faiss' own PQ, same budget
    anchor.train(X)
    anchor.add(X)
    theirs = recall_at(anchor.search(X[:200], 10)[1], truth)
    assert ours >= theirs - 0.05 and ours > 0.3, (ours, theirs)
    assert np.abs(pq.decode(codes) - X).mean() < 0.5 * np.abs(X).mean()


def test_pq_errors_and_persistence(X, pq, tmp_path):
    with pytest.raises(InvalidInputError, match="must divide the dimension 64"):
        ProductQuantizer(m=5).fit(X)
    with pytest.raises(InvalidInputError, match="at least 256"):
        ProductQuantizer(m=8).fit(X[:100])
    with pytest.raises(InvalidInputError, match="nbits"):
        ProductQuantizer(m=8, nbits=9)
    with pytest.raises(InvalidInputError, match="not fitted"):
        ProductQuantizer(m=8).encode(X)
    with pytest.raises(InvalidInputError, match=r"\(n, 16\)"):
        pq.decode(np.zeros((2, 8), np.uint8))
    pq.save(tmp_path / "pq.npz")
    again = ProductQuantizer.load(tmp_path / "pq.npz")
    np.testing.assert_array_equal(again.encode(X), pq.encode(X))
    with pytest.raises(InvalidInputError, match="not a vectorbridge.pq/1 file"):
        np.savez(tmp_path / "bad.npz", config=np.array('{"format": "other"}'))
        ProductQuantizer.load(tmp_path / "bad.npz")


def test_topk_is_a_stable_partial_sort():
    from vectorbridge.encoders._codes import topk

    rng = np.random.default_rng(1)
    for scores in (rng.integers(0, 4, size=(30, 500)).astype(np.float32), rng.normal(size=(30, 500))):
        for k in (1, 7, 500, 900):
            s, i = topk(scores, k)
            want = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            np.testing.assert_array_equal(i, want)  # ties (also at the k-th place) by index
            np.testing.assert_array_equal(s, np.take_along_axis(scores, want, axis=1))


class _Payload:
    """Pickled, this would create a file when unpickled: proof a loader ran pickle."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("kind", ["pq", "binary"])
def test_saved_codebooks_never_unpickle(kind, X, pq, tmp_path):
    import json

    from vectorbridge.encoders import BinaryQuantizer, ProductQuantizer
    from vectorbridge.errors import InvalidInputError

    model = pq if kind == "pq" else BinaryQuantizer(bits=1).fit(X)
    good = tmp_path / "good.npz"
    model.save(good)
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    sentinel = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(str(sentinel))
    victim = next(k for k in arrays if k != "config")
    np.savez(tmp_path / "evil.npz", **{**arrays, victim: evil})
    cls = ProductQuantizer if kind == "pq" else BinaryQuantizer
    with pytest.raises(InvalidInputError, match="never unpickles"):
        cls.load(tmp_path / "evil.npz")
    assert not sentinel.exists()
    assert json.loads(str(arrays["config"]))["format"]  # the config itself is JSON text
