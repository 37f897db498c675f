"""Collections named by one string, for the command line: ``ENGINE:WHERE#COLLECTION``.

``ENGINE`` is a name of the registry (:data:`~vectorbridge.connectors.ENGINES`) or a short
form of one, ``WHERE`` is what that engine is opened on, and ``#COLLECTION`` the collection
(or alias). Credentials never go into the string: ``QDRANT_API_KEY`` and ``MILVUS_TOKEN``
are read from the environment, as the connectors do.

=====================================  ==============================================
``qdrant-edge:./qdrant_data#docs``     Qdrant Edge on a folder (short: ``edge:``)
``qdrant-local:./local_data#docs``     qdrant-client's local mode on its folder
``milvus-lite:./vb.db#docs``           a Milvus Lite file (also ``milvus-lite-file:``)
``qdrant:http://host:6333#docs``       a Qdrant server (also ``qdrant-server:``)
``milvus:http://host:19530#docs``      a Milvus server, or Milvus Lite served on a port
                                       (also ``milvus-server:``, ``milvus-lite-server:``)
=====================================  ==============================================

>>> parse_uri("milvus-lite:./old.db#docs")
CollectionURI(engine='milvus-lite-file', where='./old.db', collection='docs')
"""

from __future__ import annotations

from typing import NamedTuple

from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.spec import check_name
from vectorbridge.errors import InvalidInputError

#: Short forms -> the registry's names.
SCHEMES = {
    "qdrant-edge": "qdrant-edge", "edge": "qdrant-edge",
    "qdrant-local": "qdrant-local",
    "milvus-lite": "milvus-lite-file", "milvus-lite-file": "milvus-lite-file",
    "qdrant": "qdrant-server", "qdrant-server": "qdrant-server",
    "milvus": "milvus-server", "milvus-server": "milvus-server",
    "milvus-lite-server": "milvus-server", "milvus-2.3-server": "milvus-server",
}


class CollectionURI(NamedTuple):
    """A parsed ``ENGINE:WHERE#COLLECTION``."""

    engine: str
    where: str
    collection: str


def parse_uri(text: str) -> CollectionURI:
    """Split ``ENGINE:WHERE#COLLECTION``; the error lists the forms."""
    engine, sep, rest = str(text).partition(":")
    where, hash_, collection = rest.rpartition("#")
    if not sep or not hash_ or engine not in SCHEMES or not where:
        raise InvalidInputError(
            f"{text!r} is not a collection URI: use ENGINE:WHERE#COLLECTION with ENGINE one of "
            f"{', '.join(sorted(SCHEMES))}, e.g. qdrant-edge:./qdrant_data#docs, "
            "milvus-lite:./vb.db#docs, qdrant:http://localhost:6333#docs.")
    return CollectionURI(SCHEMES[engine], where, check_name(collection, "collection"))


def open_uri(text: str) -> tuple[Connector, str]:
    """A connector on the URI's engine and the collection it names."""
    from vectorbridge.connectors.registry import _milvus, _qdrant  # imports only the one used

    uri = parse_uri(text)
    if uri.engine == "qdrant-edge":
        return _qdrant(path=uri.where, embedded="edge"), uri.collection
    if uri.engine == "qdrant-local":
        return _qdrant(path=uri.where, embedded="local"), uri.collection
    if uri.engine == "qdrant-server":
        return _qdrant(url=uri.where), uri.collection
    return _milvus(uri.where), uri.collection  # a file or a server


__all__ = ["CollectionURI", "parse_uri", "open_uri", "SCHEMES"]
