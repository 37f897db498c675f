"""Dense encoder throughput by precision, measured in alternating runs on the same texts,
and the quality each precision gives (documents and queries encoded with it)."""

from __future__ import annotations

import statistics
from typing import Any, Sequence

from vectorbridge.bench.timing import timed
from vectorbridge.encoders import DenseEncoder
from vectorbridge.encoders._st import cpu_has_native_bf16


def throughput(model: str, texts: Sequence[str], precisions: Sequence[str], repeat: int = 3,
               batch_size: int = 32) -> dict[str, Any]:
    """docs/s per precision (median of ``repeat`` alternating runs) and the median of the
    per-run ratios against float32, with the CPU facts that decide the outcome."""
    import torch

    encoders = {p: DenseEncoder(model, device="cpu", precision=p, batch_size=batch_size,
                                progress=False) for p in precisions}
    for e in encoders.values():
        e.encode_documents(list(texts[:batch_size]))  # warm-up, not timed
    runs: dict[str, list[float]] = {p: [] for p in precisions}
    for rep in range(repeat):
        order = list(precisions) if rep % 2 == 0 else list(reversed(precisions))
        for p in order:
            _, dt = timed(lambda: encoders[p].encode_documents(list(texts)))
            runs[p].append(len(texts) / dt)
    out: dict[str, Any] = {"docs": len(texts), "threads": torch.get_num_threads(),
                           "native_bf16": cpu_has_native_bf16(),
                           "resolved": {p: e.precision for p, e in encoders.items()},
                           "docs_per_s": {p: statistics.median(v) for p, v in runs.items()}}
    if "float32" in runs:
        out["ratio_vs_float32"] = {p: statistics.median(a / b for a, b in zip(v, runs["float32"]))
                                   for p, v in runs.items()}
    return out


__all__ = ["throughput"]
