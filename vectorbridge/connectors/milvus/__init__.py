"""Milvus through pymilvus: a server URI, or Milvus Lite (a local ``.db`` file).

- :mod:`.engine`: :class:`MilvusEngine` (the operations, the token companion collections)
  and :class:`MilvusConnector`;
- :mod:`.capabilities`: what each Milvus version holds (no pymilvus import);
- :mod:`.schema`: indexes, reserved names, the collection schemas;
- :mod:`.convert`: rows and results (no I/O);
- :mod:`.filter`: portable filters -> Milvus boolean expressions.

Names are imported on first use (PEP 562), so reading :mod:`.capabilities` (the registry,
the docs' table) does not import pymilvus and the pandas it pulls in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vectorbridge.connectors.milvus.capabilities import milvus_capabilities  # noqa: F401
    from vectorbridge.connectors.milvus.connector import MilvusConnector  # noqa: F401
    from vectorbridge.connectors.milvus.convert import (  # noqa: F401
        to_entities, to_hits, to_token_rows,
    )
    from vectorbridge.connectors.milvus.engine import MilvusEngine  # noqa: F401
    from vectorbridge.connectors.milvus.schema import companion, index_for  # noqa: F401

#: Public name -> module defining it (the registry the lazy import reads).
_EXPORTS = {
    "MilvusConnector": "vectorbridge.connectors.milvus.connector",
    "MilvusEngine": "vectorbridge.connectors.milvus.engine",
    "milvus_capabilities": "vectorbridge.connectors.milvus.capabilities",
    "companion": "vectorbridge.connectors.milvus.schema",
    "index_for": "vectorbridge.connectors.milvus.schema",
    "to_entities": "vectorbridge.connectors.milvus.convert",
    "to_hits": "vectorbridge.connectors.milvus.convert",
    "to_token_rows": "vectorbridge.connectors.milvus.convert",
}

__all__ = ["MilvusConnector", "MilvusEngine", "milvus_capabilities", "companion", "index_for",
           "to_entities", "to_hits", "to_token_rows"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
