"""A quality gate for a new version: the old and the new retriever answer the same queries,
and the new one is promoted only if it is not worse beyond a threshold.

With relevance judgements (a BEIR folder, or ``qrels``) the gate compares nDCG@k, the bench's
metric (:mod:`vectorbridge.metrics`); without them it can only compare the two rankings, by
the mean top-k overlap (how much of the old top k the new version still returns), and a
low overlap refuses the promotion (a new model is expected to move some results, not most).

Example:
    >>> gate = QualityGate(old, new, "datasets/scifact", split="test", max_drop=0.005)  # doctest: +SKIP
    >>> print(gate.evaluate().summary())                                    # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from vectorbridge.errors import InvalidInputError
from vectorbridge.metrics import ndcg_at_k


@dataclass
class GateReport:
    """The comparison a :class:`QualityGate` made.

    Attributes:
        metric: ``"nDCG@k"`` with judgements, else ``"top-k overlap"``.
        old / new: The metric of each version (the overlap: ``1.0`` / the mean overlap).
        overlap: Mean ``|old top k ∩ new top k|`` over the shorter of the two lists (reported
            in both modes).
        queries: Queries asked of each version.
        passed: Whether the new version is within the threshold.
        threshold: ``max_drop`` (nDCG) or ``min_overlap`` (overlap).
    """

    metric: str
    old: float
    new: float
    overlap: float
    queries: int
    passed: bool
    threshold: float

    def summary(self) -> str:
        verdict = "passed" if self.passed else "refused"
        if self.metric.startswith("nDCG"):
            return (f"{self.metric} {self.old:.4f} -> {self.new:.4f} ({self.new - self.old:+.4f}, "
                    f"allowed drop {self.threshold}) over {self.queries} queries, top-k overlap "
                    f"{self.overlap:.2f}: {verdict}.")
        return (f"top-k overlap of new with old {self.overlap:.2f} (at least {self.threshold}) over "
                f"{self.queries} queries, no judgements: {verdict}.")


class QualityGate:
    """Compare an old and a new retriever on the same queries before a promotion.

    Args:
        old: The live version's retriever (anything with ``invoke(query, k=)``).
        new: The new version's retriever.
        queries: A BEIR folder (``queries.jsonl`` + ``qrels/<split>.tsv``), ``{query_id:
            text}`` (with ``qrels``), or a list of query texts (overlap only).
        qrels: ``{query_id: {doc_id: grade}}`` for ``{query_id: text}`` queries.
        split: The qrels split of a BEIR folder.
        k: Depth of the comparison.
        max_drop: nDCG@k the new version may lose against the old one.
        min_overlap: Without judgements, the least mean top-k overlap accepted.
        max_queries: Use only the first this many queries (``None``: all).
    """

    def __init__(self, old: Any, new: Any, queries: str | os.PathLike[str] | Mapping[str, str]
                 | Sequence[str], *, qrels: Mapping[str, Mapping[str, int]] | None = None,
                 split: str = "test", k: int = 10, max_drop: float = 0.01,
                 min_overlap: float = 0.5, max_queries: int | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive int, got {k!r}.")
        if not max_drop >= 0 or not 0 <= min_overlap <= 1:
            raise InvalidInputError(f"need max_drop >= 0 and 0 <= min_overlap <= 1, got "
                                    f"max_drop={max_drop!r}, min_overlap={min_overlap!r}.")
        self.old, self.new, self.k = old, new, k
        self.max_drop, self.min_overlap = float(max_drop), float(min_overlap)
        if isinstance(queries, (str, os.PathLike)):
            texts, qrels = _beir_queries(queries, split)
        elif isinstance(queries, Mapping):
            texts = {str(q): str(t) for q, t in queries.items()}
        elif isinstance(queries, Sequence):
            texts = {str(i): str(t) for i, t in enumerate(queries)}
            if qrels is not None:
                raise InvalidInputError("qrels need query ids: pass queries as {query_id: text}.")
        else:
            raise InvalidInputError("queries: a BEIR folder, {query_id: text} or a list of texts.")
        if max_queries is not None:
            texts = dict(list(texts.items())[:max_queries])
        if not texts:
            raise InvalidInputError("the quality gate needs at least one query.")
        self.queries = texts
        self.qrels = {str(q): dict(r) for q, r in qrels.items() if str(q) in texts} \
            if qrels else None
        if qrels and not self.qrels:
            raise InvalidInputError("no query of the gate has judgements in qrels: their ids "
                                    "must be the queries' ids ({query_id: text}).")

    def evaluate(self) -> GateReport:
        """Ask both versions every query and compare."""
        old = {q: [d.id for d in self.old.invoke(t, k=self.k)] for q, t in self.queries.items()}
        new = {q: [d.id for d in self.new.invoke(t, k=self.k)] for q, t in self.queries.items()}
        overlap = sum(len(set(old[q]) & set(new[q])) / max(1, min(self.k, len(old[q]), len(new[q])))
                      if old[q] or new[q] else 1.0 for q in old) / len(old)
        if self.qrels:
            a, b = ndcg_at_k(old, self.qrels, self.k), ndcg_at_k(new, self.qrels, self.k)
            return GateReport(f"nDCG@{self.k}", a, b, overlap, len(old),
                              b >= a - self.max_drop, self.max_drop)
        return GateReport(f"top-{self.k} overlap", 1.0, overlap, overlap, len(old),
                          overlap >= self.min_overlap, self.min_overlap)


def _beir_queries(folder: str | os.PathLike[str], split: str) -> tuple[dict[str, str],
                                                                     dict[str, dict[str, int]]]:
    """Queries with judgements and the judgements of a BEIR folder's split (the corpus is
    not read: the versions hold it)."""
    import csv
    import json
    from pathlib import Path

    root = Path(folder)
    for part in ("queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / part).exists():
            raise InvalidInputError(f"{root} is not a BEIR folder: {part} is missing.")
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels" / f"{split}.tsv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    texts = {}
    with open(root / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip() and (q := json.loads(line))["_id"] in qrels:
                texts[q["_id"]] = q["text"]
    return texts, qrels


__all__ = ["QualityGate", "GateReport"]
