"""A small synthetic corpus every backend is checked on, with brute-force references."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vectorbridge.connectors import CollectionSpec
from vectorbridge.encoders import SparseVector
from vectorbridge.errors import UnsupportedFeatureError
from tests.backends import unique_name

#: Short biomedical texts for the LangChain-layer tests (real models embed them).
TEXTS = [
    "Vitamin C deficiency causes scurvy, with bleeding gums and fatigue.",
    "Scurvy was common among sailors on long voyages without fresh fruit.",
    "Insulin regulates blood glucose; type 1 diabetes destroys beta cells.",
    "The mitochondrion produces ATP through oxidative phosphorylation.",
    "Penicillin inhibits bacterial cell wall synthesis.",
    "Regular exercise lowers blood pressure in hypertensive adults.",
    "Citrus fruits such as oranges and lemons are rich in vitamin C.",
    "Antibiotic resistance spreads through horizontal gene transfer.",
    "Beta cells in the pancreas secrete insulin after a meal.",
    "Aerobic training improves mitochondrial density in muscle.",
]

N, DIM, TOK_DIM = 40, 16, 8
HOSTILE = ['" or 1==1 or "', "it's", 'back\\slash', 'quote"inside', "new\nline", "ünï ✓", "1", "foo"]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_corpus() -> dict:
    """40 points with dense, sparse and token vectors, hostile ids and varied payloads."""
    rng = np.random.default_rng(7)
    ids = [f"doc-{i}" for i in range(N)]
    ids[:len(HOSTILE)] = HOSTILE
    dense = _unit(rng.normal(size=(N, DIM)))
    tokens = [_unit(rng.normal(size=(int(rng.integers(2, 7)), TOK_DIM))) for _ in range(N)]
    sparse = []
    for _ in range(N):
        nnz = int(rng.integers(1, 8))
        sparse.append(SparseVector(rng.choice(60, size=nnz, replace=False), rng.uniform(0.1, 2.0, nnz)))
    payloads = [{
        "text": f"document number {i}",
        "lang": ["en", "de", "fr"][i % 3],
        "year": 1990 + i,
        "score": i / 4,
        "flag": i % 2 == 0,
        "tag": HOSTILE[i % len(HOSTILE)],
        "meta": {"group": i % 4},
    } for i in range(N)]
    return dict(ids=ids, dense=dense, tokens=tokens, sparse=sparse, payloads=payloads)


def full_spec(name: str) -> CollectionSpec:
    return CollectionSpec(name=name, dense={"dense": DIM}, sparse=["sparse"],
                          multivector={"tokens": TOK_DIM}, text_key="text")


def require(conn, spec: CollectionSpec) -> CollectionSpec:
    """``spec``, or — where the engine cannot hold it — proof that it refuses it clearly and
    creates nothing, then a skip that names the engine's limit (the matrix's "unsupported")."""
    problems = conn.unsupported(spec)
    if problems:
        with pytest.raises(UnsupportedFeatureError, match=re.escape(problems[0][:40])):
            conn.create_collection(spec)
        assert not conn.has_collection(spec.name)
        pytest.skip(f"unsupported on {conn.engine}: {problems[0]}")
    return spec


def unless_refused(conn, build, **fields):
    """``build()``, or — where the engine cannot hold a collection with ``fields`` — proof that
    ``build()`` refuses with a clear error and creates nothing, then a skip naming why."""
    probe = CollectionSpec(name=unique_name("probe"), **fields)
    problems = conn.unsupported(probe)
    if not problems:
        return build()
    with pytest.raises(UnsupportedFeatureError, match=re.escape(conn.engine)):
        build()
    pytest.skip(f"unsupported on {conn.engine}: {problems[0]}")


def load(conn, corpus, name=None):
    name = name or unique_name()
    conn.create_collection(require(conn, full_spec(name)))
    conn.upsert(name, corpus["ids"], {"dense": corpus["dense"], "sparse": corpus["sparse"],
                                      "tokens": corpus["tokens"]}, corpus["payloads"], batch_size=16)
    return name


def ref_topk(scores: np.ndarray, ids: list[str], k: int, allowed=None) -> list[tuple[str, float]]:
    pairs = [(ids[i], float(s)) for i, s in enumerate(scores) if allowed is None or allowed[i]]
    return sorted(pairs, key=lambda p: -p[1])[:k]


def assert_hits(hits, expected, tol=1e-4):
    """Same scores in the same order, and the same ids — up to the order of exact ties,
    which engines break by float rounding."""
    np.testing.assert_allclose([h.score for h in hits], [e[1] for e in expected], rtol=tol, atol=tol)
    for h, (want, score) in zip(hits, expected):
        tied = {i for i, s in expected if abs(s - score) <= tol}
        assert h.id == want or h.id in tied, (h.id, want)
    assert len({h.id for h in hits}) == len(hits) == len(expected)
