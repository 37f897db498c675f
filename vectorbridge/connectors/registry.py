"""The engines vectorbridge runs on, listed once: name -> :class:`EngineEntry`.

The tests' backend matrix, ``vectorbridge bench --engines`` and the demo read this mapping
(one naming scheme everywhere); each entry says what the engine can do
(:class:`~vectorbridge.connectors.engine.Capabilities`) and how to open it. A server's own
capabilities are detected when a connector attaches (``connector.capabilities``); an entry's
are what that kind of engine has.

Reading the registry imports no database client: capabilities come from each engine
package's light ``capabilities`` module, and each entry's ``connect`` imports its connector
when that engine is first opened (``import vectorbridge.connectors`` stays cheap, and a
machine without pymilvus can still list, test and document the Qdrant engines).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.capabilities import WITHOUT, Capabilities
from vectorbridge.connectors.milvus.capabilities import milvus_capabilities
from vectorbridge.connectors.qdrant.capabilities import QDRANT_EDGE, QDRANT_LOCAL, QDRANT_SERVER
from vectorbridge.connectors.reference import REFERENCE, ReferenceConnector
from vectorbridge.errors import InvalidInputError

Where = Literal["embedded", "local server", "server"]


@dataclass(frozen=True)
class EngineEntry:
    """One engine: what it is, what it can do, and how to reach it.

    Attributes:
        name: The one name tests, bench and docs use.
        family: ``"reference"``, ``"qdrant"`` or ``"milvus"``.
        where: ``"embedded"`` (in this process), ``"local server"`` (a process this machine
            starts) or ``"server"`` (reached by URL).
        summary: One line for docs and ``--help``.
        capabilities: What this kind of engine holds and runs natively.
        connect: A connector from a location: a scratch folder for embedded engines, a
            server's URL or URI otherwise (it imports the engine's client on first call).
        server: For local servers, starts one under a folder (an object with ``uri`` and
            ``stop()``).
    """

    name: str
    family: Literal["reference", "qdrant", "milvus"]
    where: Where
    summary: str
    capabilities: Capabilities
    connect: Callable[[str], Connector]
    server: Callable[[Path], Any] | None = None

    def open(self, workdir: Path, servers: list[Any], url: str | None = None) -> Connector:
        """A connector on this engine: embedded data in a new folder under ``workdir``, a local
        server started there (appended to ``servers``, which the caller stops), or ``url``."""
        if self.where == "embedded":
            return self.connect(tempfile.mkdtemp(prefix=f"{self.name}-", dir=workdir))
        if self.where == "local server":
            assert self.server is not None
            servers.append(self.server(Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=workdir))))
            return self.connect(servers[-1].uri)
        if not url:
            raise InvalidInputError(f"engine {self.name!r} is a server: give its URL "
                                    f"({self.name}=URL).")
        return self.connect(url)


def _qdrant(**options: Any) -> Connector:
    """A :class:`~vectorbridge.connectors.qdrant.QdrantConnector`, qdrant-client and Qdrant Edge
    imported now (the first Qdrant engine opened pays for them, not the registry)."""
    from vectorbridge.connectors.qdrant.connector import QdrantConnector

    return QdrantConnector(**options)


def _milvus(uri: str) -> Connector:
    """A :class:`~vectorbridge.connectors.milvus.MilvusConnector`, pymilvus imported now."""
    from vectorbridge.connectors.milvus.connector import MilvusConnector

    return MilvusConnector(uri=uri)


def _milvus_lite_server(folder: Path) -> Any:
    from vectorbridge.local_servers import MilvusLiteServer

    return MilvusLiteServer(folder)


def _milvus23_server(folder: Path) -> Any:
    from vectorbridge.local_servers import Milvus23Server

    return Milvus23Server(folder)


_ENTRIES = [
    EngineEntry("reference", "reference", "embedded",
                "exact numpy brute force in memory: the tests' oracle, and the smallest engine",
                REFERENCE, lambda where: ReferenceConnector()),
    EngineEntry("qdrant-edge", "qdrant", "embedded",
                "Qdrant Edge: the real Qdrant engine in-process, data in a folder",
                QDRANT_EDGE, lambda where: _qdrant(path=where)),
    EngineEntry("qdrant-local", "qdrant", "embedded",
                "qdrant-client's local mode: a Python emulation in memory (exact search, "
                "quantization ignored)",
                QDRANT_LOCAL,
                lambda where: _qdrant(location=":memory:")),
    EngineEntry("milvus-lite-file", "milvus", "embedded", "Milvus Lite on a file",
                milvus_capabilities("milvus_lite"),
                lambda where: _milvus(str(Path(where) / "milvus.db"))),
    EngineEntry("milvus-lite-server", "milvus", "local server",
                "Milvus Lite as a gRPC server on 127.0.0.1 (the path real Milvus uses)",
                milvus_capabilities("milvus_lite"), _milvus,
                _milvus_lite_server),
    EngineEntry("milvus-2.3-server", "milvus", "local server",
                "the real Milvus 2.3.5 server binary of PyPI's `milvus` package on 127.0.0.1",
                milvus_capabilities("v2.3.5"), _milvus,
                _milvus23_server),
    EngineEntry("qdrant-server", "qdrant", "server", "a Qdrant server or cluster by URL",
                QDRANT_SERVER, lambda url: _qdrant(url=url)),
    EngineEntry("milvus-server", "milvus", "server", "a Milvus server by URI (2.4+ assumed)",
                milvus_capabilities(""), _milvus),
]

#: Every engine vectorbridge runs on, by name.
ENGINES: Mapping[str, EngineEntry] = {e.name: e for e in _ENTRIES}


def capability_table() -> str:
    """The engine table of the README and the docs (Markdown), made from the registry."""
    from dataclasses import fields

    def cell(value: Any) -> str:
        if isinstance(value, bool):
            return "yes" if value else "—"
        if isinstance(value, frozenset):
            return ", ".join(sorted(value)) or "—"
        if value is None:
            return "—"
        return f"{value:,}" if isinstance(value, int) else str(value)

    names = list(ENGINES)
    lines = ["| | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|" + "---|" * len(names),
             "| where | " + " | ".join(ENGINES[n].where for n in names) + " |"]
    for f in fields(Capabilities):
        label = f.name.replace("_", " ")
        lines.append(f"| {label} | " + " | ".join(cell(getattr(ENGINES[n].capabilities, f.name))
                                                  for n in names) + " |")
    return "\n".join(lines)


def capability_notes() -> str:
    """What each capability means and what happens without it (Markdown), from
    :class:`Capabilities`' docstring and :data:`WITHOUT`."""
    import re
    from dataclasses import fields

    doc = Capabilities.__doc__ or ""
    lines = ["| capability | what it means | without it |", "|---|---|---|"]
    for f in fields(Capabilities):
        m = re.search(rf"{f.name}: (.*?)(?=\n\s+\w+: |\Z)", doc, re.S)
        meaning = " ".join(m.group(1).split()) if m else ""
        lines.append(f"| {f.name.replace('_', ' ')} | {meaning} | {WITHOUT[f.name]} |")
    return "\n".join(lines)


def engine(name: str) -> EngineEntry:
    """The entry called ``name``, or an error listing the names."""
    if name not in ENGINES:
        raise InvalidInputError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}.")
    return ENGINES[name]


__all__ = ["ENGINES", "EngineEntry", "engine", "capability_table", "capability_notes"]
