"""Sync and async retrieval from one body: flows of twin calls.

A retrieval step talks to objects that each come as a sync/async pair of methods named by
LangChain's convention: ``connector.search`` / ``asearch``, ``embeddings.embed_query`` /
``aembed_query``, ``compressor.compress_documents`` / ``acompress_documents``. A *flow* is a
generator that yields :class:`Twin` calls (an object, the sync method's name, arguments)
and receives each result back; :func:`run` makes the sync calls, :func:`arun` awaits the
``a``-prefixed twins. So every stage is written once, and the async path is native awaits on
the engines' async clients, not a thread pool.

What has no async twin is CPU work: an encoder's ``encode_queries`` (SPLADE, a token model,
BM25's tokenizer), a quantizer's fit. :func:`arun` runs such a call in a worker thread, and
:func:`blocking` marks any other CPU-bound step the same way, so a slow encoder never stalls
the event loop (measured before: ten concurrent ``ainvoke`` calls with a 0.2 s query encoder
held the loop for 2 s). (:mod:`vectorbridge.connectors.calls` does the
same one level down, for the engines' client calls, with the same two drivers.)

Example:
    >>> class Doubler:
    ...     def double(self, x): return 2 * x
    ...     async def adouble(self, x): return 2 * x
    >>> def flow(d):
    ...     y = yield Twin(d, "double", (20,))
    ...     return y + 2
    >>> run(flow(Doubler()))
    42
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, TypeVar

from vectorbridge.connectors.calls import adrive, drive

T = TypeVar("T")

#: A step of a retrieval: yields :class:`Twin` calls, receives their results, returns ``T``.
Flow = Generator["Twin", Any, T]


@dataclass(frozen=True)
class Twin:
    """One call that has a sync and an async form: ``target.method(...)`` or
    ``await target.a<method>(...)``."""

    target: Any
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def twin(target: Any, method: str, *args: Any, **kwargs: Any) -> Twin:
    """Shorthand: ``hits = yield twin(connector, "search", name, field, q, k)``."""
    return Twin(target, method, args, kwargs)


def run(flow: Flow[T]) -> T:
    """Drive ``flow`` with the sync methods; their errors are raised inside the flow."""
    return drive(flow, lambda c: getattr(c.target, c.method)(*c.args, **c.kwargs))


class _Blocking:
    """The target of :func:`blocking`: a plain call, in a worker thread when driven async."""

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    async def acall(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)


_BLOCKING = _Blocking()


def blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Twin:
    """A CPU-bound step (encoding, fitting) as a twin call: inline under :func:`run`, in a
    worker thread under :func:`arun`."""
    return Twin(_BLOCKING, "call", (fn, *args), kwargs)


async def _acall(c: Twin) -> Any:
    """``await target.a<method>(...)``; a target without the async twin (an encoder's
    ``encode_queries``) runs its sync method in a worker thread, off the event loop."""
    afn = getattr(c.target, "a" + c.method, None)
    if afn is None:
        return await asyncio.to_thread(getattr(c.target, c.method), *c.args, **c.kwargs)
    return await afn(*c.args, **c.kwargs)


async def arun(flow: Flow[T]) -> T:
    """Drive ``flow`` with the async twins (``a`` + the method's name)."""
    return await adrive(flow, _acall)


__all__ = ["Flow", "Twin", "twin", "blocking", "run", "arun"]
