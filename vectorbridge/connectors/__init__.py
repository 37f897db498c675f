"""Vectors -> databases: one :class:`CollectionSpec`, two engines.

- :class:`QdrantConnector`: Qdrant server (``url=``) or embedded (``location=":memory:"``,
  ``path=``).
- :class:`MilvusConnector`: Milvus server (``uri="http://..."``) or Milvus Lite (``uri="x.db"``).
- :class:`F` / :class:`Filter`: a portable payload filter compiled per engine.
- :class:`Fusion`: how ``hybrid_search`` fuses branches (RRF, DBSF, weighted).
- :class:`ReferenceConnector`: exact numpy search in memory (the tests' oracle).
- :class:`Engine`: the protocol a connector drives (``Connector(engine)``); each connector
  above is a :class:`Connector` on its engine (:class:`QdrantEngine`, ...).
- :data:`ENGINES`: every engine by name, with its :class:`Capabilities` and how to open it.
- :func:`copy_collection`: any engine to any other, streamed, resumable, verified;
  ``Connector.set_alias`` / ``resolve_alias``: names that move between collections.
- :class:`RetryPolicy`: backoff for servers that drop out; :class:`IngestJournal`: resumable
  ingests (``upsert(..., journal=path)``).
- ``Connector.tenant("acme")`` (a :class:`TenantConnector`): a collection with a
  ``tenant_key`` served to many tenants through handles that cannot leak.
- :class:`WriteReport`: what ``upsert`` returns (an ``int``, with the ids a
  :data:`WriteMode` ``"insert"`` / ``"update"`` refused).

The Qdrant and Milvus names are imported on first use (PEP 562): ``import
vectorbridge.connectors`` (specs, filters, the registry, the reference engine) imports no
database client, and using only one engine never imports the other's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vectorbridge.connectors.base import Connector, Hit, Page, Record
from vectorbridge.connectors.copying import CopyReport, Verification, copy_collection
from vectorbridge.connectors.engine import Capabilities, Engine
from vectorbridge.connectors.filters import And, Eq, F, Filter, In, Not, Or, Range
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.connectors.journal import IngestJournal
from vectorbridge.connectors.reference import ReferenceConnector, ReferenceEngine
from vectorbridge.connectors.registry import ENGINES, EngineEntry
from vectorbridge.connectors.results import WriteReport
from vectorbridge.connectors.retry import RetryPolicy
from vectorbridge.connectors.tenant_handle import TenantConnector
from vectorbridge.connectors.spec import (
    BinaryField, CollectionSpec, DenseField, Metric, MultiVectorField, SparseField,
)
from vectorbridge.connectors.writes import WriteMode

if TYPE_CHECKING:
    from vectorbridge.connectors.milvus.connector import MilvusConnector
    from vectorbridge.connectors.milvus.engine import MilvusEngine
    from vectorbridge.connectors.qdrant.connector import QdrantConnector
    from vectorbridge.connectors.qdrant.engine import QdrantEngine

#: Names whose modules import a database client -> the module defining each.
_LAZY = {
    "MilvusConnector": "vectorbridge.connectors.milvus.connector",
    "MilvusEngine": "vectorbridge.connectors.milvus.engine",
    "QdrantConnector": "vectorbridge.connectors.qdrant.connector",
    "QdrantEngine": "vectorbridge.connectors.qdrant.engine",
}

__all__ = [
    "CollectionSpec", "DenseField", "SparseField", "MultiVectorField", "BinaryField", "Metric",
    "Connector", "QdrantConnector", "MilvusConnector", "ReferenceConnector", "Hit", "Record",
    "Filter", "F", "Eq", "In", "Range", "And", "Or", "Not", "Fusion",
    "RetryPolicy", "IngestJournal", "ENGINES", "EngineEntry", "Capabilities",
    "Engine", "QdrantEngine", "MilvusEngine", "ReferenceEngine",
    "Page", "copy_collection", "CopyReport", "Verification",
    "WriteReport", "WriteMode", "TenantConnector",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
