"""Read a BEIR-format folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

Used by tests and benchmarks; the library itself never needs a dataset.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from vectorbridge.errors import InvalidInputError


@dataclass
class BeirDataset:
    """Documents, queries and relevance judgements of one split.

    Attributes:
        doc_ids / texts / titles: parallel lists, in file order.
        queries: ``{query_id: text}`` for queries that have judgements in the split.
        qrels: ``{query_id: {doc_id: grade}}``.
    """

    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def doc_text(self, i: int) -> str:
        """Title and body joined, the text BEIR baselines embed."""
        return f"{self.titles[i]} {self.texts[i]}".strip()


def load_beir(folder: str | Path, split: str = "train", max_docs: int | None = None) -> BeirDataset:
    """Load a BEIR folder; ``max_docs`` keeps the first documents (judged ones first)."""
    root = Path(folder)
    for part in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / part).exists():
            raise InvalidInputError(f"{root} is not a BEIR folder: {part} is missing.")
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels" / f"{split}.tsv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    docs = [json.loads(line) for line in open(root / "corpus.jsonl", encoding="utf-8") if line.strip()]
    if max_docs is not None:
        judged = {d for rel in qrels.values() for d in rel}
        docs = sorted(docs, key=lambda d: d["_id"] not in judged)[:max_docs]
        kept = {d["_id"] for d in docs}
        qrels = {q: {d: g for d, g in rel.items() if d in kept} for q, rel in qrels.items()}
        qrels = {q: rel for q, rel in qrels.items() if rel}
    queries = {}
    for line in open(root / "queries.jsonl", encoding="utf-8"):
        if line.strip():
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return BeirDataset([str(d["_id"]) for d in docs], [d.get("title", "") for d in docs],
                       [d.get("text", "") for d in docs], queries, qrels)
