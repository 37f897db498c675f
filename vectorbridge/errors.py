"""The one exception tree of vectorbridge.

Every error a user can act on is a :class:`VectorBridgeError`; the message names the problem
and the fix. Validation errors also derive from :class:`ValueError`, so code written against
plain Python conventions (``except ValueError``) keeps working.

::

    VectorBridgeError
    ├── InvalidInputError (ValueError)      bad ids, vectors, payloads, filters, texts
    ├── SpecMismatchError (ValueError)      an existing collection differs from the spec
    ├── UnsupportedFeatureError             the engine cannot store or query this field
    ├── ServerUnavailableError (ConnectionError)  retries spent: names the server, what to check
    ├── StoreLockedError (RuntimeError)     an embedded store another connector or process holds
    ├── MissingDependencyError (ImportError)  an optional extra is not installed: names it
    └── CollectionNotFoundError (KeyError)  the collection does not exist
"""

from __future__ import annotations


class VectorBridgeError(Exception):
    """Base class of every error vectorbridge raises on purpose."""


class InvalidInputError(VectorBridgeError, ValueError):
    """Input that would corrupt or silently degrade a collection; nothing was written."""


class TenantScopeError(InvalidInputError):
    """A call that would cross tenants: an unscoped read or write of a tenant collection, a
    payload naming another tenant, an admin job on a tenant handle; nothing was done."""


class SpecMismatchError(VectorBridgeError, ValueError):
    """An existing collection does not match the :class:`CollectionSpec` it was opened with."""


class UnsupportedFeatureError(VectorBridgeError):
    """The engine lacks a field type or query feature; the message names an alternative."""


class ServerUnavailableError(VectorBridgeError, ConnectionError):
    """A server did not answer within the connector's :class:`RetryPolicy`. The message names
    the server (credentials removed) and what to check; ``__cause__`` is the last error."""


class StoreLockedError(VectorBridgeError, RuntimeError):
    """An embedded store (a Qdrant Edge folder, a Milvus Lite file) is held by another
    connector or process: embedded engines serve one process; several workers need a server."""


class MissingDependencyError(VectorBridgeError, ImportError):
    """What was used needs an optional dependency that is not installed; the message names
    the ``pip install "vectorbridge[<extra>]"`` line (:mod:`vectorbridge.extras`)."""


class CollectionNotFoundError(VectorBridgeError, KeyError):
    """The named collection does not exist on this connector."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable.
        return str(self.args[0]) if self.args else ""


__all__ = [
    "VectorBridgeError",
    "InvalidInputError",
    "TenantScopeError",
    "SpecMismatchError",
    "UnsupportedFeatureError",
    "ServerUnavailableError",
    "StoreLockedError",
    "MissingDependencyError",
    "CollectionNotFoundError",
]
