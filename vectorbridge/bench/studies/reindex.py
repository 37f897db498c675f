"""Re-embedding behind an alias: the time to build a new version of a BEIR corpus with a new
encoder from the texts the live version stores, what readers see meanwhile, and the gate.

    vectorbridge bench reindex DATA [--engine qdrant-edge] [--queries 300] [--out DIR]

The live version ``docs_v1`` is BM25 alone (``BM25Encoder``); the new one adds the dense
model (MiniLM by default, encoded for real, not from a cache) to BM25: a hybrid retriever.
:func:`~vectorbridge.retrievers.reindex` builds it from the stored texts while a reader
thread queries through the alias (:class:`~vectorbridge.retrievers.VersionedRetriever`) the
whole time; then :func:`~vectorbridge.retrievers.promote` runs the quality gate on the
split's judgements and moves the alias. Reported: documents/s of the reindex against the
encoder's own documents/s on a sample in the same run, the reader's answers, errors and
p50 latency during the reindex, and the gate's report.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from vectorbridge.bench.pipelines import open_engine
from vectorbridge.bench.studies.common import beir_parser, write_report
from vectorbridge.beir import load_beir


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--engine", default="qdrant-edge", help="a registry name")
    ap.add_argument("--queries", type=int, default=300, help="queries of the gate (0 = all)")
    ap.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"))
    ap.add_argument("--max-docs", type=int, default=None)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)

    from vectorbridge.demo import default_model
    from vectorbridge.encoders import BM25Encoder, DenseEncoder
    from vectorbridge.retrievers import (
        HybridRetriever, QualityGate, VersionedRetriever, promote, reindex,
    )

    ds = load_beir(args.data, args.split, args.max_docs)
    texts = [ds.doc_text(i) for i in range(len(ds.doc_ids))]
    servers: list = []
    conn = open_engine(args.engine, Path(tempfile.mkdtemp(prefix="vb-reindex-")), servers)
    try:
        old = HybridRetriever.from_texts(texts, ds.doc_ids, connector=conn, collection="docs_v1",
                                         sparse=BM25Encoder(), k=10)
        conn.set_alias("docs", "docs_v1")
        dense = DenseEncoder(args.model or default_model(), device="cpu",
                             precision=args.precision)
        sample = texts[:256]
        t = time.perf_counter()
        dense.encode_documents(sample)
        encoder_rate = len(sample) / (time.perf_counter() - t)
        new = HybridRetriever(connector=conn, collection="docs_v2", dense=dense,
                              sparse=BM25Encoder(), k=10)
        reader = VersionedRetriever(connector=conn, alias="docs",
                                    versions={"docs_v1": old, "docs_v2": new})
        queries = list(ds.queries.values())
        lat: list[float] = []
        empty, errors = 0, []
        stop = threading.Event()

        def read() -> None:
            nonlocal empty
            i = 0
            while not stop.is_set():
                q = queries[i % len(queries)]
                i += 1
                t0 = time.perf_counter()
                try:
                    empty += not reader.invoke(q)
                    lat.append(time.perf_counter() - t0)
                except Exception as e:  # noqa: BLE001 - reported
                    errors.append(e)

        thread = threading.Thread(target=read)
        thread.start()
        try:
            report = reindex(conn, "docs", new, progress=True)
        finally:
            stop.set()
            thread.join()
        gate = QualityGate(old, new, args.data, split=args.split,
                           max_queries=args.queries or None)
        moved = promote(conn, "docs", "docs_v2", gate=gate)
        conn.close()
    finally:
        for s in servers:
            s.stop()
    g = moved.gate
    lines = [f"# bench reindex: {len(texts):,} documents of {args.data} on {args.engine}", "",
             "| what | value |", "|---|---|",
             "| live version | docs_v1: BM25 (`BM25Encoder`) |",
             f"| new version | docs_v2: {Path(str(args.model or default_model())).name} "
             f"({args.precision}) + BM25, hybrid |",
             f"| reindex | {report.documents:,} documents in {report.seconds:.1f} s: "
             f"{report.documents_per_second:.1f} docs/s |",
             f"| the dense encoder alone (256 documents, same run) | {encoder_rate:.1f} docs/s |",
             f"| reindex / encoder alone | {report.documents_per_second / encoder_rate:.2f}x |",
             f"| reader through the alias during the reindex | {len(lat):,} answers, "
             f"{len(errors)} errors, {empty} empty, p50 "
             f"{statistics.median(lat) * 1000 if lat else float('nan'):.1f} ms |",
             f"| gate ({g.queries} queries, {args.split} judgements) | {g.summary()} |",
             f"| promoted | {moved.previous} -> {moved.current} |"]
    print("\n".join(lines))
    write_report(Path(args.out) / f"reindex_{Path(args.data).name}_{args.split}.md", lines)
