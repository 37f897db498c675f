"""Sync and async twins over one core: engine logic as generators of client calls.

Every engine operation is written once, as a generator that *yields* the client calls it
needs (:class:`Call`: a method name and its arguments) and receives each call's result back.
It never touches a client itself. Two small drivers execute the calls: :func:`run_sync` on a
blocking client (``QdrantClient``, ``MilvusClient``) and :func:`run_async` on its async twin
(``AsyncQdrantClient``, ``AsyncMilvusClient``), whose methods have the same names and
arguments. So validation, batching, paging and result parsing exist once, and the async
methods are native awaits on the engines' async clients, not thread-pool wrappers.

Example:
    >>> def count_then_double(name):
    ...     n = yield Call("count", (name,))
    ...     return 2 * n
    >>> class Fake:
    ...     def count(self, name): return 21
    >>> run_sync(count_then_double("docs"), Fake())
    42
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generator, TypeVar

T = TypeVar("T")

#: An engine operation: yields :class:`Call`\ s, receives their results, returns ``T``.
Op = Generator["Call", Any, T]


@dataclass(frozen=True)
class Call:
    """One client method call.

    Attributes:
        method: Name of the method, the same on the sync and the async client.
        args: Positional arguments.
        kwargs: Keyword arguments.
        sync_only: Run it on the sync client even from the async driver: for the few calls
            an engine's async client cannot make (Milvus Lite's async ``create_collection``).
    """

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    sync_only: bool = False


def call(method: str, *args: Any, **kwargs: Any) -> Call:
    """Shorthand: ``yield call("search", name, data=...)``."""
    return Call(method, args, kwargs)


def run_sync(op: Op[T], client: Any) -> T:
    """Drive ``op`` on a blocking client; client errors are raised inside ``op``."""
    try:
        c = next(op)
        while True:
            try:
                result = getattr(client, c.method)(*c.args, **c.kwargs)
            except Exception as e:  # let the operation handle or re-raise it
                c = op.throw(e)
            else:
                c = op.send(result)
    except StopIteration as done:
        return done.value


async def run_async(op: Op[T], aclient: Any, client: Any) -> T:
    """Drive ``op`` on an async client (``sync_only`` calls go to ``client``)."""
    try:
        c = next(op)
        while True:
            try:
                if c.sync_only:
                    result = getattr(client, c.method)(*c.args, **c.kwargs)
                else:
                    result = await getattr(aclient, c.method)(*c.args, **c.kwargs)
            except Exception as e:
                c = op.throw(e)
            else:
                c = op.send(result)
    except StopIteration as done:
        return done.value


__all__ = ["Call", "Op", "call", "run_sync", "run_async"]
