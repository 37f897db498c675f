"""The dense field kind: one float32 vector per point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vectorbridge.connectors.fields.base import FieldKind, Metric, dense_values, one_row, unit_rows
from vectorbridge.connectors.queries import FeedbackQuery
from vectorbridge.errors import InvalidInputError

#: Engine-side quantizations a dense field can ask for.
ENGINE_QUANTIZATIONS: tuple[str, ...] = (
    "binary-1bit", "binary-1.5bit", "binary-2bit", "scalar-int8",
    "pq-x4", "pq-x8", "pq-x16", "pq-x32", "pq-x64",
    "turbo-1bit", "turbo-1.5bit", "turbo-2bit", "turbo-4bit", "turbo-8bit",
)


@dataclass(frozen=True)
class DenseField(FieldKind):
    """One float32 vector per point, ``dim`` long.

    ``encoding`` names what produced the vectors when that matters for compatibility (an
    FDE configuration as JSON): it is stored with the spec, so reopening the collection
    with another encoding is refused instead of silently mixing incomparable vectors.

    ``quantization`` asks the engine to keep a compressed copy for search and rescore its
    ``oversampling * k`` candidates with the originals: one of :data:`ENGINE_QUANTIZATIONS`
    (Qdrant binary 1 / 1.5 / 2-bit, scalar int8, product quantization at x4-x64, TurboQuant
    at 1-8 bits). ``rescore=False`` ranks by the compressed copies alone (faster, and the
    float originals are never read).

    ``on_disk=True`` keeps the float originals in files read through the page cache instead
    of in memory; with ``quantization`` the compressed copies stay in RAM, so a search walks
    RAM and reads only its ``oversampling * k`` candidates' floats from disk to rescore them:
    the memory of a large collection for a small loss of speed (docs: Scale). Qdrant applies
    it (capability ``on_disk_vectors``); Milvus refuses it.

    ``index=False``: the field is stored but never searched by ANN, only read to rescore
    another field's candidates (the full vectors beside a reduced field): no graph is built
    (Qdrant HNSW ``m=0``; Milvus a FLAT index), so ingest and optimize do not pay for one.
    A search on it is still exact, by a full scan."""

    dim: int
    metric: Metric = Metric.COSINE
    encoding: str | None = None
    quantization: str | None = None
    oversampling: float = 4.0
    rescore: bool = True
    on_disk: bool = False
    index: bool = True
    kind: Literal["dense"] = "dense"

    array_column = True
    dtype = np.float32

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def check(self) -> None:
        self._check_metric_and_dim()
        self._check_index()
        if self.quantization is not None and self.quantization not in ENGINE_QUANTIZATIONS:
            raise InvalidInputError(f"quantization={self.quantization!r}: use one of "
                                    f"{ENGINE_QUANTIZATIONS}.")
        if not self.oversampling >= 1:
            raise InvalidInputError(f"oversampling must be >= 1, got {self.oversampling!r}.")
        if not isinstance(self.rescore, bool):
            raise InvalidInputError(f"rescore must be True or False, got {self.rescore!r}.")
        if not isinstance(self.on_disk, bool):
            raise InvalidInputError(f"on_disk must be True or False, got {self.on_disk!r}.")

    def check_values(self, label: str, value: Any, n: int) -> np.ndarray:
        return dense_values(label, value, n, self.dim)

    def check_query(self, label: str, query: Any, field_name: str) -> Any:
        """A ``(dim,)`` or one-row ``(1, dim)`` vector, or a :class:`FeedbackQuery`."""
        if isinstance(query, FeedbackQuery):
            return _feedback(label, query, self.dim)
        return dense_values(label, one_row(query), 1, self.dim)[0]

    def score(self, query: Any, value: Any) -> float:
        if self.metric is Metric.COSINE:
            return float(unit_rows(query[None])[0] @ unit_rows(value[None])[0])
        if self.metric is Metric.EUCLID:
            return -float(np.linalg.norm(query - value))
        return float(query @ value)

    def wire_bytes(self, column: Any, n: int, wire: Any) -> int:
        return self.dim * wire.float_bytes + 16


def _feedback(label: str, q: FeedbackQuery, dim: int) -> FeedbackQuery:
    """A feedback query with float32 vectors of the field's size and one finite score per
    example (two at least: the engine scores pairs of them)."""
    target = dense_values(f"{label} target", [q.target], 1, dim)[0]
    examples = dense_values(f"{label} examples", q.examples, len(q.examples), dim)
    scores = tuple(float(s) for s in q.scores)
    if len(examples) < 2 or len(scores) != len(examples) or not np.all(np.isfinite(scores)):
        raise InvalidInputError(f"{label}: a FeedbackQuery needs at least 2 examples, each with "
                                f"one finite score; got {len(examples)} examples, "
                                f"{len(scores)} scores.")
    coefficients = (q.a, q.b, q.c)
    if not all(isinstance(x, (int, float)) and np.isfinite(x) for x in coefficients):
        raise InvalidInputError(f"{label}: a, b, c must be finite numbers, got {coefficients}.")
    return FeedbackQuery(target, examples, scores, *map(float, coefficients))


__all__ = ["DenseField", "ENGINE_QUANTIZATIONS"]
