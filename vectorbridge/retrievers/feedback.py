"""Pseudo-relevance feedback: a second query built from the first query's top documents.

Two published methods, one per branch of a hybrid retriever:

- **Dense: Rocchio / Vector-PRF** (Li et al., "Pseudo Relevance Feedback with Deep Language
  Models and Dense Retrievers", 2021): the query vector moves towards the mean of the top
  ``dense_docs`` feedback documents' stored vectors, ``alpha * q + beta * mean(d_i)``.
  No model call: the document vectors are already in the collection.
- **Sparse: RM3** (Lavrenko & Croft's relevance model as Anserini runs it): each feedback
  document's term distribution ``tf(w, D) / |D|``, weighted by the document's score, summed;
  the ``sparse_terms`` heaviest terms, renormalised, are mixed with the original query's
  term distribution (``original_weight``). BM25 then scores the expanded query (IDF still
  applied by the engine or the encoder).

Where fusion sits relative to feedback is the question of "To Interpolate or not to
Interpolate: PRF, Dense and Sparse Retrievers" (Li et al., SIGIR 2022):

- ``interpolate="after"``: each branch takes its feedback from its own ranking (dense PRF
  from the dense top-k, RM3 from the BM25 top-k); only the expanded branches are fused.
- ``interpolate="before"``: the branches are fused first and both take their feedback from
  the fused top-k (better feedback documents, one ranking); the expanded branches are fused
  again.

Which helps on SciFact train is measured by ``vectorbridge bench prf`` (docs: Benchmarks).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from vectorbridge.encoders.types import SparseVector
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError
from vectorbridge.options import checked_keywords
from vectorbridge.retrievers.stages.base import FEEDBACK, Query, Stage
from vectorbridge.retrievers.twins import Flow, blocking, twin

Placement = Literal["before", "after"]


@dataclass(frozen=True)
class PseudoRelevanceFeedback(Stage):
    """A stage of :class:`~vectorbridge.retrievers.HybridRetriever` (``stages=[...]``): one
    feedback round before the candidate search rewrites its queries.

    Attributes:
        dense_docs: Feedback documents for the dense Rocchio step (0 = no dense PRF).
        alpha: Weight of the original query vector.
        beta: Weight of the feedback documents' mean vector.
        sparse_docs: Feedback documents for RM3 (0 = no sparse PRF); needs a BM25Encoder.
        sparse_terms: Expansion terms RM3 keeps (Anserini's ``fbTerms``).
        original_weight: Weight of the original query in RM3's mixture (Anserini's
            ``originalQueryWeight``).
        interpolate: ``"after"`` (each branch's own feedback) or ``"before"`` (feedback from
            the fused ranking); see the module docstring.
        dense_mode: ``"rocchio"`` (the query vector moved towards the feedback documents,
            here) or ``"engine"``: the engine's relevance-feedback query
            (:class:`~vectorbridge.connectors.queries.FeedbackQuery`) with the feedback
            documents' vectors and first-round scores, searched across the whole index; on
            engines without it (``capabilities.native_feedback``), Rocchio. Needs
            ``dense_docs >= 2``.
        engine_coefficients: ``(a, b, c)`` of the engine's naive feedback formula.

    Defaults are the best settings of the grid of ``vectorbridge bench prf --grid`` on SciFact train
    (tuned there, so optimistic figures). Even so, alone neither method raised nDCG@10 on
    SciFact (RM3 lowered BM25's, raising its recall@100); in hybrid, feedback from the fused
    ranking added +0.006 (95% interval including 0) and beat each branch's own feedback.
    Measure on your own data before turning it on.
    """

    dense_docs: int = 1
    alpha: float = 1.0
    beta: float = 0.25
    sparse_docs: int = 3
    sparse_terms: int = 20
    original_weight: float = 0.7
    interpolate: Placement = "before"
    dense_mode: Literal["rocchio", "engine"] = "rocchio"
    engine_coefficients: tuple[float, float, float] = (1.0, 1.0, 1.0)
    order = FEEDBACK

    def __post_init__(self) -> None:
        for name in ("dense_docs", "sparse_docs", "sparse_terms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InvalidInputError(f"{name} must be an int >= 0, got {v!r}.")
        if not self.dense_docs and not self.sparse_docs:
            raise InvalidInputError("PseudoRelevanceFeedback with dense_docs=0 and sparse_docs=0 "
                                    "does nothing: give one of them a number of documents.")
        if self.sparse_docs and not self.sparse_terms:
            raise InvalidInputError("sparse_terms must be >= 1 when sparse_docs > 0.")
        if not (np.isfinite(self.alpha) and np.isfinite(self.beta) and self.alpha >= 0
                and self.beta >= 0 and self.alpha + self.beta > 0):
            raise InvalidInputError(f"alpha and beta must be finite, >= 0 and not both 0; got "
                                    f"alpha={self.alpha!r}, beta={self.beta!r}.")
        if not 0.0 <= self.original_weight <= 1.0:
            raise InvalidInputError(f"original_weight must be in [0, 1], got {self.original_weight!r}.")
        if self.dense_mode not in ("rocchio", "engine"):
            raise InvalidInputError(f"dense_mode={self.dense_mode!r}: use 'rocchio' or 'engine'.")
        if self.dense_mode == "engine" and self.dense_docs < 2:
            raise InvalidInputError("dense_mode='engine' scores pairs of feedback documents: set "
                                    f"dense_docs >= 2 (got {self.dense_docs}).")
        if len(tuple(self.engine_coefficients)) != 3:
            raise InvalidInputError(f"engine_coefficients must be (a, b, c), got "
                                    f"{self.engine_coefficients!r}.")
        if self.interpolate not in ("before", "after"):
            raise InvalidInputError(f"interpolate={self.interpolate!r}: use 'before' (feedback from "
                                    "the fused ranking) or 'after' (each branch's own ranking).")

    @property
    def depth(self) -> int:
        """Documents the feedback round retrieves."""
        return max(self.dense_docs, self.sparse_docs)

    # -- as a stage -------------------------------------------------------------------------
    @property
    def traits(self) -> frozenset[str]:
        return frozenset({"prf"})

    @property
    def requires(self) -> Mapping[Any, str]:
        out = {}
        if self.dense_docs:
            out["dense"] = ("prf.dense_docs > 0 moves the dense query: give dense=, or set "
                            "dense_docs=0.")
        if self.sparse_docs:
            out["bm25"] = ("prf.sparse_docs > 0 expands BM25 queries by RM3: give "
                           "sparse=BM25Encoder(...), or set sparse_docs=0 (SPLADE and other "
                           "learned sparse models are not expanded).")
        return out

    @property
    def refuses(self) -> Mapping[str, str]:
        return {"client_quantizer": "PseudoRelevanceFeedback with a client-side "
                                    "quantizer object (Quantized(ProductQuantizer)) is not "
                                    "supported; use an engine quantization (a string)."}

    def storage(self) -> dict[str, Any]:
        # RM3 rewrites client-made term weights: the sparse field is never the engine's BM25
        return {"term_weights": bool(self.sparse_docs)}

    def run(self, q: Query) -> Flow[None]:
        """One feedback round: search, fetch the feedback documents, rewrite the candidate
        query (Rocchio or the engine's feedback query on the dense branch, RM3 on BM25)."""
        conn, name, n = q.scope.connector, q.scope.collection, q.scope.layout.names
        plan = q.plan
        rounds = feedback_rounds(self, plan.queries, n.dense, n.sparse)
        results = []
        for r in rounds:
            if len(r.queries) == 1:
                field_name, vector = next(iter(r.queries.items()))
                hits = yield twin(conn, "search", name, field_name, vector, r.depth,
                                  filter=plan.filter)
            else:
                hits = yield twin(conn, "hybrid_search", name, r.queries, k=r.depth,
                                  filter=plan.filter,
                                  prefetch_k=max(q.scope.prefetch_k, r.depth),
                                  fusion=q.scope.fusion)
            results.append(hits)
        ids = list(dict.fromkeys(h.id for hits in results for h in hits))
        fields = [n.dense] if any(n.dense in r.fed for r in rounds) else False
        records = (yield twin(conn, "get", name, ids, with_vectors=fields)) if ids else []
        yield blocking(expand_queries, self, q.text, plan.queries, rounds, results, records,
                       dense_field=n.dense, sparse_field=n.sparse, sparse=q.scope.layout.sparse,
                       text_key=q.text_key,
                       engine_feedback=conn.capabilities.native_feedback)


# A misspelt setting is refused with the nearest name, not Python's bare TypeError.
PseudoRelevanceFeedback.__init__ = checked_keywords(PseudoRelevanceFeedback.__init__)  # type: ignore[method-assign]


def rocchio(query: np.ndarray, feedback: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """``alpha * query + beta * mean(feedback)``, rescaled to the query's norm (so cosine and
    dot-product engines, and score fusion, see a query of the usual scale). An empty
    feedback set returns the query unchanged."""
    q = np.asarray(query, dtype=np.float32)
    fb = np.asarray(feedback, dtype=np.float32).reshape(-1, q.shape[-1])
    if not len(fb):
        return q
    moved = alpha * q + beta * fb.mean(axis=0)
    norm = float(np.linalg.norm(moved))
    return q if norm == 0.0 else (moved * (np.linalg.norm(q) / norm)).astype(np.float32)


def rm3(query: SparseVector, feedback: Sequence[SparseVector], scores: Sequence[float],
        n_terms: int, original_weight: float) -> SparseVector:
    """RM3 over term-count vectors: the expanded query's term weights (a distribution).

    Args:
        query: The query's term counts.
        feedback: Each feedback document's term counts.
        scores: The documents' retrieval scores, used as ``P(Q|D)``; when any is <= 0 (fused
            or shifted scores) the documents weigh the same.
        n_terms: Expansion terms kept from the relevance model.
        original_weight: ``P(w|Q')`` = this x the query's distribution + the rest x the
            relevance model's.
    """
    if len(feedback) != len(scores):
        raise InvalidInputError(f"{len(feedback)} feedback documents but {len(scores)} scores.")
    pairs = [(d, s) for d, s in zip(feedback, scores) if d.values.sum() > 0]  # empty texts add nothing
    if not pairs:
        return query
    docs = [d for d, _ in pairs]
    weights = np.asarray([s for _, s in pairs], dtype=np.float64)
    if (weights <= 0).any() or not np.isfinite(weights).all():
        weights = np.ones(len(docs))
    model: dict[int, float] = defaultdict(float)
    for d, w in zip(docs, weights):
        for t, p in zip(d.indices.tolist(), (d.values / d.values.sum()).tolist()):
            model[t] += w * p
    top = sorted(model.items(), key=lambda kv: (-kv[1], kv[0]))[:n_terms]
    total = sum(v for _, v in top)
    mixed: dict[int, float] = defaultdict(float)
    for t, v in top:
        mixed[t] += (1.0 - original_weight) * v / total
    qsum = float(query.values.sum())
    if qsum > 0:
        for t, c in zip(query.indices.tolist(), query.values.tolist()):
            mixed[t] += original_weight * c / qsum
    ids = sorted(t for t, v in mixed.items() if v > 0)
    return SparseVector(np.array(ids, dtype=np.int64), np.array([mixed[t] for t in ids]))


@dataclass(frozen=True)
class Round:
    """One feedback search: the branches it feeds, the queries it runs, how deep."""

    fed: tuple[str, ...]
    queries: dict[str, Any]
    depth: int


def feedback_rounds(prf: PseudoRelevanceFeedback, queries: dict[str, Any], dense_field: str,
                    sparse_field: str) -> list[Round]:
    """The searches a query's feedback needs: one fused round (``interpolate="before"``, or
    a single branch), else one per fed branch on its own."""
    if prf.sparse_docs and isinstance(queries.get(sparse_field), str):
        raise UnsupportedFeatureError(
            f"prf.sparse_docs > 0 expands the BM25 query's term weights (RM3), but field "
            f"{sparse_field!r} is the engine's BM25 over raw text, queried with text. Set "
            "sparse_docs=0, or build the collection with prf= set (HybridRetriever then stores "
            "client-made BM25 vectors) or with BM25Encoder(idf='client').")
    fed = tuple(f for f, n in ((dense_field, prf.dense_docs), (sparse_field, prf.sparse_docs))
                if n and f in queries)
    branches = {f: queries[f] for f in (dense_field, sparse_field) if f in queries}
    if prf.interpolate == "before" or len(branches) == 1:
        return [Round(fed, branches, prf.depth)] if fed else []
    depth = {dense_field: prf.dense_docs, sparse_field: prf.sparse_docs}
    return [Round((f,), {f: branches[f]}, depth[f]) for f in fed]


def expand_queries(prf: PseudoRelevanceFeedback, query: str, queries: dict[str, Any],
                   rounds: list[Round], results: list[list[Any]], records: list[Any], *,
                   dense_field: str, sparse_field: str, sparse: Any, text_key: str,
                   engine_feedback: bool = False) -> None:
    """Replace ``queries``' dense / sparse entries by their feedback versions, from each
    round's hits (``.id``, ``.score``) and the fetched records (``.vectors``, ``.payload``);
    ``engine_feedback``: the engine runs ``FeedbackQuery`` (``dense_mode="engine"`` uses it)."""
    from vectorbridge.connectors.queries import FeedbackQuery

    by_id = {r.id: r for r in records}
    for r, hits in zip(rounds, results):
        if dense_field in r.fed:
            top = [h for h in hits[: prf.dense_docs] if h.id in by_id]
            vecs = np.asarray([by_id[h.id].vectors[dense_field] for h in top], dtype=np.float32)
            if prf.dense_mode == "engine" and engine_feedback and len(top) >= 2:
                queries[dense_field] = FeedbackQuery(
                    np.asarray(queries[dense_field], np.float32), vecs,
                    tuple(h.score for h in top), *prf.engine_coefficients)
            else:
                queries[dense_field] = rocchio(queries[dense_field], vecs, prf.alpha, prf.beta)
        if sparse_field in r.fed:
            top = [h for h in hits[: prf.sparse_docs] if h.id in by_id]
            texts = [str((by_id[h.id].payload or {}).get(text_key) or "") or " " for h in top]
            expanded = rm3(sparse.term_counts([query])[0], sparse.term_counts(texts),
                           [h.score for h in top], prf.sparse_terms, prf.original_weight)
            queries[sparse_field] = sparse.query_vector(expanded)


__all__ = ["PseudoRelevanceFeedback", "rocchio", "rm3", "Round", "feedback_rounds", "expand_queries"]
