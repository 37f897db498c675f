"""``vectorbridge bench DATA --tie-cost``: what deterministic rankings cost, and what they fix.

The same hybrid retriever (dense + BM25, RRF k=2: ties by construction) on Qdrant Edge is queried with
the connectors' tie-safe cut (``Connector._tie_safe``: ask for ``k + margin``, sort by score
then id, widen while a tie straddles the cut) and with the engine's own top k as it comes
(what every version before did), alternating per query. Reported: p50 latency of each, and
how many of the queries' top-k lists changed between two passes.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from vectorbridge.connectors.base import Connector


@contextmanager
def engine_order() -> Iterator[None]:
    """Within the block, connectors take the engine's top k as it comes (no tie handling)."""
    saved = Connector._tie_safe

    def as_returned(self: Connector, fetch: Any, k: int) -> Any:
        return (yield from fetch(k))

    Connector._tie_safe = as_returned  # type: ignore[method-assign]
    try:
        yield
    finally:
        Connector._tie_safe = saved  # type: ignore[method-assign]


def measure(texts: Sequence[str], ids: Sequence[str], queries: Sequence[str], emb: Any,
            workdir: Path, k: int = 10) -> dict[str, Any]:
    from vectorbridge.connectors import Fusion, QdrantConnector
    from vectorbridge.encoders import BM25Encoder
    from vectorbridge.retrievers import HybridRetriever

    conn = QdrantConnector(path=str(workdir / "ties-edge"))
    r = HybridRetriever.from_texts(list(texts), ids=list(ids), connector=conn, collection="ties",
                                   dense=emb, sparse=BM25Encoder(), k=k, fusion=Fusion("rrf", 2))
    times: dict[str, list[float]] = {"tie-safe": [], "engine order": []}
    runs: dict[str, list[list[list[str]]]] = {"tie-safe": [[], []], "engine order": [[], []]}
    for p in range(2):
        for i, q in enumerate(queries):
            sides = ["tie-safe", "engine order"] if i % 2 == 0 else ["engine order", "tie-safe"]
            for side in sides:
                t = time.perf_counter()
                if side == "tie-safe":
                    got = r.invoke(q)
                else:
                    with engine_order():
                        got = r.invoke(q)
                times[side].append(time.perf_counter() - t)
                runs[side][p].append([d.id for d in got])
    conn.close()
    out: dict[str, Any] = {"queries": len(queries), "k": k}
    for side in times:
        out[side] = {"p50_ms": statistics.median(times[side]) * 1000,
                     "changed": sum(a != b for a, b in zip(*runs[side]))}
    return out


__all__ = ["engine_order", "measure"]
