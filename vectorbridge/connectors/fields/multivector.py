"""The multi-vector field kind: a matrix of token vectors (or token codes) per point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vectorbridge.connectors.fields.base import (
    FieldKind, Metric, lengths, token_values, unit_rows,
)
from vectorbridge.encoders.scoring import maxsim
from vectorbridge.errors import InvalidInputError


@dataclass(frozen=True)
class MultiVectorField(FieldKind):
    """A ``(n_tokens, dim)`` matrix per point, scored by MaxSim (late interaction).

    ``dtype="uint8"`` stores compressed token codes instead of float vectors: each row is one
    token's code bytes (e.g. :meth:`~vectorbridge.encoders.ResidualCodec.to_bytes`, ``dim``
    bytes wide), kept at one byte per value by the engine (Qdrant's uint8 multivectors). The
    engine cannot score codes, so such a field is never searched: the retriever fetches and
    decodes the candidates' codes and runs MaxSim client-side. ``encoding`` records the
    codec's fingerprint, so codes are never decoded by another codec.

    ``index=False``: the field is never searched by ANN, only read for MaxSim over
    candidates another field found (MUVERA's FDE first stage), so the engine builds no graph
    over its tokens (Qdrant HNSW ``m=0``; Milvus a FLAT companion index): ingest does not pay
    for a graph over every token. A search on it still works, by a full scan."""

    dim: int
    metric: Metric = Metric.COSINE
    dtype: Literal["float32", "uint8"] = "float32"
    encoding: str | None = None
    index: bool = True
    kind: Literal["multivector"] = "multivector"

    @property
    def codes(self) -> bool:  # type: ignore[override]
        """Whether the field stores codes (uint8) rather than searchable float vectors."""
        return self.dtype == "uint8"

    @property
    def bitwise(self) -> bool:
        return self.codes

    def check(self) -> None:
        self._check_metric_and_dim()
        self._check_index()
        if self.dtype not in ("float32", "uint8"):
            raise InvalidInputError(f"multivector dtype={self.dtype!r}: use 'float32' (token "
                                    "vectors) or 'uint8' (compressed token codes).")

    def check_values(self, label: str, value: Any, n: int) -> list[np.ndarray]:
        return token_values(label, value, n, self.dim, codes=self.codes)

    def check_query(self, label: str, query: Any, field_name: str) -> np.ndarray:
        if self.codes:
            raise InvalidInputError(
                f"field {field_name!r} stores compressed token codes, which the engine cannot "
                "score; search another field and rescore with the decoded codes (HybridRetriever("
                "token_codec=...) does this)."
            )
        return token_values(label, [query], 1, self.dim)[0]

    def score(self, query: Any, value: Any) -> float:
        q, d = query, value
        if self.metric is Metric.COSINE:
            q, d = unit_rows(q), unit_rows(d)
        return maxsim(q, d)

    def wire_bytes(self, column: Any, n: int, wire: Any) -> Any:
        if not wire.tokens_inline:  # written to a companion collection, in requests of their own
            return 0
        return lengths(column, n) * (self.dim * wire.float_bytes + 4) + 16

    def sample_query(self, value: Any) -> Any:
        return value if len(value) else None


__all__ = ["MultiVectorField"]
