"""vectorbridge: encoders -> connectors -> retrievers, between embedding models and vector DBs.

Data flows one way: :mod:`vectorbridge.encoders` turn text into vectors and know nothing of
databases; :mod:`vectorbridge.connectors` store and search those vectors in Qdrant or Milvus
from one :class:`~vectorbridge.connectors.CollectionSpec`; :mod:`vectorbridge.retrievers`
wraps both as LangChain components.
"""

from vectorbridge.errors import (
    CollectionNotFoundError,
    InvalidInputError,
    MissingDependencyError,
    ServerUnavailableError,
    SpecMismatchError,
    StoreLockedError,
    TenantScopeError,
    UnsupportedFeatureError,
    VectorBridgeError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "VectorBridgeError",
    "InvalidInputError",
    "SpecMismatchError",
    "UnsupportedFeatureError",
    "CollectionNotFoundError",
    "ServerUnavailableError",
    "TenantScopeError",
    "StoreLockedError",
    "MissingDependencyError",
]
