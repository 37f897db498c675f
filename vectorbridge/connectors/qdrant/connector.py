"""``QdrantConnector``: a :class:`~vectorbridge.connectors.base.Connector` on a new
:class:`~vectorbridge.connectors.qdrant.engine.QdrantEngine` (the options below are the engine's;
``retry`` is the connector's)."""

from __future__ import annotations

from typing import Any


from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.credentials import redact_url, secret_from
from vectorbridge.connectors.qdrant.edge import EdgeClient, is_local_mode_folder
from vectorbridge.connectors.qdrant.engine import QdrantEdgeEngine, QdrantEngine, QdrantLocalEngine
from vectorbridge.connectors.retry import RetryPolicy
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import requires

with requires("qdrant", "QdrantConnector"):
    from qdrant_client import QdrantClient, models
    from qdrant_client.local.qdrant_local import QdrantLocal


def qdrant_engine(location: str | None = None, *, url: str | None = None,
                  path: str | None = None, api_key: str | None = None, prefer_grpc: bool = False,
                  timeout: int | None = None, client: Any = None, embedded: str = "auto",
                  **client_kwargs: Any) -> QdrantEngine:
    """The engine ``QdrantConnector``'s arguments describe: Edge for a folder (unless it holds
    local-mode data, or ``embedded="local"``), local mode for ``":memory:"``, else a server;
    a given ``client`` by its type."""
    given = [x for x in (location, url, path, client) if x is not None]
    if len(given) != 1:
        raise InvalidInputError(
            "QdrantConnector needs exactly one of location=':memory:', url='http://...', "
            "path='./folder' or client=QdrantClient(...)."
        )
    if embedded not in ("auto", "edge", "local"):
        raise InvalidInputError(f"embedded={embedded!r}: use 'auto', 'edge' or 'local'.")
    if path is not None and (embedded == "edge" or (
            embedded == "auto" and not is_local_mode_folder(path))):
        client, path = EdgeClient(path), None
    if isinstance(client, EdgeClient):
        return QdrantEdgeEngine(client, where=f"path={client.path}")
    if url is not None or (location is not None and location != ":memory:"):
        api_key = secret_from(api_key, "QDRANT_API_KEY")
    if client is None:
        client = QdrantClient(location=location, url=url, path=str(path) if path else None,
                              api_key=api_key, prefer_grpc=prefer_grpc, timeout=timeout,
                              **client_kwargs)
    where = redact_url(url or location or (f"path={path}" if path else "client"))
    kind = QdrantLocalEngine if isinstance(getattr(client, "_client", None), QdrantLocal) \
        else QdrantEngine
    return kind(client, where=where, api_key=api_key, url=url or location)


def acorn_params(acorn: bool | float) -> models.AcornSearchParams | None:
    """``QdrantConnector(acorn=...)`` as Qdrant's search parameter."""
    if acorn is False:
        return None
    if acorn is True:
        return models.AcornSearchParams(enable=True)
    if isinstance(acorn, (int, float)) and not isinstance(acorn, bool) and 0.0 < acorn <= 1.0:
        return models.AcornSearchParams(enable=True, max_selectivity=float(acorn))
    raise InvalidInputError(f"acorn={acorn!r}: use True, False or a max_selectivity in (0, 1].")


class QdrantConnector(Connector):
    """Store and search :class:`CollectionSpec` collections in Qdrant.

    Args:
        location: ``":memory:"`` for an in-process, throw-away engine (qdrant-client's
            local mode: exact search, no quantization), or a URL.
        url: A Qdrant server, e.g. ``"http://localhost:6333"``.
        path: A folder for the embedded engine's files (reopened on the next run). Served by
            Qdrant Edge, the real engine in-process, unless the folder already holds
            qdrant-client local-mode data or ``embedded="local"``.
        embedded: ``"auto"`` (above), ``"edge"`` or ``"local"``: which engine serves ``path``.
        api_key: Server API key; default: the ``QDRANT_API_KEY`` environment variable. Never
            shown in ``repr``, log lines or error messages.
        prefer_grpc: Use gRPC to the server.
        timeout: Request timeout in seconds.
        client: An existing ``QdrantClient`` to wrap instead (all other args ignored); the
            async methods open an ``AsyncQdrantClient`` with its options.
        retry: Retries of a server that does not answer (connection refused or reset,
            timeouts, 429/502/503/504); default ``RetryPolicy()``, about 16 s in all.
        acorn: Filtered searches use ACORN (Qdrant's filter-aware HNSW traversal, which keeps
            recall under selective filters): ``True``, or a float = ``max_selectivity`` (the
            filter selectivity up to which ACORN is used; Qdrant's default otherwise).
        hnsw_ef: Candidates a dense search keeps while walking the HNSW graph (Qdrant's
            ``hnsw_ef``); None: the engine's default (the build's ``ef_construct``, 100).
            Higher finds more of the true top k, slower (docs: Scale).
        **client_kwargs: Passed to ``QdrantClient``: TLS (``https=True``, ``verify=`` a CA
            bundle path or ``False``, ``cert=``), ``port``, ``grpc_options``, ...

    Examples:
        >>> qdrant = QdrantConnector(location=":memory:")
        >>> qdrant.create_collection(CollectionSpec(name="docs", dense={"dense": 3})).name
        'docs'
    """

    def __init__(
        self,
        location: str | None = None,
        *,
        url: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        prefer_grpc: bool = False,
        timeout: int | None = None,
        client: QdrantClient | EdgeClient | None = None,
        embedded: str = "auto",
        retry: RetryPolicy | None = None,
        acorn: bool | float = False,
        hnsw_ef: int | None = None,
        **client_kwargs: Any,
    ) -> None:
        engine = qdrant_engine(location, url=url, path=path, api_key=api_key,
                               prefer_grpc=prefer_grpc, timeout=timeout, client=client,
                               embedded=embedded, **client_kwargs)
        engine.acorn = acorn_params(acorn)
        if hnsw_ef is not None and (isinstance(hnsw_ef, bool) or not isinstance(hnsw_ef, int)
                                    or not 1 <= hnsw_ef <= 100_000):
            raise InvalidInputError(f"hnsw_ef={hnsw_ef!r}: use an int in [1, 100000] or None.")
        engine.hnsw_ef = hnsw_ef
        super().__init__(engine, retry)

    def create_payload_index(self, collection: str, key: str,
                             schema: str = "keyword") -> None:
        """Index a payload key for fast filtering on a server (``keyword``, ``integer``,
        ``float``, ``bool``); the embedded mode accepts and ignores it."""
        self.spec(collection)
        self.client.create_payload_index(collection, key, field_schema=models.PayloadSchemaType(schema))


__all__ = ["QdrantConnector", "qdrant_engine"]
