"""What tracing costs a query: Edge hybrid ``invoke`` p50 without OpenTelemetry, with the API
installed and no SDK configured, and with an SDK recording every span.

    vectorbridge bench tracing DATA [--engine qdrant-edge] [--rounds 5] [--split train]

The BEIR corpus is stored once (cached document vectors, BM25); each query is a
``HybridRetriever.invoke`` (dense + BM25, the engine's fusion) whose dense query vector comes
from the vector cache, so the figure is the library and the engine, not a model. The modes
take turns, one pass over every query each per round, the order rotating each round, so
drift of the machine falls on all of them alike; p50 and p95 are over every round's queries,
and each mode's ratio is against "no OpenTelemetry" in the same run (target for "API, no
SDK": within 2 %).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vectorbridge import tracing
from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, \
    store_corpus, table, write_report
from vectorbridge.connectors.registry import engine as engine_entry


def _modes() -> dict[str, Callable[[], Any]]:
    """Each mode's set-up (returning what to undo): how tracing is configured for it."""
    real_api = tracing._trace

    def none() -> Any:
        tracing._trace = None  # as if the API were not installed: the shared do-nothing span

    def api() -> Any:
        tracing._trace = real_api
        tracing.use_tracer_provider(None)  # the global provider: the API's proxy, no SDK

    modes = {"no OpenTelemetry": none, "API, no SDK": api}
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        return modes
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def sdk() -> Any:
        tracing._trace = real_api
        tracing.use_tracer_provider(provider)
        exporter.clear()

    modes["SDK, every span recorded"] = sdk
    return modes


def main(argv: list[str] | None = None) -> None:
    from vectorbridge.bench.data import CachedEmbeddings
    from vectorbridge.retrievers import FieldNames, HybridRetriever

    if tracing._trace is None:
        sys.exit("bench tracing compares with and without the OpenTelemetry API: "
                 'pip install "vectorbridge[otel]" first.')
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--engine", default="qdrant-edge")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, Q = dense_embeddings(c)
    command = ("vectorbridge bench tracing " + " ".join(argv if argv is not None
                                                        else sys.argv[1:])).strip()
    modes = _modes()
    lat: dict[str, list[float]] = {m: [] for m in modes}
    answers: dict[str, list[list[str]]] = {}
    real_api = tracing._trace
    with tempfile.TemporaryDirectory(prefix="vb-tracing-") as work:
        conn = engine_entry(args.engine).open(Path(work), [], None)
        bm25 = store_corpus(conn, c, D)
        r = HybridRetriever(connector=conn, collection="beir",
                            dense=CachedEmbeddings(dict(zip(c.qtexts, Q))), sparse=bm25,
                            fields=FieldNames(dense="dense", sparse="sparse"), text_key="text",
                            k=10)
        for q in c.qtexts[:50]:
            r.invoke(q)  # warm the engine and the caches (not counted)
        names = list(modes)
        try:
            for round_ in range(args.rounds):
                for m in names[round_ % len(names):] + names[: round_ % len(names)]:
                    modes[m]()
                    got = []
                    for q in c.qtexts:
                        t = time.perf_counter()
                        got.append([d.id for d in r.invoke(q)])
                        lat[m].append((time.perf_counter() - t) * 1000)
                    answers.setdefault(m, got)
                print(f"  round {round_ + 1}/{args.rounds}", flush=True)
        finally:
            tracing._trace = real_api
            tracing.use_tracer_provider(None)
            conn.close()
    base = float(np.percentile(lat[names[0]], 50))
    rows = []
    for m in names:
        p50, p95 = float(np.percentile(lat[m], 50)), float(np.percentile(lat[m], 95))
        rows.append([m, f"{p50:.3f}", f"{p95:.3f}", f"{p50 / base:.3f}x",
                     "yes" if answers[m] == answers[names[0]] else "NO"])
        print(f"  {m}: p50 {p50:.3f} ms ({p50 / base:.3f}x), p95 {p95:.3f} ms", flush=True)
    write_report(Path(args.out) / "tracing.md", [
        "# What tracing costs a query", "",
        f"Command: `{command}`. Engine {args.engine}, {len(c.texts):,} documents, "
        f"{len(c.qtexts)} queries x {args.rounds} rounds per mode, modes taking turns; "
        "dense query vectors from the cache (no model in the timing).", "", *table(
            ["tracing", "hybrid invoke p50 ms", "p95 ms", "p50 vs none", "same top 10"],
            rows)])


__all__ = ["main"]
