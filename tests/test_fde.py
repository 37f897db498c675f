"""MUVERA FDEs: equal to a plain loop transcription of the reference algorithm, deterministic,
and tracking MaxSim on real token embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from tests.corpus import TEXTS
from vectorbridge.encoders import FDEEncoder, TokenEncoder, maxsim
from vectorbridge.encoders.fde import gray_decode
from vectorbridge.errors import InvalidInputError


def loop_fde(points: np.ndarray, k_sim: int, d_proj: int, reps: int, seed: int,
             document: bool) -> np.ndarray:
    """One point cloud, token by token, bucket by bucket, as the reference C++ does it."""
    d = points.shape[1]
    out = np.zeros((reps, 2 ** k_sim, d_proj))
    for r in range(reps):
        rng = np.random.default_rng(seed + r)
        simhash = rng.standard_normal((d, k_sim))
        proj = rng.choice([-1.0, 1.0], size=(d, d_proj)) / np.sqrt(d_proj)
        sketch, projected = points @ simhash, points @ proj
        sizes = np.zeros(2 ** k_sim)
        for t in range(len(points)):
            index = 0
            for bit in sketch[t] > 0:  # append to the Gray code, as AppendToGrayCode
                index = (index << 1) + (int(bit) ^ (index & 1))
            out[r, index] += projected[t]
            sizes[index] += 1
        if not document:
            continue
        for p in range(2 ** k_sim):
            if sizes[p]:
                out[r, p] /= sizes[p]
                continue
            pattern, best, best_t = p ^ (p >> 1), None, -1
            for t in range(len(points)):  # nearest sign pattern, first one wins ties
                dist = sum(int(sketch[t, i] > 0) != ((pattern >> (k_sim - 1 - i)) & 1)
                           for i in range(k_sim))
                if best is None or dist < best:
                    best, best_t = dist, t
            out[r, p] = projected[best_t]
    return out.ravel()


def test_gray_decode_inverts_gray_code():
    p = np.arange(2 ** 10)
    np.testing.assert_array_equal(gray_decode(p ^ (p >> 1), 10), p)


@pytest.mark.parametrize("k_sim,d_proj,reps", [(3, 4, 3), (5, 8, 2), (0, 6, 2)])
def test_equals_loop_reference(k_sim, d_proj, reps):
    rng = np.random.default_rng(3)
    clouds = [rng.normal(size=(int(n), 12)).astype(np.float32) for n in rng.integers(1, 20, 7)]
    fde = FDEEncoder(k_sim=k_sim, d_proj=d_proj, reps=reps, seed=11)
    docs, queries = fde.encode_documents(clouds), fde.encode_queries(clouds)
    assert docs.shape == (7, fde.dim) == (7, reps * 2 ** k_sim * d_proj)
    for i, c in enumerate(clouds):
        np.testing.assert_allclose(docs[i], loop_fde(c, k_sim, d_proj, reps, 11, True), atol=1e-5)
        np.testing.assert_allclose(queries[i], loop_fde(c, k_sim, d_proj, reps, 11, False), atol=1e-5)
    # with few tokens and many buckets, most document buckets were filled, none left empty
    assert (docs.reshape(7, reps, 2 ** k_sim, d_proj) != 0).any(axis=3).all()


def test_deterministic_per_config_and_persistable():
    rng = np.random.default_rng(0)
    clouds = [rng.normal(size=(9, 16)).astype(np.float32) for _ in range(3)]
    a = FDEEncoder(seed=7).encode_documents(clouds)
    np.testing.assert_array_equal(a, FDEEncoder(seed=7).encode_documents(clouds))
    assert not np.allclose(a, FDEEncoder(seed=8).encode_documents(clouds))
    enc = FDEEncoder(k_sim=4, d_proj=8, reps=5, seed=3, final_dim=256)
    again = FDEEncoder.from_config(enc.to_json())
    assert again == enc and again.dim == 256
    np.testing.assert_array_equal(enc.encode_queries(clouds), again.encode_queries(clouds))
    assert FDEEncoder().dim == 10_240


def test_errors_name_the_problem():
    with pytest.raises(InvalidInputError, match="k_sim"):
        FDEEncoder(k_sim=31)
    with pytest.raises(InvalidInputError, match="d_proj"):
        FDEEncoder(d_proj=0)
    fde = FDEEncoder(k_sim=2, d_proj=4, reps=1)
    with pytest.raises(InvalidInputError, match="list of"):
        fde.encode_documents(np.ones((3, 4)))
    with pytest.raises(InvalidInputError, match="n_tokens >= 1"):
        fde.encode_documents([np.ones((0, 4))])
    with pytest.raises(InvalidInputError, match="mixes token dimensions"):
        fde.encode_documents([np.ones((2, 4)), np.ones((2, 5))])
    with pytest.raises(InvalidInputError, match="NaN"):
        fde.encode_queries([np.full((2, 4), np.nan)])
    with pytest.raises(InvalidInputError, match="FDE configuration"):
        FDEEncoder.from_config({"k_sim": 2})
    assert fde.encode_documents([]).shape == (0, fde.dim)


def test_planted_neighbour_ranks_first():
    rng = np.random.default_rng(5)
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    query = unit(rng.normal(size=(8, 32)))
    docs = [unit(rng.normal(size=(30, 32))) for _ in range(200)]
    planted = 17
    docs[planted] = unit(np.vstack([query + 0.1 * rng.normal(size=query.shape),
                                    rng.normal(size=(22, 32))]))
    fde = FDEEncoder(seed=1)
    scores = fde.encode_documents(docs) @ fde.encode_queries([query])[0]
    assert int(np.argmax(scores)) == planted


def test_fde_tracks_maxsim_on_real_tokens(minilm):
    tok = TokenEncoder(minilm)
    docs = tok.encode_documents(TEXTS)
    queries = tok.encode_queries(["vitamin C and scurvy", "insulin and diabetes", "antibiotics",
                                  "mitochondria make energy", "blood pressure and exercise"])
    fde = FDEEncoder()
    approx = fde.encode_queries(queries) @ fde.encode_documents(docs).T
    exact = np.array([[maxsim(q, d) for d in docs] for q in queries])
    rho = spearmanr(approx.ravel(), exact.ravel()).statistic
    assert rho > 0.8, rho
    assert (approx.argmax(axis=1) == exact.argmax(axis=1)).mean() >= 0.8
