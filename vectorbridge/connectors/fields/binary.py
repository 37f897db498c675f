"""The binary field kind: a packed bit string per point, scored by Hamming distance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vectorbridge.connectors.fields.base import FieldKind, bit_values, one_row
from vectorbridge.errors import InvalidInputError


@dataclass(frozen=True)
class BinaryField(FieldKind):
    """A bit string of ``dim`` bits per point, given packed as ``dim // 8`` uint8 bytes
    (``numpy.packbits`` order, most significant bit first), scored by Hamming distance
    (negated, so higher is better). ``encoding``: the quantizer's fingerprint, as for
    :class:`DenseField`."""

    dim: int
    encoding: str | None = None
    kind: Literal["binary"] = "binary"

    array_column = True
    dtype = np.uint8

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.dim // 8,)

    @property
    def bitwise(self) -> bool:
        return True

    def check(self) -> None:
        self._check_dim()
        if self.dim % 8:
            raise InvalidInputError(f"binary field dim must be a multiple of 8 bits, got {self.dim}.")

    def check_values(self, label: str, value: Any, n: int) -> np.ndarray:
        return bit_values(label, value, n, self.dim)

    def check_query(self, label: str, query: Any, field_name: str) -> np.ndarray:
        """``(dim // 8,)`` or one-row ``(1, dim // 8)`` packed bits."""
        return bit_values(label, np.asarray(one_row(query)), 1, self.dim)[0]

    def score(self, query: Any, value: Any) -> float:
        return -float(np.bitwise_count(np.bitwise_xor(query, value)).sum())

    def wire_bytes(self, column: Any, n: int, wire: Any) -> int:
        return math.ceil(self.dim * wire.bit_bytes) + 16


__all__ = ["BinaryField"]
