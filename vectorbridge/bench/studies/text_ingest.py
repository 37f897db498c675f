"""End-to-end text ingest against the encoder alone: what the write path costs on top.

    vectorbridge bench text-ingest DATA [--n 2000] [--engine qdrant-edge]
        [--precision float32,auto] [--chunk-size 512] [--repeats 2]

The first ``--n`` documents of a BEIR corpus (repeated if it has fewer). The anchor is the
dense encoder alone, ``encode_documents`` chunk by chunk (what the ingest does). Then, per
repeat, into a fresh collection:

- ``streamed``: ``HybridRetriever.add_texts`` with the texts as a generator, dense + BM25,
  each chunk written by the background writer while the next is encoded;
- ``encode, then write``: the same texts and fields, all encoded first, then one upsert (the
  write path before streaming); its anchor is the encoder on all texts in one call
  (``encoder alone, one call``: sentence-transformers sorts a call's texts by length, so
  one large call pads less than chunks do).

Every path runs once per ``--precision`` (default ``float32,auto``: the encoders' default
before and now), all in one run. Reported: documents/s of each (median of repeats), as a
ratio to the encoder alone at the same precision and to the first precision on the same
path, plus the peak resident memory each added (this process, embedded engine included).
The BM25 encoder is part of both ingest rows and not of the anchor, so the ratio charges it
to the write path.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

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
    ap.add_argument("--precision", default="float32,auto",
                    help="comma list of the dense encoder's precisions (auto, float32, "
                         "bfloat16), all measured in this run; the first is the base of the "
                         "'x first precision' column")
    ap.add_argument("--chunk-size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    from vectorbridge.encoders import BM25Encoder, DenseEncoder
    from vectorbridge.retrievers import HybridRetriever

    c = load_corpus(args)
    texts = [c.texts[i % len(c.texts)] for i in range(args.n)]
    ids = [f"d{i}" for i in range(args.n)]
    size = args.chunk_size
    encoders = {p: DenseEncoder(c.model, device="cpu", precision=p, progress=False)
                for p in dict.fromkeys(x.strip() for x in args.precision.split(",") if x.strip())}
    for dense in encoders.values():
        dense.encode_documents(texts[:64])  # warm: first-call costs are not ingest

    def encoder_alone(dense: DenseEncoder) -> None:
        for s in range(0, len(texts), size):
            dense.encode_documents(texts[s:s + size])

    def ingest(dense: DenseEncoder, streamed: bool) -> None:
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

    paths: dict[str, Callable[[DenseEncoder], None]] = {
        "encoder alone": encoder_alone,
        "encoder alone, one call": lambda d: d.encode_documents(texts),
        "streamed": lambda d: ingest(d, True),
        "encode, then write": lambda d: ingest(d, False)}
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {
        (p, name): [] for p in encoders for name in paths}
    order = list(encoders)
    for rep in range(args.repeats):  # interleaved, the precisions' order rotating each
        for p in order[rep % len(order):] + order[:rep % len(order)]:  # repeat: drift and
            for name, path in paths.items():  # first-run memory fall on each alike
                runs[(p, name)].append(_timed(lambda: path(encoders[p])))
    rate = {key: len(texts) / statistics.median(s for s, _ in r) for key, r in runs.items()}
    first = next(iter(encoders))
    lines = ["# End-to-end text ingest vs the encoder alone", "",
             f"Command: `vectorbridge bench text-ingest {args.data} --n {args.n} --engine "
             f"{args.engine} --precision {args.precision} --chunk-size {size} --repeats "
             f"{args.repeats}`; model {c.model}; "
             + ", ".join(f"{p}: {d!r}" for p, d in encoders.items()) + ".", "",
             f"| precision | path | docs/s (median) | x encoder alone | x {first}, same path "
             "| peak RSS added MiB |", "|---|---|---|---|---|---|"]
    for (p, name), r in runs.items():
        alone, base = rate[(p, name)] / rate[(p, "encoder alone")], \
            rate[(p, name)] / rate[(first, name)]
        lines.append(f"| {p} ({encoders[p].precision}) | {name} | {rate[(p, name)]:,.1f} | "
                     f"{alone:.3f} | {base:.2f}x | {max(m for _, m in r):,.1f} |")
        print(f"  {p} {name}: {rate[(p, name)]:,.1f} docs/s ({alone:.3f}x the encoder, "
              f"{base:.2f}x {first})", flush=True)
    write_report(Path(args.out) / "text-ingest.md", lines)
