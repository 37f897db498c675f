"""End-to-end text ingest against the encoder alone: what the write path costs on top.

    vectorbridge bench text-ingest DATA [--n 2000] [--engine qdrant-edge]
        [--precision auto] [--chunk-size 512] [--repeats 2]

The first ``--n`` documents of a BEIR corpus (repeated if it has fewer). The anchor is the
dense encoder alone, ``encode_documents`` chunk by chunk (what the ingest does). Then, per
repeat, into a fresh collection:

- ``streamed``: ``HybridRetriever.add_texts`` with the texts as a generator, dense + BM25,
  each chunk written by the background writer while the next is encoded;
- ``encode, then write``: the same texts and fields, all encoded first, then one upsert (the
  write path before streaming); its anchor is the encoder on all texts in one call
  (``encoder alone, one call``: sentence-transformers sorts a call's texts by length, so
  one large call pads less than chunks do).

Reported: documents/s of each (median of repeats) and as a ratio to the encoder alone in the
same run, plus the peak resident memory each added (this process, embedded engine included). The BM25 encoder is part of both ingest
rows and not of the anchor, so the ratio charges it to the write path.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from vectorbridge.bench.studies.common import beir_parser, load_corpus, write_report
from vectorbridge.connectors.registry import engine as engine_entry


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(fn: Any) -> tuple[float, float]:
    """Seconds of ``fn()`` and the peak resident memory it added, MiB (Linux: the
    high-water mark is reset first through ``/proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    base = _status_mb("VmRSS")
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t, _status_mb("VmHWM") - base


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--engine", default="qdrant-edge")
    ap.add_argument("--precision", default="auto", help="the dense encoder's: auto, float32, bfloat16")
    ap.add_argument("--chunk-size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    from vectorbridge.encoders import BM25Encoder, DenseEncoder
    from vectorbridge.retrievers import HybridRetriever

    c = load_corpus(args)
    texts = [c.texts[i % len(c.texts)] for i in range(args.n)]
    ids = [f"d{i}" for i in range(args.n)]
    dense = DenseEncoder(c.model, device="cpu", precision=args.precision, progress=False)
    dense.encode_documents(texts[:64])  # warm: first-call costs are not ingest
    size = args.chunk_size

    def encoder_alone() -> None:
        for s in range(0, len(texts), size):
            dense.encode_documents(texts[s:s + size])

    def ingest(streamed: bool) -> None:
        entry = engine_entry(args.engine)
        with tempfile.TemporaryDirectory() as work:
            servers: list[Any] = []
            conn = entry.open(Path(work), servers)
            try:
                r = HybridRetriever(connector=conn, collection="ingest", dense=dense,
                                    sparse=BM25Encoder())
                if streamed:
                    r.add_texts((t for t in texts), iter(ids), chunk_size=size)
                else:  # one chunk: everything encoded, then written
                    r.add_texts(texts, ids, chunk_size=len(texts))
                assert conn.count("ingest") == len(texts)
            finally:
                conn.close()
                for s in servers:
                    s.stop()

    rows: dict[str, list[tuple[float, float]]] = {
        "encoder alone": [], "streamed": [], "encoder alone, one call": [],
        "encode, then write": []}
    for _ in range(args.repeats):  # interleaved, so drift hits every row alike
        rows["encoder alone"].append(_timed(encoder_alone))
        rows["encoder alone, one call"].append(_timed(lambda: dense.encode_documents(texts)))
        rows["streamed"].append(_timed(lambda: ingest(True)))
        rows["encode, then write"].append(_timed(lambda: ingest(False)))
    anchor = len(texts) / statistics.median(s for s, _ in rows["encoder alone"])
    lines = ["# End-to-end text ingest vs the encoder alone", "",
             f"Command: `vectorbridge bench text-ingest {args.data} --n {args.n} --engine "
             f"{args.engine} --precision {args.precision} --chunk-size {size} --repeats "
             f"{args.repeats}`; model {c.model} ({dense!r}).", "",
             "| path | docs/s (median) | x encoder alone | peak RSS added MiB |",
             "|---|---|---|---|"]
    for name, runs in rows.items():
        rate = len(texts) / statistics.median(s for s, _ in runs)
        lines.append(f"| {name} | {rate:,.1f} | {rate / anchor:.3f} | "
                     f"{max(p for _, p in runs):,.1f} |")
        print(f"  {name}: {rate:,.1f} docs/s ({rate / anchor:.3f}x)", flush=True)
    write_report(Path(args.out) / "text-ingest.md", lines)
