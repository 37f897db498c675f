"""Milvus through pymilvus: a server URI, or Milvus Lite (a local ``.db`` file).

- :mod:`.engine`: :class:`MilvusEngine` (the operations, the token companion collections)
  and :class:`MilvusConnector`;
- :mod:`.schema`: capabilities by version, indexes, reserved names;
- :mod:`.convert`: rows and results (no I/O);
- :mod:`.filter`: portable filters -> Milvus boolean expressions.
"""

from vectorbridge.connectors.milvus.connector import MilvusConnector
from vectorbridge.connectors.milvus.convert import to_entities, to_hits, to_token_rows
from vectorbridge.connectors.milvus.engine import MilvusEngine
from vectorbridge.connectors.milvus.schema import companion, index_for, milvus_capabilities

__all__ = ["MilvusConnector", "MilvusEngine", "milvus_capabilities", "companion", "index_for",
           "to_entities", "to_hits", "to_token_rows"]
