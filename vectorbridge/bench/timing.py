"""Latency statistics and paired comparisons.

This machine's speed drifts by up to 1.5x from one minute to the next, so a ratio of two
numbers measured minutes apart means little. Comparisons here alternate the two sides
(per query, or per repeated run) and report the median of the pairwise ratios."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Sequence

import numpy as np


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 in milliseconds."""
    a = np.asarray(seconds, dtype=np.float64) * 1000
    return {f"p{q}": float(np.percentile(a, q)) for q in (50, 95, 99)}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and its wall time in seconds."""
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def paired_queries(a: Callable[[int], Any], b: Callable[[int], Any], items: Sequence[int],
                   repeat: int = 1) -> tuple[list[Any], list[Any], list[float], list[float]]:
    """Run ``a(i)`` and ``b(i)`` alternately for each item (order flipped every other item,
    so neither side always runs warm); returns both result lists (first pass) and each
    side's per-item median time over ``repeat`` passes."""
    ta: list[list[float]] = [[] for _ in items]
    tb: list[list[float]] = [[] for _ in items]
    ra: list[Any] = []
    rb: list[Any] = []
    for rep in range(repeat):
        for n, i in enumerate(items):
            order = ((a, ta, ra), (b, tb, rb)) if (n + rep) % 2 == 0 else ((b, tb, rb), (a, ta, ra))
            for fn, times, results in order:
                out, dt = timed(lambda: fn(i))
                times[n].append(dt)
                if rep == 0:
                    results.append((n, out))
    ra.sort(key=lambda x: x[0])
    rb.sort(key=lambda x: x[0])
    return ([o for _, o in ra], [o for _, o in rb],
            [statistics.median(t) for t in ta], [statistics.median(t) for t in tb])


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Median of the pairwise ratios ``numerators[i] / denominators[i]``."""
    return float(statistics.median(n / d for n, d in zip(numerators, denominators) if d > 0))


__all__ = ["percentiles_ms", "timed", "paired_queries", "median_ratio"]
