"""How async throughput scales with requests in flight against a server (a milvus-lite
server on 127.0.0.1 here, or any ``MILVUS_URI``): ``aupsert`` batches and ``asearch``
queries, ``n`` at a time through one ``AsyncMilvusClient``."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Sequence

import numpy as np

from vectorbridge.connectors import CollectionSpec, MilvusConnector


async def _bounded(n: int, jobs: Sequence[Any]) -> None:
    gate = asyncio.Semaphore(n)

    async def one(job: Any) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(one(j) for j in jobs))


def scale(uri: str, ids: Sequence[str], vectors: np.ndarray, queries: np.ndarray,
          levels: Sequence[int] = (1, 4, 16), batch: int = 256, k: int = 10) -> list[dict[str, Any]]:
    """Ingest docs/s and query QPS at each concurrency level (a fresh collection per level)."""
    out = []
    for n in levels:
        conn = MilvusConnector(uri=uri)
        name = f"conc{n}"
        conn.create_collection(CollectionSpec(name=name, dense={"dense": vectors.shape[1]}),
                               recreate=True)

        async def run() -> tuple[float, float]:
            t = time.perf_counter()
            await _bounded(n, [lambda s=s: conn.aupsert(name, list(ids[s:s + batch]),
                                                        {"dense": vectors[s:s + batch]})
                               for s in range(0, len(ids), batch)])
            ingest = len(ids) / (time.perf_counter() - t)
            t = time.perf_counter()
            await _bounded(n, [lambda q=q: conn.asearch(name, "dense", q, k=k) for q in queries])
            qps = len(queries) / (time.perf_counter() - t)
            await conn.aclose()
            return ingest, qps

        ingest, qps = asyncio.run(run())
        stored = MilvusConnector(uri=uri).count(name)
        if stored != len(ids):  # nothing may be lost in flight
            raise RuntimeError(f"{n} in flight: {stored} of {len(ids)} points stored")
        out.append({"in_flight": n, "ingest_docs_s": ingest, "query_qps": qps})
    return out


__all__ = ["scale"]
