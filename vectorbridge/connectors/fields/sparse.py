"""The sparse field kind: a sparse vector per point (client-made, or the engine's BM25 of a
text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vectorbridge.connectors.fields.base import (
    FieldKind, lengths, relative_error, sparse_values, text_values,
)
from vectorbridge.encoders.types import SparseVector
from vectorbridge.errors import InvalidInputError


@dataclass(frozen=True)
class SparseField(FieldKind):
    """A sparse vector per point (BM25, SPLADE).

    ``idf=True`` asks the engine to weight the terms of client-made sparse vectors by IDF at
    search time (Qdrant ``Modifier.IDF``); engines that cannot refuse it at
    ``create_collection`` — use ``BM25Encoder(idf="client")`` there.

    ``bm25="engine"``: the field is filled from raw text by the engine's own BM25 — documents
    are upserted as strings and queries are strings; the engine tokenizes, counts terms and
    keeps the IDF statistics current as the collection grows and shrinks (Milvus' BM25
    function; on Qdrant, Qdrant's BM25 model with ``Modifier.IDF``). Engines without it
    refuse the field (capability ``engine_bm25``)."""

    idf: bool = False
    bm25: Literal["engine"] | None = None
    kind: Literal["sparse"] = "sparse"

    @property
    def from_text(self) -> bool:  # type: ignore[override]
        """Whether values are raw texts the engine turns into BM25 vectors."""
        return self.bm25 == "engine"

    @classmethod
    def from_definition(cls, value: Any) -> "SparseField":
        """Also ``None``: a field of client-made sparse vectors."""
        return super().from_definition(cls() if value is None else value)

    def check(self) -> None:
        if self.bm25 not in (None, "engine"):
            raise InvalidInputError(f"sparse field bm25={self.bm25!r}: use 'engine' (the engine's "
                                    "BM25 over raw text) or None (client-made sparse vectors).")
        if self.bm25 and self.idf:
            raise InvalidInputError("SparseField(bm25='engine') includes the engine's IDF; drop "
                                    "idf=True (it is for client-made sparse vectors).")

    def check_values(self, label: str, value: Any, n: int) -> list[Any]:
        if self.from_text:
            return text_values(label, value, n)
        return sparse_values(label, value, n)

    def check_query(self, label: str, query: Any, field_name: str) -> Any:
        return self.check_values(label, [query], 1)[0]

    def score(self, query: Any, value: Any) -> float:
        return query.dot(value)

    def reachable(self, query: Any, value: Any) -> bool:
        """An engine returns only points sharing a term with the query."""
        return bool(set(query.indices.tolist()).intersection(value.indices.tolist()))

    def wire_bytes(self, column: Any, n: int, wire: Any) -> np.ndarray:
        per = wire.text_char_bytes if self.from_text else wire.sparse_entry_bytes
        return lengths(column, n) * per + 16

    def sample_query(self, value: Any) -> Any:
        if self.from_text:  # the first words of the text
            return " ".join(str(value).split()[:12]) or None
        return value if len(value) else None

    def difference(self, expected: Any, got: Any) -> float:
        e, g = _sorted_sparse(expected), _sorted_sparse(got)
        if not np.array_equal(e.indices, g.indices):
            return float("inf")
        return relative_error(e.values, g.values)


def _sorted_sparse(v: Any) -> SparseVector:
    v = v if isinstance(v, SparseVector) else SparseVector.from_dict(dict(v))
    order = np.argsort(np.asarray(v.indices), kind="stable")
    return SparseVector(np.asarray(v.indices)[order], np.asarray(v.values, np.float32)[order])


__all__ = ["SparseField"]
