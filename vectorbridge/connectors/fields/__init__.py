"""The field kinds of a :class:`~vectorbridge.connectors.spec.CollectionSpec`, one module
each, and :data:`FIELD_KINDS`, the one list of them.

A new kind is a module here (a frozen dataclass subclassing :class:`FieldKind`, with a
``kind`` name and its methods), a line in :data:`FIELD_KINDS` and the spec's argument of
that name, plus one entry in each engine's conversion table (``qdrant/convert.py``;
``milvus/schema.py`` and ``milvus/convert.py``); an engine without an entry refuses it.
"""

from __future__ import annotations

from typing import Union

from vectorbridge.connectors.fields.base import FieldKind, Metric
from vectorbridge.connectors.fields.binary import BinaryField
from vectorbridge.connectors.fields.dense import ENGINE_QUANTIZATIONS, DenseField
from vectorbridge.connectors.fields.multivector import MultiVectorField
from vectorbridge.connectors.fields.sparse import SparseField

#: Kind name -> field class, in the order specs list and store their groups.
FIELD_KINDS: dict[str, type[FieldKind]] = {
    "dense": DenseField, "sparse": SparseField, "multivector": MultiVectorField,
    "binary": BinaryField,
}

FieldType = Union[DenseField, SparseField, MultiVectorField, BinaryField]

__all__ = ["FIELD_KINDS", "FieldKind", "FieldType", "Metric", "DenseField", "SparseField",
           "MultiVectorField", "BinaryField", "ENGINE_QUANTIZATIONS"]
