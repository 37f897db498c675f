"""Load held: 1,000 queries from 16 threads and from 64 asyncio tasks on every engine this
machine runs (embedded and server), sharing one connector: zero errors, and every answer
identical to the sequential run's. Throughput is reported by ``vectorbridge bench load``."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vectorbridge.bench.load import load
from vectorbridge.connectors import CollectionSpec, F
from tests.backends import unique_name

N_QUERIES, N_POINTS, DIM = 1000, 400, 16


@pytest.mark.parametrize("backend", ["qdrant-local", "qdrant-edge", "milvus-lite-file",
                                     "milvus-lite-server", "milvus-2.3-server"], indirect=True)
def test_1000_queries_from_16_threads_and_64_tasks_match_the_sequential_run(backend, conn):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N_POINTS, DIM)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    name = unique_name("load")
    if backend.is_milvus:
        # The data is static once visible: Strong consistency would make every search wait
        # for the next time tick (200 ms on Milvus 2.3), which measures the tick, not load.
        conn.consistency_level = "Bounded"
    conn.create_collection(CollectionSpec(name=name, dense={"dense": DIM}))
    conn.upsert(name, [f"p{i}" for i in range(N_POINTS)], {"dense": X},
                [{"g": i % 5} for i in range(N_POINTS)])
    deadline = time.monotonic() + 60
    while conn.count(name) < N_POINTS and time.monotonic() < deadline:
        time.sleep(0.5)  # Bounded: writes become visible within the staleness bound
    queries = rng.standard_normal((N_QUERIES, DIM)).astype(np.float32)
    reference, threads, tasks = load(conn, name, "dense", queries, k=10, threads=16, n_tasks=64,
                                     filter=F("g") != 3)
    for run in (reference, threads, tasks):
        assert run.errors == [], run.errors[:3]
        assert all(a is not None and len(a) == 10 for a in run.answers)
    assert threads.mismatches(reference) == []
    assert tasks.mismatches(reference) == []
    # The reference itself is right: the exact top 10 among allowed points.
    allowed = np.array([i % 5 != 3 for i in range(N_POINTS)])
    for qi in (0, 500, 999):
        s = np.where(allowed, X @ (queries[qi] / np.linalg.norm(queries[qi])), -np.inf)
        assert [pid for pid, _ in reference.answers[qi]] == [f"p{i}" for i in np.argsort(-s)[:10]]
