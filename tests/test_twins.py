"""The flow drivers under every retriever: one body, sync and async."""

from __future__ import annotations

import pytest

from vectorbridge.retrievers.twins import arun, run, twin


class Store:
    """Sync methods and their async twins; ``broken`` fails both ways."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get(self, key: str) -> str:
        self.calls.append("get")
        return key.upper()

    async def aget(self, key: str) -> str:
        self.calls.append("aget")
        return key.upper()

    def broken(self) -> None:
        raise KeyError("sync")

    async def abroken(self) -> None:
        raise KeyError("async")


def flow(store: Store):
    a = yield twin(store, "get", "x")
    try:
        yield twin(store, "broken")
    except KeyError as e:  # a call's error is raised inside the flow, which may handle it
        handled = e.args[0]
    b = yield twin(store, "get", key="y")
    return a + b, handled


async def test_sync_and_async_drivers_run_the_same_flow_on_their_own_twins():
    s, a = Store(), Store()
    assert run(flow(s)) == ("XY", "sync")
    assert await arun(flow(a)) == ("XY", "async")
    assert s.calls == ["get", "get"] and a.calls == ["aget", "aget"]


async def test_an_unhandled_error_leaves_the_flow():
    def failing(store):
        yield twin(store, "broken")

    with pytest.raises(KeyError, match="sync"):
        run(failing(Store()))
    with pytest.raises(KeyError, match="async"):
        await arun(failing(Store()))
