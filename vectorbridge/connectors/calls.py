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

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Generator, Iterator, TypeVar

from vectorbridge import tracing
from vectorbridge.connectors.retry import Guard, log_retry

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
        idempotent: Safe to repeat after a failure whose outcome is unknown. Drivers retry
            only these; a non-idempotent call's failure goes to the operation, which replays
            a larger idempotent step.
    """

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    sync_only: bool = False
    idempotent: bool = True


def call(method: str, *args: Any, **kwargs: Any) -> Call:
    """Shorthand: ``yield call("search", name, data=...)``."""
    return Call(method, args, kwargs)


def _retrying(c: Call, guard: Guard | None) -> bool:
    return guard is not None and c.idempotent and guard.retry.attempts > 1


def _sync_call(client: Any, c: Call, guard: Guard | None) -> Any:
    if not _retrying(c, guard):
        return getattr(client, c.method)(*c.args, **c.kwargs)

    def recover(fix: tuple[str, tuple[Any, ...]]) -> None:
        getattr(client, fix[0])(*fix[1])

    return retry_sync(lambda: getattr(client, c.method)(*c.args, **c.kwargs), guard, c, recover)


def _pause(guard: Guard, c: Call, exc: Exception, attempt: int, start: float,
           delays: Iterator[float]) -> float:
    """Seconds to wait before retrying ``c`` after ``exc``; re-raises ``exc`` when it is not
    transient, and raises ``ServerUnavailableError`` when the policy's tries are spent."""
    transient = guard._transient(exc)
    delay = next(delays, None) if transient else None
    if delay is None:
        if attempt > 1 and transient:
            raise guard._unavailable(exc, c.method, attempt, time.monotonic() - start) from exc
        raise exc
    log_retry(repr(guard), c.method, exc, attempt, guard.retry.attempts, delay)
    tracing.retried(c.method, exc, attempt, delay)
    return delay


def retry_sync(fn: Callable[[], T], guard: Guard, c: Call,
               recover: Callable[[tuple[str, tuple[Any, ...]]], None] | None = None) -> T:
    """``fn()``, retried under ``guard.retry`` while it fails transiently (``c`` names the
    call in logs and errors and is offered to ``guard._recovery``)."""
    start, delays, attempt = time.monotonic(), guard.retry.delays(), 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as e:
            time.sleep(_pause(guard, c, e, attempt, start, delays))
            fix = guard._recovery(e, c.method, c.args, c.kwargs)
            if fix is not None and recover is not None:
                try:
                    recover(fix)
                except Exception:  # noqa: BLE001 - the next attempt reports what is wrong
                    pass


async def _async_call(aclient: Any, client: Any, c: Call, guard: Guard | None) -> Any:
    target = client if c.sync_only else aclient

    async def once(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        out = getattr(target, method)(*args, **kwargs)
        return out if c.sync_only else await out

    if not _retrying(c, guard):
        return await once(c.method, c.args, c.kwargs)
    start, delays, attempt = time.monotonic(), guard.retry.delays(), 0
    while True:
        attempt += 1
        try:
            return await once(c.method, c.args, c.kwargs)
        except Exception as e:
            await asyncio.sleep(_pause(guard, c, e, attempt, start, delays))
            fix = guard._recovery(e, c.method, c.args, c.kwargs)
            if fix is not None:
                try:
                    await once(fix[0], fix[1], {})
                except Exception:  # noqa: BLE001 - the next attempt reports what is wrong
                    pass


def drive(gen: Generator[Any, Any, T], execute: Callable[[Any], Any]) -> T:
    """Run a generator of calls to completion: each yielded call goes to ``execute``, whose
    result is sent back (or whose error is thrown in, for the generator to handle). An
    interrupt (``KeyboardInterrupt``; ``CancelledError`` under :func:`adrive`) is thrown in
    too, so the generator's ``finally`` and ``with`` blocks run now, in this context: a
    writer drained, a tracing span ended where it began, nothing left suspended."""
    try:
        c = next(gen)
        while True:
            try:
                result = execute(c)
            except GeneratorExit:  # the driver itself is being closed: close the flow
                gen.close()
                raise
            except BaseException as e:  # let the generator handle or re-raise it
                c = gen.throw(e)
            else:
                c = gen.send(result)
    except StopIteration as done:
        return done.value


async def adrive(gen: Generator[Any, Any, T], execute: Callable[[Any], Awaitable[Any]]) -> T:
    """:func:`drive` with an async ``execute``."""
    try:
        c = next(gen)
        while True:
            try:
                result = await execute(c)
            except GeneratorExit:
                gen.close()
                raise
            except BaseException as e:
                c = gen.throw(e)
            else:
                c = gen.send(result)
    except StopIteration as done:
        return done.value


def run_sync(op: Op[T], client: Any, guard: Guard | None = None) -> T:
    """Drive ``op`` on a blocking client; client errors are raised inside ``op``.

    With a ``guard`` (the connector), transient failures of idempotent calls are retried
    under its :class:`~vectorbridge.connectors.retry.RetryPolicy` first.
    """
    return drive(op, lambda c: _sync_call(client, c, guard))


async def run_async(op: Op[T], aclient: Any, client: Any, guard: Guard | None = None) -> T:
    """Drive ``op`` on an async client (``sync_only`` calls go to ``client``)."""
    return await adrive(op, lambda c: _async_call(aclient, client, c, guard))


__all__ = ["Call", "Op", "call", "drive", "adrive", "run_sync", "run_async"]
