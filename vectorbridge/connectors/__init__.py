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
- :class:`WriteReport`: what ``upsert`` returns (an ``int``, with the ids a
  :data:`WriteMode` ``"insert"`` / ``"update"`` refused).
"""

from vectorbridge.connectors.base import Connector, Hit, Page, Record
from vectorbridge.connectors.copying import CopyReport, Verification, copy_collection
from vectorbridge.connectors.engine import Capabilities, Engine
from vectorbridge.connectors.filters import And, Eq, F, Filter, In, Not, Or, Range
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.connectors.journal import IngestJournal
from vectorbridge.connectors.milvus import MilvusConnector, MilvusEngine
from vectorbridge.connectors.qdrant import QdrantConnector, QdrantEngine
from vectorbridge.connectors.reference import ReferenceConnector, ReferenceEngine
from vectorbridge.connectors.registry import ENGINES, EngineEntry
from vectorbridge.connectors.results import WriteReport
from vectorbridge.connectors.retry import RetryPolicy
from vectorbridge.connectors.spec import (
    BinaryField, CollectionSpec, DenseField, Metric, MultiVectorField, SparseField,
)
from vectorbridge.connectors.writes import WriteMode

__all__ = [
    "CollectionSpec", "DenseField", "SparseField", "MultiVectorField", "BinaryField", "Metric",
    "Connector", "QdrantConnector", "MilvusConnector", "ReferenceConnector", "Hit", "Record",
    "Filter", "F", "Eq", "In", "Range", "And", "Or", "Not", "Fusion",
    "RetryPolicy", "IngestJournal", "ENGINES", "EngineEntry", "Capabilities",
    "Engine", "QdrantEngine", "MilvusEngine", "ReferenceEngine",
    "Page", "copy_collection", "CopyReport", "Verification",
    "WriteReport", "WriteMode",
]
