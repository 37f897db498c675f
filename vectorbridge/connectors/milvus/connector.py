"""``MilvusConnector``: a :class:`~vectorbridge.connectors.base.Connector` on a new
:class:`~vectorbridge.connectors.milvus.engine.MilvusEngine` (the options below are the engine's;
``retry`` is the connector's)."""

from __future__ import annotations

from typing import Any


from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.milvus.engine import MilvusEngine
from vectorbridge.connectors.retry import RetryPolicy
from vectorbridge.extras import requires

with requires("milvus", "MilvusConnector"):
    from pymilvus import AsyncMilvusClient, MilvusClient


class MilvusConnector(Connector):
    """Store and search :class:`CollectionSpec` collections in Milvus or Milvus Lite.

    Args:
        uri: A Milvus Lite file (``"./vb.db"``) or a server (``"http://host:19530"``).
        token: Server credentials (``"user:password"`` or an API key); default: the
            ``MILVUS_TOKEN`` environment variable for a server URI. Never shown in ``repr``,
            log lines or error messages.
        timeout: Request timeout in seconds.
        index_type: Vector index for dense fields; default ``FLAT`` (exact) on Milvus Lite
            and ``AUTOINDEX`` on servers. Fields with engine quantization use IVF indexes.
        ivf_nlist: Clusters of the IVF indexes behind engine quantization.
        ivf_nprobe: Clusters an unfiltered search visits (a filtered one visits all).
        consistency_level: Of collections created here; ``"Strong"`` (default) makes every
            read see the writes acknowledged before it (Milvus' own default, ``"Bounded"``,
            may miss the last second of writes). On a server a Strong read waits for the
            next time tick (docs: Engines, *Which engine serves what*); ``"Session"`` does not wait, but
            the Milvus 2.3.5 server does not show this client's deletes under it.
        multivector_candidates: Tokens fetched per query token before exact MaxSim.
        client: An existing ``MilvusClient`` to wrap (``uri``/``token`` ignored).
        async_client: Its ``AsyncMilvusClient`` for the async methods (opened from ``uri``
            on first use when not given).
        retry: Retries of a server that does not answer (connection refused, UNAVAILABLE,
            DEADLINE_EXCEEDED, a collection a restart released); default ``RetryPolicy()``.
        **client_kwargs: Passed to ``MilvusClient`` and ``AsyncMilvusClient``: TLS
            (``secure=True``, ``server_pem_path``, ``ca_pem_path``, ``client_pem_path``,
            ``client_key_path``, ``server_name``), ``db_name``, ...

    Examples:
        >>> import tempfile, os
        >>> milvus = MilvusConnector(uri=os.path.join(tempfile.mkdtemp(), "vb.db"))
        >>> milvus.create_collection(CollectionSpec(name="docs", dense={"dense": 3})).name
        'docs'
    """

    def __init__(
        self,
        uri: str = "./vectorbridge.db",
        *,
        token: str | None = None,
        timeout: float | None = None,
        index_type: str | None = None,
        multivector_candidates: int = 100,
        ivf_nlist: int = 128,
        ivf_nprobe: int = 64,
        consistency_level: str = "Strong",
        client: MilvusClient | None = None,
        async_client: AsyncMilvusClient | None = None,
        retry: RetryPolicy | None = None,
        **client_kwargs: Any,
    ) -> None:
        engine = MilvusEngine(uri, token=token, timeout=timeout, index_type=index_type,
                              multivector_candidates=multivector_candidates, ivf_nlist=ivf_nlist,
                              ivf_nprobe=ivf_nprobe, consistency_level=consistency_level,
                              client=client, async_client=async_client, **client_kwargs)
        super().__init__(engine, retry)


__all__ = ["MilvusConnector"]
