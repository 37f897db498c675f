"""Qdrant: a server through qdrant-client, Qdrant Edge in-process for a folder, or
qdrant-client's local mode for ``":memory:"``.

- :mod:`.engine`: :class:`QdrantEngine` (the operations; a server), :class:`QdrantEdgeEngine`,
  :class:`QdrantLocalEngine` (what those deployments do differently);
- :mod:`.capabilities`: what each deployment holds (no qdrant-client import);
- :mod:`.connector`: :class:`QdrantConnector` and :func:`qdrant_engine`, which picks one;
- :mod:`.convert`: ids, vector params, rows and results (no I/O);
- :mod:`.filter`: portable filters -> Qdrant ``Filter``;
- :mod:`.edge`: :class:`EdgeClient`, Qdrant Edge with qdrant-client's call shapes.

Names are imported on first use (PEP 562), so reading :mod:`.capabilities` (the registry,
the docs' table) does not import qdrant-client or Qdrant Edge.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vectorbridge.connectors.qdrant.connector import (  # noqa: F401
        QdrantConnector, qdrant_engine,
    )
    from vectorbridge.connectors.qdrant.convert import (  # noqa: F401
        ID_NAMESPACE, ORIGINAL_ID_KEY, SPEC_KEY, point_id, to_hits, to_points, to_record,
    )
    from vectorbridge.connectors.qdrant.edge import AsyncEdgeClient, EdgeClient  # noqa: F401
    from vectorbridge.connectors.qdrant.engine import (  # noqa: F401
        QdrantEdgeEngine, QdrantEngine, QdrantLocalEngine, async_twin,
    )

_CONNECTOR = "vectorbridge.connectors.qdrant.connector"
_CONVERT = "vectorbridge.connectors.qdrant.convert"
_EDGE = "vectorbridge.connectors.qdrant.edge"
_ENGINE = "vectorbridge.connectors.qdrant.engine"
#: Public name -> module defining it (the registry the lazy import reads).
_EXPORTS = {
    "QdrantConnector": _CONNECTOR, "qdrant_engine": _CONNECTOR,
    "QdrantEngine": _ENGINE, "QdrantEdgeEngine": _ENGINE, "QdrantLocalEngine": _ENGINE,
    "async_twin": _ENGINE,
    "EdgeClient": _EDGE, "AsyncEdgeClient": _EDGE,
    "point_id": _CONVERT, "to_points": _CONVERT, "to_hits": _CONVERT, "to_record": _CONVERT,
    "ID_NAMESPACE": _CONVERT, "ORIGINAL_ID_KEY": _CONVERT, "SPEC_KEY": _CONVERT,
}

__all__ = ["QdrantConnector", "QdrantEngine", "QdrantEdgeEngine", "QdrantLocalEngine",
           "qdrant_engine", "EdgeClient", "AsyncEdgeClient", "async_twin",
           "point_id", "to_points", "to_hits", "to_record", "ID_NAMESPACE", "ORIGINAL_ID_KEY",
           "SPEC_KEY"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
