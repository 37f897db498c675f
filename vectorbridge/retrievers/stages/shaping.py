"""Stages that reshape the candidate query itself: the dense query mapped by a trained adapter,
results grouped by a payload key, scores boosted or decayed by payload values.

Each runs in the engine's one candidate search where the engine can (Qdrant's ``group_by``
and formula queries, Milvus' grouping search), else the connector emulates it; so each is one
``plan`` hook here, and what it cannot follow is declared, not checked elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vectorbridge.connectors.grouping import check_grouping
from vectorbridge.connectors.scoring import check_formula
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.stages.base import PLAN, QUERY, Query, Stage


@dataclass(frozen=True, eq=False)
class AdaptQuery(Stage):
    """``AdaptQuery(QueryAdapter(...).fit(...))``: every dense query mapped by a trained
    adapter before any search, so a model is adapted to a domain without re-encoding the
    stored documents (docs: Retrievers, *Query adapter*)."""

    adapter: Any
    order = QUERY

    def __post_init__(self) -> None:
        from vectorbridge.encoders.adapter import QueryAdapter

        if not isinstance(self.adapter, QueryAdapter):
            raise InvalidInputError(f"query_adapter= takes a trained QueryAdapter, got "
                                    f"{type(self.adapter).__name__}.")
        self.adapter._check_fitted()

    @property
    def traits(self) -> frozenset[str]:
        return frozenset({"adapted"})

    @property
    def requires(self) -> Mapping[Any, str]:
        return {"dense": "AdaptQuery (flat: query_adapter=) maps the dense query: give dense=."}

    def plan(self, q: Query) -> None:
        if q.dense is None or q.extra.get("vector_given"):  # a caller's vector: used as it is
            return
        q.dense = self.adapter.transform(np.asarray(q.dense, np.float32)[None])[0]
        dense_field = q.scope.layout.names.dense
        if dense_field in q.plan.queries:
            q.plan.queries[dense_field] = q.dense


_REORDERED = ("Grouping (flat: group_by=) groups the first stage in the engine; a Rerank, "
              "MaxSim(codec=) or Quantized(ProductQuantizer) stage would reorder it afterwards. "
              "Drop one of them, or rerank the grouped documents yourself.")
_CLIENT_RANKED = ("Formula (flat: formula=) boosts the engine's first stage; a MaxSim(codec=) "
                  "or Quantized(ProductQuantizer) first stage is ranked client-side: drop one "
                  "of them.")


@dataclass(frozen=True, eq=False)
class Grouping(Stage):
    """``Grouping("doc_id", size=2)``: ``k`` groups of up to ``size`` chunks sharing a
    payload value, best group first (in the engine where it groups natively, else the
    connector pages the search until ``k`` groups fill)."""

    by: str
    size: int = 1
    order = PLAN

    def __post_init__(self) -> None:
        if self.by is None:
            raise InvalidInputError("group_by must be a payload key (a non-empty str), got None.")
        check_grouping(self.by, self.size)

    @property
    def traits(self) -> frozenset[str]:
        return frozenset({"grouped"})

    @property
    def refuses(self) -> Mapping[str, str]:
        return {"reranked": _REORDERED, "client_ranked": _REORDERED}

    def plan(self, q: Query) -> None:
        q.plan.group_by, q.plan.group_size = self.by, self.size
        q.plan.final_k = q.k * self.size


@dataclass(frozen=True, eq=False)
class Formula(Stage):
    """``Formula(ScoreFormula(...))``: first-stage scores boosted / decayed by payload values
    (recency, popularity) over the formula's ``depth`` best candidates, in Qdrant's engine or
    by the connector."""

    formula: Any
    order = PLAN

    def __post_init__(self) -> None:
        if self.formula is None:
            raise InvalidInputError("Formula takes a ScoreFormula(boosts=..., decays=...), got None.")
        check_formula(self.formula, None)

    @property
    def traits(self) -> frozenset[str]:
        return frozenset({"formula"})

    @property
    def refuses(self) -> Mapping[str, str]:
        return {"client_ranked": _CLIENT_RANKED,
                "grouped": "Formula and Grouping (flat: formula=, group_by=) together are "
                           "not supported: group the boosted results yourself, or drop one."}

    def plan(self, q: Query) -> None:
        q.plan.formula = self.formula


__all__ = ["AdaptQuery", "Grouping", "Formula"]
