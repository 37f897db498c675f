"""Async twins of the connector's public methods, made from the sync ones.

A public method's body is ``return self._run(<operation>)``, where the operation is a
generator of client calls (:mod:`~vectorbridge.connectors.calls`). :func:`twin` builds the
``a``-prefixed method that makes the same operation — same arguments, same checks — and runs
it on the engine's async client, so the two cannot drift apart.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Mapping

from vectorbridge.connectors.calls import Op

if TYPE_CHECKING:
    from vectorbridge.connectors.base import Connector


class _Building:
    """Stands in for a connector while a public method builds its operation: ``_run``
    hands the operation back instead of running it, so :func:`twin` can await it."""

    def __init__(self, connector: "Connector") -> None:
        self._connector = connector

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)

    @staticmethod
    def _run(op: Op[Any]) -> Op[Any]:
        return op


def twin(method: Callable[..., Any]) -> Callable[..., Any]:
    """The async twin of a public method whose body is ``return self._run(<operation>)``: the
    same arguments, checks and operation, run on the engine's async client."""

    signature = inspect.signature(method)

    async def amethod(self: "Connector", *args: Any, **kwargs: Any) -> Any:
        op = method(_Building(self), *args, **kwargs)
        if not inspect.isgenerator(op):  # the body must end in `return self._run(...)`
            raise TypeError(f"{method.__qualname__} does not return self._run(<operation>)")

        def arguments() -> Mapping[str, Any]:  # read only when a span records
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            return bound.arguments

        return await self._arun(op, method.__name__, arguments)

    amethod.__name__ = amethod.__qualname__ = "a" + method.__name__
    amethod.__doc__ = f"Async :meth:`{method.__name__}` (the engine's async client)."
    amethod.__signature__ = signature  # type: ignore[attr-defined]
    return amethod


__all__ = ["twin"]
