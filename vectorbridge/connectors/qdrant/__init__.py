"""Qdrant: a server through qdrant-client, Qdrant Edge in-process for a folder, or
qdrant-client's local mode for ``":memory:"``.

- :mod:`.engine`: :class:`QdrantEngine` (the operations; a server), :class:`QdrantEdgeEngine`,
  :class:`QdrantLocalEngine` (what those deployments do differently);
- :mod:`.connector`: :class:`QdrantConnector` and :func:`qdrant_engine`, which picks one;
- :mod:`.convert`: ids, vector params, rows and results (no I/O);
- :mod:`.filter`: portable filters -> Qdrant ``Filter``;
- :mod:`.edge`: :class:`EdgeClient`, Qdrant Edge with qdrant-client's call shapes.
"""

from vectorbridge.connectors.qdrant.connector import QdrantConnector, qdrant_engine
from vectorbridge.connectors.qdrant.convert import ID_NAMESPACE, ORIGINAL_ID_KEY, SPEC_KEY, \
    point_id, to_hits, to_points, to_record
from vectorbridge.connectors.qdrant.edge import AsyncEdgeClient, EdgeClient
from vectorbridge.connectors.qdrant.engine import QdrantEdgeEngine, QdrantEngine, QdrantLocalEngine, \
    async_twin

__all__ = ["QdrantConnector", "QdrantEngine", "QdrantEdgeEngine", "QdrantLocalEngine",
           "qdrant_engine", "EdgeClient", "AsyncEdgeClient", "async_twin",
           "point_id", "to_points", "to_hits", "to_record", "ID_NAMESPACE", "ORIGINAL_ID_KEY",
           "SPEC_KEY"]
