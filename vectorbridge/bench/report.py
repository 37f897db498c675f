"""The bench's outputs: a table on stdout, a JSON file with every number (latency samples
included), a Markdown report, and plots (quality vs bytes per vector across quantizers;
latency distributions per pipeline)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from vectorbridge.bench.anchors import Ratio
from vectorbridge.bench.pipelines import QUANTIZERS, Row


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.{digits}f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def rows_table(rows: Sequence[Row]) -> str:
    """Markdown table of result rows (latencies in ms)."""
    head = ("| part | engine | pipeline | nDCG@10 | recall@100 | MRR@10 | p50 ms | p95 ms | p99 ms | "
            "bytes/vector | ingest docs/s | note |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append("| " + " | ".join([
            r.part, r.engine, r.pipeline, _fmt(r.ndcg10), _fmt(r.recall100), _fmt(r.mrr10),
            _fmt(r.p50, 2), _fmt(r.p95, 2), _fmt(r.p99, 2), _fmt(r.bytes_per_vector, 0),
            _fmt(r.ingest_docs_s, 0), r.note]) + " |")
    return "\n".join(lines)


def ratios_table(ratios: Sequence[Ratio]) -> str:
    lines = ["| comparison | value | goal | met |", "|---|---|---|---|"]
    lines += [f"| {r.what} | {r.value:.2f} | {r.goal} | {'yes' if r.met else 'NO'} |" for r in ratios]
    return "\n".join(lines)


def markdown(meta: dict[str, Any], rows: Sequence[Row], ratios: Sequence[Ratio],
             extra: dict[str, Any], plots: Sequence[str]) -> str:
    parts = [f"# vectorbridge bench: {meta['data']} ({meta['split']})", "",
             f"Command: `{meta['command']}`", "",
             f"{meta['docs']:,} documents, {meta['queries']} queries (seed {meta['seed']}), k={meta['k']}, "
             f"model `{meta['model']}`, {meta['cpu']}, Python {meta['python']}.", "",
             "## Pipelines", "", rows_table([r for r in rows if r.part == "pipelines"])]
    anchor_rows = [r for r in rows if r.part == "anchors"]
    if anchor_rows:
        parts += ["", "## Side by side with the LangChain integrations", "", rows_table(anchor_rows),
                  "", "Ratios (median of alternating runs / paired queries):", "", ratios_table(ratios)]
    if "encoders" in extra:
        e = extra["encoders"]
        parts += ["", "## Dense encoder throughput", "",
                  f"{e['docs']} documents, {e['threads']} torch threads, native bfloat16: "
                  f"{e['native_bf16']}.", "", "| variant (backend, precision) | docs/s | vs float32 |", "|---|---|---|"]
        for p, v in e["docs_per_s"].items():
            parts.append(f"| {p} ({e['resolved'][p]}) | {v:.1f} | "
                         f"{e.get('ratio_vs_float32', {}).get(p, float('nan')):.2f}x |")
        if "quality" in e:
            parts += ["", "nDCG@10 of exact dense search, corpus and queries encoded by each variant: " +
                      ", ".join(f"{p} {q:.4f}" for p, q in e["quality"].items())]
    if "concurrency" in extra:
        parts += ["", f"## Concurrency ({extra['concurrency_uri']})", "",
                  "| in flight | ingest docs/s | query QPS |", "|---|---|---|"]
        parts += [f"| {x['in_flight']} | {x['ingest_docs_s']:,.0f} | {x['query_qps']:,.1f} |"
                  for x in extra["concurrency"]]
    if plots:
        parts += ["", "## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(parts) + "\n"


def _save(plt: Any, fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def plots(rows: Sequence[Row], out: Path, stem: str) -> list[str]:
    """Quality vs bytes/vector (float dense and each quantizer, per engine) and latency
    distributions (one box per engine x pipeline); matplotlib is a bench extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plots skipped: pip install -e '.[bench]' (matplotlib)")
        return []
    made = []
    sized = [r for r in rows if r.part == "pipelines" and r.ndcg10 is not None
             and (r.pipeline in QUANTIZERS or r.pipeline == "dense")]
    if sized:
        fig, ax = plt.subplots(figsize=(6, 4))
        for engine in dict.fromkeys(r.engine for r in sized):
            pts = sorted((r.bytes_per_vector, r.ndcg10, r.pipeline) for r in sized if r.engine == engine)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=engine)
            for x, y, name in pts:
                ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("bytes per vector (first stage)")
        ax.set_ylabel("nDCG@10")
        ax.legend(fontsize=8)
        ax.set_title("quality vs size")
        made.append(_save(plt, fig, out / f"{stem}_quality_vs_bytes.png"))
    timed_rows = [r for r in rows if r.latencies_ms]
    if timed_rows:
        fig, ax = plt.subplots(figsize=(8, 0.3 * len(timed_rows) + 1.5))
        ax.boxplot([r.latencies_ms for r in timed_rows], vert=False, showfliers=False)
        ax.set_yticks(range(1, len(timed_rows) + 1),
                      [f"{r.engine} | {r.pipeline}" for r in timed_rows], fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("latency per query, ms (log)")
        made.append(_save(plt, fig, out / f"{stem}_latency.png"))
    return made


def write(out: Path, stem: str, meta: dict[str, Any], rows: Sequence[Row], ratios: Sequence[Ratio],
          extra: dict[str, Any], with_plots: bool) -> list[Path]:
    """``<stem>.json`` and ``<stem>.md`` (and plots) under ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    made = plots(rows, out, stem) if with_plots else []
    js = out / f"{stem}.json"
    js.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows],
                              "ratios": [asdict(r) for r in ratios], **extra}, indent=1))
    md = out / f"{stem}.md"
    md.write_text(markdown(meta, rows, ratios, extra, made))
    return [js, md, *map(Path, made)]


__all__ = ["rows_table", "ratios_table", "markdown", "plots", "write"]
