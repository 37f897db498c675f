"""Small deterministic encoders for tests that need many collections built fast.

Each word of a fixed vocabulary has a fixed random unit vector (seeded by the word), so the
vectors of any text are known exactly, with no model, and exact scores can be computed here.
"""

from __future__ import annotations

import zlib

import numpy as np
from langchain_core.embeddings import Embeddings

DIM = 32
VOCAB = [f"w{i}" for i in range(60)]


def word_vector(word: str) -> np.ndarray:
    v = np.random.default_rng(zlib.crc32(word.encode())).standard_normal(DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


class BagDense(Embeddings):
    """Unit mean of the words' fixed random vectors."""

    def _one(self, text: str) -> list[float]:
        v = np.mean([word_vector(w) for w in text.split()], axis=0)
        return (v / np.linalg.norm(v)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


class BagTokens:
    """One fixed random unit vector per word: a token encoder for MaxSim, FDE and codecs."""

    def _one(self, text: str) -> np.ndarray:
        return np.stack([word_vector(w) for w in text.split()])

    def encode_documents(self, texts: list[str]) -> list[np.ndarray]:
        return [self._one(t) for t in texts]

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        return [self._one(t) for t in texts]


def fitted_calibrator():
    """A ScoreCalibrator fitted on random queries of DIM dimensions (for pipelines that need
    one; its probabilities are not asserted)."""
    from vectorbridge.retrievers import ScoreCalibrator

    r = np.random.default_rng(0)
    q = r.standard_normal((40, DIM)).astype(np.float32)
    scores = np.sort(r.uniform(0, 1, (40, 5)))[:, ::-1]
    return ScoreCalibrator(epochs=20).fit(q, scores, r.uniform(size=(40, 5)) < 0.3)
