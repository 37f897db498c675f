"""Ranking quality metrics over ``{query_id: [doc_id, ...]}`` runs (pytrec_eval conventions)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence


def query_ndcg(ranked: Sequence[str], rel: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k of one query's ranking with graded gains (0 when nothing is relevant)."""
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(list(ranked)[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def ndcg_at_k(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int = 10) -> float:
    """Mean nDCG@k with graded gains; queries without judgements are ignored."""
    scores = [query_ndcg(run.get(qid, []), rel, k) for qid, rel in qrels.items()]
    return sum(scores) / len(scores) if scores else 0.0


def recall_at_k(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int = 100) -> float:
    """Mean fraction of relevant documents found in the top k."""
    vals = []
    for qid, rel in qrels.items():
        relevant = {d for d, g in rel.items() if g > 0}
        if relevant:
            vals.append(len(relevant & set(list(run.get(qid, []))[:k])) / len(relevant))
    return sum(vals) / len(vals) if vals else 0.0


def mrr_at_k(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int = 10) -> float:
    """Mean reciprocal rank of the first relevant document within the top k (0 if none)."""
    vals = []
    for qid, rel in qrels.items():
        ranked = list(run.get(qid, []))[:k]
        vals.append(next((1.0 / (i + 1) for i, d in enumerate(ranked) if rel.get(d, 0) > 0), 0.0))
    return sum(vals) / len(vals) if vals else 0.0
