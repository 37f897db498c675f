"""Load: the same queries sequentially, from N threads and from M asyncio tasks, on one
connector; every answer compared with the sequential one.

Used by ``tests/test_load.py`` (zero errors, identical results on every engine) and by
``vectorbridge bench load`` (throughput of each mode, the sequential run as the anchor). One
connector is shared by all threads and tasks, as a web service shares one client.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from vectorbridge.connectors import Connector

#: One query's answer as compared between modes: ids and scores, best first.
Answer = list[tuple[str, float]]


@dataclass
class LoadRun:
    """One mode's outcome: answers in query order, errors, wall time."""

    mode: str
    workers: int
    answers: list[Answer | None]
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def qps(self) -> float:
        return len(self.answers) / self.seconds if self.seconds else 0.0

    def mismatches(self, reference: "LoadRun", rel: float = 1e-5) -> list[int]:
        """Queries whose ids differ from ``reference`` or whose scores differ beyond ``rel``."""
        bad = []
        for i, (a, b) in enumerate(zip(self.answers, reference.answers)):
            if a is None or b is None or [x for x, _ in a] != [x for x, _ in b] or any(
                    abs(s - t) > rel * max(1.0, abs(t)) for (_, s), (_, t) in zip(a, b)):
                bad.append(i)
        return bad


def _answer(hits: Sequence[Any]) -> Answer:
    return [(h.id, float(h.score)) for h in hits]


def sequential(search: Callable[[Any], Sequence[Any]], queries: Sequence[Any]) -> LoadRun:
    run = LoadRun("sequential", 1, [None] * len(queries))
    t = time.perf_counter()
    for i, q in enumerate(queries):
        run.answers[i] = _answer(search(q))
    run.seconds = time.perf_counter() - t
    return run


def threaded(search: Callable[[Any], Sequence[Any]], queries: Sequence[Any],
             threads: int) -> LoadRun:
    """All queries through a pool of ``threads``; errors are collected, not raised."""
    run = LoadRun("threads", threads, [None] * len(queries))

    def one(i: int) -> None:
        try:
            run.answers[i] = _answer(search(queries[i]))
        except Exception as e:  # noqa: BLE001 - counted and reported
            run.errors.append(f"query {i}: {type(e).__name__}: {e}")

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(len(queries))))
    run.seconds = time.perf_counter() - t
    return run


def tasks(asearch: Callable[[Any], Any], queries: Sequence[Any], n_tasks: int) -> LoadRun:
    """All queries from ``n_tasks`` asyncio tasks sharing one event loop and one client."""
    run = LoadRun("asyncio", n_tasks, [None] * len(queries))

    async def main() -> None:
        todo = iter(range(len(queries)))

        async def worker() -> None:
            for i in todo:  # the tasks share one iterator: each query runs once
                try:
                    run.answers[i] = _answer(await asearch(queries[i]))
                except Exception as e:  # noqa: BLE001 - counted and reported
                    run.errors.append(f"query {i}: {type(e).__name__}: {e}")

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(n_tasks)))
        run.seconds = time.perf_counter() - t

    asyncio.run(main())
    return run


def load(conn: Connector, collection: str, field_name: str, queries: Sequence[Any], k: int = 10,
         threads: int = 16, n_tasks: int = 64, filter: Any = None,
         settle: int = 1) -> list[LoadRun]:
    """Sequential, threaded and asyncio runs of ``conn.search`` / ``asearch`` over
    ``queries``; the sequential run is the reference of the others.

    ``settle > 1`` repeats the sequential run (up to that many times) until two in a row
    agree: a server still sealing, indexing or loading segments answers differently from one
    minute to the next, whatever the concurrency. The connector's async client is opened
    inside the asyncio run's loop; use a fresh connector for async work after."""
    def search(q: Any) -> Sequence[Any]:
        return conn.search(collection, field_name, q, k=k, filter=filter)

    async def asearch(q: Any) -> Sequence[Any]:
        return await conn.asearch(collection, field_name, q, k=k, filter=filter)

    reference = sequential(search, queries)
    for attempt in range(2, settle + 1):
        again = sequential(search, queries)
        stable = not again.mismatches(reference)
        reference = again
        reference.mode = f"sequential (pass {attempt})"
        if stable:
            break
    return [reference, threaded(search, queries, threads), tasks(asearch, queries, n_tasks)]


__all__ = ["LoadRun", "load", "sequential", "tasks", "threaded"]
