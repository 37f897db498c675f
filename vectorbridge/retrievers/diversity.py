"""Diverse results: maximal marginal relevance as a stage of ``HybridRetriever`` (``mmr=``).

The first stage fetches ``fetch_k`` candidates; MMR then picks ``k`` of them one by one,
each the most similar to the query and the least similar to those already picked, with
LangChain's ``lambda_mult`` (1 = pure relevance, 0 = maximum diversity). Where the first
stage is one dense search and the engine has MMR (``capabilities.native_mmr``: Qdrant), the
engine does it in that one request; otherwise (hybrid branches, Milvus) the candidates' dense
vectors are fetched and LangChain's ``maximal_marginal_relevance`` picks here, over the
dense query — the same selection (``tests/test_mmr.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vectorbridge.connectors.results import Hit
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.stages.base import HITS, Query, Stage
from vectorbridge.retrievers.twins import Flow, blocking, twin

_LAST = ("MMR (flat: mmr=) picks among dense vectors as the last stage: give dense=, and no "
         "Grouping, Rerank or Calibrate stage.")


@dataclass(frozen=True)
class MMR(Stage):
    """``stages=[MMR(lambda_mult, fetch_k)]``: pick ``k`` diverse documents from the first
    stage's best ``fetch_k`` (the store's ``max_marginal_relevance_search`` runs the same
    stage)."""

    lambda_mult: float = 0.5
    fetch_k: int = 20
    order = HITS + 5  # after MaxSim over decoded codes: MMR picks among the final candidates

    def __post_init__(self) -> None:
        lam = self.lambda_mult
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
            raise InvalidInputError(f"lambda_mult must be in [0, 1] (1 = pure relevance), got {lam!r}.")
        if isinstance(self.fetch_k, bool) or not isinstance(self.fetch_k, int) or self.fetch_k < 1:
            raise InvalidInputError(f"fetch_k must be a positive int, got {self.fetch_k!r}.")

    @property
    def traits(self) -> frozenset[str]:
        return frozenset({"mmr"})

    @property
    def requires(self) -> Mapping[Any, str]:
        return {"dense": _LAST}

    @property
    def refuses(self) -> Mapping[str, str]:
        return {"grouped": _LAST, "reranked": _LAST, "calibrated": _LAST,
                "no_full_vectors": "MMR compares full dense vectors: keep "
                                   "Reduction(full_vectors=True)."}

    def widen(self, k: int) -> int:
        return max(k, self.fetch_k)  # MMR picks k of the first stage's fetch_k

    def source(self, q: Query) -> Flow[list[Hit] | None]:
        """The engine's MMR, in the candidate search itself, where it can run it."""
        plan = q.plan
        if plan.rescore is not None or plan.pq is not None or plan.decode is not None or \
                plan.formula is not None or plan.group_by is not None:
            return None  # the engine's MMR would skip the formula or the grouping
        return (yield from native_mmr(q.scope.connector, q.scope.collection,
                                      q.scope.layout.names.dense, plan.queries, q.k, self,
                                      plan.filter))

    def runs(self, q: Query) -> bool:
        return q.source is not self  # the engine's MMR found the candidates: nothing left

    def run(self, q: Query) -> Flow[None]:
        if q.source is not self:
            q.hits = yield from client_mmr(q.scope.connector, q.scope.collection,
                                           q.scope.layout.names.dense, q.dense, q.hits or [],
                                           q.k, self)


def native_mmr(connector: Any, collection: str, field_name: str, queries: dict[str, Any],
               k: int, mmr: MMR, flt: Any) -> Flow[list[Hit] | None]:
    """The engine's MMR when the first stage is this one dense search, else ``None``."""
    if set(queries) != {field_name} or not connector.capabilities.native_mmr:
        return None
    return (yield twin(connector, "mmr_search", collection, field_name, queries[field_name], k,
                       fetch_k=max(mmr.fetch_k, k), lambda_mult=mmr.lambda_mult, filter=flt))


def client_mmr(connector: Any, collection: str, field_name: str, dense_q: Any,
               hits: list[Hit], k: int, mmr: MMR) -> Flow[list[Hit]]:
    """LangChain's selection over the candidates' stored dense vectors."""
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    if not hits:
        return hits
    records = yield twin(connector, "get", collection, [h.id for h in hits],
                         with_vectors=[field_name])
    vectors = {r.id: r.vectors[field_name] for r in records}
    kept = [h for h in hits if h.id in vectors]
    chosen = yield blocking(maximal_marginal_relevance, np.asarray(dense_q, np.float32),
                            [vectors[h.id] for h in kept], lambda_mult=mmr.lambda_mult, k=k)
    return [kept[i] for i in chosen]


__all__ = ["MMR", "client_mmr", "native_mmr"]
