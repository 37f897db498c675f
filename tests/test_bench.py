"""`vectorbridge bench` mechanics on a tiny BEIR folder built from the shipped sample: every
engine x pipeline row is measured (or says why not), the numbers are the right kind of
numbers, the reports are written, and the embedding cache is reused. (The figures
themselves are benchmarks, not tests: see benchmarks/RESULTS.md.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vectorbridge.bench.pipelines import quantized_bytes, sparse_bytes
from vectorbridge.bench.timing import median_ratio, paired_queries
from vectorbridge.cli import main as cli
from vectorbridge.encoders import SparseVector
from vectorbridge.metrics import mrr_at_k

SAMPLE = Path(__file__).resolve().parents[1] / "vectorbridge" / "data" / "sample.jsonl"
QRELS = {"q1": ("how do stars make their energy", "astro-2"),
         "q2": ("editing genes with CRISPR", "bio-3"),
         "q3": ("why is sourdough bread sour", "cook-1"),
         "q4": ("what causes earthquakes and mountains", "geo-1"),
         "q5": ("how does BM25 rank documents", "tech-3"),
         "q6": ("why did the Western Roman Empire fall", "hist-2")}


@pytest.fixture(scope="module")
def beir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("beir")
    rows = [json.loads(x) for x in SAMPLE.read_text().splitlines()]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(
        {"_id": r["id"], "title": r["title"], "text": r["text"]}) for r in rows))
    (root / "queries.jsonl").write_text("\n".join(json.dumps({"_id": q, "text": t})
                                                  for q, (t, _) in QRELS.items()))
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q, (_, d) in QRELS.items()))
    return root


def test_bench_measures_every_engine_and_pipeline(beir, tmp_path, minilm_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["bench", str(beir), "--split", "test", "--model", minilm_path, "--engines",
            "edge,milvus-lite", "--pipelines", "dense,bm25,hybrid-rrf,hybrid-dbsf,pq-x16",
            "--queries", "0", "--repeat", "1", "-k", "10", "--cache", str(cache),
            "--out", str(out), "--no-plots"]
    assert cli(args) == 0
    report = json.loads((out / f"bench_{beir.name}_test.json").read_text())
    rows = {(r["engine"], r["pipeline"]): r for r in report["rows"]}
    assert set(rows) == {(e, p) for e in ("edge", "milvus-lite")
                         for p in ("dense", "bm25", "hybrid-rrf", "hybrid-dbsf", "pq-x16")}
    for (engine, pipeline), r in rows.items():
        if r["note"]:  # an engine's refusal is reported, not hidden
            assert r["note"].startswith("unsupported:") and pipeline == "pq-x16", r
            continue
        assert 0 <= r["ndcg10"] <= 1 and 0 <= r["mrr10"] <= 1 and 0 <= r["recall100"] <= 1
        assert 0 < r["p50"] <= r["p95"] <= r["p99"]
        assert len(r["latencies_ms"]) == len(QRELS)
    assert rows[("edge", "pq-x16")]["note"] == ""  # Qdrant Edge applies PQ for real
    assert rows[("edge", "dense")]["bytes_per_vector"] == 384 * 4
    assert rows[("edge", "pq-x16")]["bytes_per_vector"] == 384 * 4 / 16
    assert rows[("edge", "hybrid-rrf")]["ingest_docs_s"] > 0
    for engine in ("edge", "milvus-lite"):  # these queries have one obvious answer each
        assert rows[(engine, "hybrid-rrf")]["mrr10"] >= 0.8
    md = (out / f"bench_{beir.name}_test.md").read_text()
    assert "| pipelines | edge | hybrid-rrf |" in md and "vectorbridge bench" in md
    cached = sorted(p.name for p in cache.iterdir())
    assert len(cached) == 2  # documents and queries
    mtimes = [p.stat().st_mtime_ns for p in sorted(cache.iterdir())]
    again = args[:6] + ["--engines", "edge", "--pipelines", "dense"] + args[10:]
    assert cli(again) == 0
    assert [p.stat().st_mtime_ns for p in sorted(cache.iterdir())] == mtimes  # reused


def test_bench_refuses_unknown_pipelines(beir, tmp_path, minilm_path):
    with pytest.raises(SystemExit, match="unknown pipelines"):
        cli(["bench", str(beir), "--split", "test", "--model", minilm_path, "--pipelines",
             "dense,colbert", "--cache", str(tmp_path)])


def test_paired_queries_alternate_and_ratios_are_medians():
    calls = []
    a = lambda i: calls.append(("a", i)) or i  # noqa: E731
    b = lambda i: calls.append(("b", i)) or -i  # noqa: E731
    ra, rb, ta, tb = paired_queries(a, b, [1, 2, 3], repeat=2)
    assert ra == [1, 2, 3] and rb == [-1, -2, -3] and len(ta) == len(tb) == 3
    first = [calls[j][0] for j in range(0, 12, 2)]
    assert first == ["a", "b", "a", "b", "a", "b"]  # who goes first alternates
    assert median_ratio([2.0, 9.0, 3.0], [1.0, 3.0, 1.0]) == 3.0


def test_sizes_and_mrr():
    assert quantized_bytes("binary-1bit", 384) == 48
    assert quantized_bytes("scalar-int8", 384) == 384
    assert quantized_bytes("pq-x16", 384) == 96
    assert sparse_bytes([SparseVector([1, 2], [1.0, 1.0]), SparseVector([3], [1.0])]) == 12
    qrels = {"a": {"x": 1}, "b": {"y": 1}, "c": {"z": 1}}
    assert mrr_at_k({"a": ["x"], "b": ["n", "y"], "c": ["n"] * 10 + ["z"]}, qrels, 10) == 0.5
