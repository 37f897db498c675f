"""Dense encoder variants (precisions and backends): throughput measured in alternating runs
on the same texts, and the retrieval quality each gives with documents and queries encoded
by it (``quality``)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vectorbridge.bench.data import Corpus, dense_vectors
from vectorbridge.bench.pipelines import evaluate
from vectorbridge.bench.timing import timed
from vectorbridge.encoders import DenseEncoder
from vectorbridge.encoders._st import cpu_has_native_bf16, resolve_precision

#: ``--encoder-variants`` names -> DenseEncoder options; "float32" is the anchor, "auto" the
#: default (bfloat16 where the CPU computes it natively, else float32).
VARIANTS: dict[str, dict[str, Any]] = {
    "float32": {"precision": "float32"},
    "auto": {"precision": "auto"},
    "bfloat16": {"precision": "bfloat16"},
    "onnx-float32": {"backend": "onnx"},
    "onnx-int8": {"backend": "onnx", "quantize": "int8"},
}


def encoder(model: str, variant: str, batch_size: int = 32) -> DenseEncoder:
    if variant not in VARIANTS:
        raise SystemExit(f"unknown encoder variant {variant!r}: choose from {list(VARIANTS)}")
    return DenseEncoder(model, device="cpu", batch_size=batch_size, progress=False,
                        **VARIANTS[variant])


def throughput(model: str, texts: Sequence[str], variants: Sequence[str], repeat: int = 3,
               batch_size: int = 32) -> dict[str, Any]:
    """docs/s per variant (median of ``repeat`` runs, the order rotating) and the median of
    the per-run ratios against float32, with the CPU facts that decide the outcome."""
    import torch

    encoders = {v: encoder(model, v, batch_size) for v in variants}
    for e in encoders.values():
        e.encode_documents(list(texts[:batch_size]))  # warm-up, not timed
    runs: dict[str, list[float]] = {v: [] for v in variants}
    names = list(variants)
    for rep in range(repeat):
        for j in range(len(names)):
            v = names[(j + rep) % len(names)]
            _, dt = timed(lambda: encoders[v].encode_documents(list(texts)))
            runs[v].append(len(texts) / dt)
    out: dict[str, Any] = {"docs": len(texts), "threads": torch.get_num_threads(),
                           "native_bf16": cpu_has_native_bf16(),
                           "resolved": {v: f"{e.backend} {e.quantize or e.precision}"
                                        for v, e in encoders.items()},
                           "docs_per_s": {v: statistics.median(r) for v, r in runs.items()}}
    if "float32" in runs:
        out["ratio_vs_float32"] = {v: statistics.median(a / b for a, b in zip(r, runs["float32"]))
                                   for v, r in runs.items()}
    return out


def quality(c: Corpus, model: str, variants: Sequence[str], cache: Path) -> dict[str, float]:
    """nDCG@10 of exact dense search over the whole corpus, documents and queries encoded by
    each variant (vectors cached per variant like the float32 ones)."""
    out = {}
    for v in variants:
        loaded: list[DenseEncoder] = []

        def enc() -> DenseEncoder:  # loaded only on a cache miss
            if not loaded:
                loaded.append(encoder(model, v))
                loaded[0].progress = True
            return loaded[0]

        tag = resolve_precision(v, "cpu") if v == "auto" else v  # "auto" shares what it resolves to
        D = dense_vectors(model, c.texts, "dense", cache, lambda t: enc().encode_documents(t), tag)
        Q = dense_vectors(model, c.qtexts, "dense-q", cache, lambda t: enc().encode_queries(t),
                          tag)
        top = np.argsort(-(Q[c.subset] @ D.T), axis=1)[:, :100]
        out[v] = evaluate(c, [[c.ds.doc_ids[j] for j in row] for row in top])["ndcg10"]
    return out


__all__ = ["VARIANTS", "encoder", "throughput", "quality"]
