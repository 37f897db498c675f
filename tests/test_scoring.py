"""Score boosting and decay (``ScoreFormula``): in Qdrant's engine (``FormulaQuery``) or by
the connector, equal to a Python reference of the formula on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vectorbridge.connectors import CollectionSpec, F
from vectorbridge.connectors.scoring import Boost, Decay, ScoreFormula
from vectorbridge.errors import InvalidInputError
from tests.backends import unique_name
from tests.corpus import assert_hits, require

DIM, N = 8, 120


@pytest.fixture
def loaded(conn):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(N, DIM)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    payloads = [{"text": f"doc {i}", "year": 1990 + i % 35, "stars": float(i % 7), "lang": "en"
                 if i % 3 else "de"} for i in range(N)]
    for p in payloads[::10]:
        del p["stars"]  # missing: the default applies
    name = unique_name("sc")
    conn.create_collection(require(conn, CollectionSpec(name=name, dense={"dense": DIM}, text_key="text")))
    conn.upsert(name, [str(i) for i in range(N)], {"dense": X}, payloads)
    return name, X, payloads


def _reference(X, payloads, q, formula, k, allowed=None):
    """By hand: the depth best by cosine, each score boosted and decayed, re-sorted."""
    cand = [i for i in np.argsort(-(X @ q)) if allowed is None or allowed[i]][: formula.depth]
    out = []
    for i in cand:
        p = payloads[i]
        s = float(X[i] @ q) + sum(b.weight * p.get(b.key, b.default) for b in formula.boosts)
        for d in formula.decays:
            dist = abs(p.get(d.key, d.target if d.default is None else d.default) - d.target)
            s *= {"exp": math.exp(math.log(d.midpoint) * dist / d.scale),
                  "gauss": math.exp(math.log(d.midpoint) * dist ** 2 / d.scale ** 2),
                  "lin": max(0.0, 1 - (1 - d.midpoint) * dist / d.scale)}[d.kind]
        out.append((str(i), s))
    return sorted(out, key=lambda t: (-t[1], t[0]))[:k]


FORMULAS = {
    "boost": ScoreFormula(boosts=(Boost("stars", 0.05, default=1.0),), depth=40),
    "exp-decay": ScoreFormula(decays=(Decay("year", 2024, 10, 0.5),), depth=40),
    "gauss+lin+boost": ScoreFormula(boosts=(Boost("stars", 0.02),),
                                    decays=(Decay("year", 2010, 8, 0.3, "gauss"),
                                            Decay("stars", 3, 10, 0.8, "lin", default=0.0)),
                                    depth=60),
}


@pytest.mark.parametrize("which", list(FORMULAS))
def test_formula_equals_the_reference(conn, loaded, which):
    name, X, payloads = loaded
    formula = FORMULAS[which]
    q = X[4] + 0.5 * X[70]
    q /= np.linalg.norm(q)
    got = conn.search(name, "dense", q, k=10, formula=formula)
    assert_hits(got, _reference(X, payloads, q, formula, 10))
    en = [p["lang"] == "en" for p in payloads]
    got = conn.search(name, "dense", q, k=10, formula=formula, filter=F("lang") == "en")
    assert_hits(got, _reference(X, payloads, q, formula, 10, en))
    assert all(h.payload["lang"] == "en" for h in got)


def test_formula_over_a_fused_ranking(conn, loaded):
    name, X, payloads = loaded
    formula = FORMULAS["exp-decay"]
    fused = conn.hybrid_search(name, {"dense": X[8]}, k=formula.depth)
    want = sorted(((h.id, formula.apply(h.score, h.payload)) for h in fused),
                  key=lambda t: (-t[1], t[0]))[:5]
    assert_hits(conn.hybrid_search(name, {"dense": X[8]}, k=5, formula=formula), want)


def test_formula_options_are_checked(conn, loaded):
    name, X, _ = loaded
    with pytest.raises(InvalidInputError, match="at least one"):
        ScoreFormula()
    with pytest.raises(InvalidInputError, match="midpoint"):
        ScoreFormula(decays=(Decay("year", 2020, 5, midpoint=1.5),))
    with pytest.raises(InvalidInputError, match="one default"):
        ScoreFormula(boosts=(Boost("year", 1.0, default=0.0),), decays=(Decay("year", 2020, 5),))
    with pytest.raises(InvalidInputError, match="ScoreFormula"):
        conn.search(name, "dense", X[0], k=3, formula={"boost": "stars"})
    with pytest.raises(InvalidInputError, match="group_by"):
        conn.search(name, "dense", X[0], k=3, formula=FORMULAS["boost"], group_by="lang")


async def test_retriever_option(conn, loaded):
    from vectorbridge.retrievers import HybridRetriever
    from tests.test_grouping import _Table

    name, X, _ = loaded
    formula = FORMULAS["gauss+lin+boost"]
    r = HybridRetriever(connector=conn, collection=name, dense=_Table({"q": X[11]}), k=6,
                        formula=formula)
    want = [h.id for h in conn.search(name, "dense", X[11], k=6, formula=formula)]
    assert [d.id for d in r.invoke("q")] == want
    assert [d.id for d in await r.ainvoke("q")] == want
