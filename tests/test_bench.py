"""`vectorbridge bench` mechanics on a tiny BEIR folder built from the shipped sample: every
engine x pipeline row is measured (or says why not), the numbers are the right kind of
numbers, the reports are written, and the embedding cache is reused. (The figures
themselves are benchmarks, not tests: see docs/benchmarks.md.)"""

from __future__ import annotations

import importlib.util
import json
import sys
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


@pytest.mark.parametrize("engine", ["edge", "qdrant-local", "milvus-lite"])
def test_engine_floor_writes_every_point_and_times_only_the_write(beir, tmp_path, engine):
    # The floor bounds what any integration could gain over an anchor, so it must do the
    # real work: every document stored, with its vector and its payload, on that engine.
    import numpy as np

    from vectorbridge.bench.anchors import engine_floor
    from vectorbridge.bench.data import embeddings_for, load_corpus
    from vectorbridge.connectors import MilvusConnector, QdrantConnector
    from vectorbridge.encoders import BM25Encoder

    c = load_corpus(beir, "test", queries=0)
    rng = np.random.default_rng(0)
    D = rng.normal(size=(len(c.texts), 8)).astype(np.float32)
    emb = embeddings_for(c.texts, D, c.qtexts, rng.normal(size=(len(c.qtexts), 8)).astype(np.float32))
    conn = {"edge": lambda: QdrantConnector(path=str(tmp_path / "edge")),
            "qdrant-local": lambda: QdrantConnector(location=":memory:"),
            "milvus-lite": lambda: MilvusConnector(uri=str(tmp_path / "m.db"))}[engine]()
    bm25 = BM25Encoder(idf="client" if engine == "milvus-lite" else "engine").fit(c.texts)
    for sparse in (None, bm25):
        seconds = engine_floor(c, emb, conn, sparse=sparse, batch=4)(0)
        assert seconds > 0
        assert conn.count("floor") == len(c.texts)
        got = {r.id: r for r in conn.get("floor", c.ds.doc_ids, with_vectors=True)}
        for i, d in enumerate(c.ds.doc_ids):
            assert got[d].payload["text"] == c.texts[i]
            v = D[i] / np.linalg.norm(D[i])
            np.testing.assert_allclose(got[d].vectors["dense"] / np.linalg.norm(got[d].vectors["dense"]),
                                       v, atol=1e-5)
            assert ("bm25" in got[d].vectors) == (sparse is not None)


def test_ingest_rotation_runs_every_maker_and_keeps_each_result():
    from vectorbridge.bench.anchors import _ingest

    order: list[str] = []
    makers = [lambda rep, n=n: order.append(n) or f"{n}{rep}" for n in "abc"]
    results, times = _ingest(makers, repeat=3)
    assert results == [["a0", "a1", "a2"], ["b0", "b1", "b2"], ["c0", "c1", "c2"]]
    assert order == list("abc" + "bca" + "cab")  # nobody always goes first
    assert all(len(t) == 3 and min(t) >= 0 for t in times)


def test_bench_encoder_variants_speed_and_quality(beir, tmp_path, minilm_path, monkeypatch):
    # Every variant is timed on the same texts with float32 as the anchor, and its quality is
    # measured with the corpus and queries encoded by it (cached per variant).
    monkeypatch.setenv("VECTORBRIDGE_CACHE", str(tmp_path / "exports"))
    cache, out = tmp_path / "cache", tmp_path / "out"
    assert cli(["bench", str(beir), "--split", "test", "--model", minilm_path, "--engines", "",
                "--encoders", "--encoder-variants", "float32,onnx-int8", "--encoder-quality",
                "--encode-docs", "8", "--queries", "0", "--cache", str(cache), "--out", str(out),
                "--no-plots"]) == 0
    enc = json.loads((out / f"bench_{beir.name}_test.json").read_text())["encoders"]
    assert set(enc["docs_per_s"]) == {"float32", "onnx-int8"} and min(enc["docs_per_s"].values()) > 0
    assert enc["ratio_vs_float32"]["float32"] == 1.0
    assert enc["resolved"] == {"float32": "torch float32", "onnx-int8": "onnx int8"}
    assert enc["quality"]["float32"] >= 0.8  # these queries have one obvious answer each
    assert abs(enc["quality"]["onnx-int8"] - enc["quality"]["float32"]) <= 0.1
    assert len(list(cache.glob("dense-onnx-int8-*.npz"))) == 1  # its own cache entry
    assert any((tmp_path / "exports" / "onnx").rglob("model-int8.onnx"))
    md = (out / f"bench_{beir.name}_test.md").read_text()
    assert "| onnx-int8 (onnx int8) |" in md


def test_every_study_is_a_subcommand_listed_in_help(capsys):
    from vectorbridge.bench.studies import STUDIES

    with pytest.raises(SystemExit) as done:
        cli(["bench", "--help"])
    assert done.value.code == 0
    listed = capsys.readouterr().out
    for name in ["pipelines", *STUDIES]:
        assert f"\n  {name} " in listed, name
    for name in STUDIES:  # each parses its own options under its own name
        with pytest.raises(SystemExit) as done:
            cli(["bench", name, "--help"])
        assert done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: vectorbridge bench {name} ")


def test_studies_run_on_a_beir_folder(beir, tmp_path, minilm_path, capsys):
    """Two studies end to end on the tiny folder: the ingest floor over registry engines, and
    pseudo-relevance feedback through HybridRetriever with its report written."""
    cli(["bench", "ingest", "--n", "300", "--repeats", "1", "--engines", "reference,qdrant-local"])
    out = capsys.readouterr().out
    assert "reference" in out and "qdrant-local" in out and "points/s" in out
    cli(["bench", "prf", str(beir), "--split", "test", "--model", minilm_path,
         "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")])
    report = (tmp_path / "out" / f"prf_{beir.name}_test.md").read_text()
    assert "Rocchio" in report and "nDCG@10" in report


def test_scale_and_text_ingest_studies_report_every_row(beir, tmp_path, minilm_path, capsys):
    """The scale study at a tiny size on Edge (floats in RAM and on disk, the wider walk,
    the serving process) and Milvus Lite (whose on-disk row is skipped by capability), its
    replot from the rows on file; then the streamed text ingest against the encoder alone."""
    out = tmp_path / "out"
    cli(["bench", "scale", "--sizes", "1500", "--engines", "qdrant-edge,milvus-lite-file",
         "--storage", "ram,disk-scalar-int8", "--hnsw-ef", "64", "--queries", "5",
         "--out", str(out)])
    assert "milvus-lite-file: no on-disk vectors" in capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "scale.jsonl").read_text().splitlines()]
    assert [(r["engine"], r["storage"]) for r in rows] == [
        ("qdrant-edge", "ram"), ("qdrant-edge", "disk-scalar-int8"), ("milvus-lite-file", "ram")]
    assert all(r["recall10"] > 0.9 and r["recall10_filter1"] == 1.0 for r in rows)
    assert rows[0]["serve_anon_mb"] > 0 and rows[0]["hnsw_ef"] == 64
    assert rows[2]["serve_anon_mb"] != rows[2]["serve_anon_mb"]  # NaN: Lite is not reopened
    cli(["bench", "scale", "--replot", "--out", str(out)])
    assert (out / "scale.md").read_text().count("| qdrant-edge |") == 2
    cli(["bench", "text-ingest", str(beir), "--split", "test", "--model", minilm_path,
         "--n", "60", "--chunk-size", "16", "--repeats", "1", "--precision", "float32,bfloat16",
         "--out", str(out)])
    report = (out / "text-ingest.md").read_text()
    for p in ("float32 (float32)", "bfloat16 (bfloat16)"):  # every path at each precision
        for path in ("encoder alone", "streamed", "encoder alone, one call", "encode, then write"):
            assert f"| {p} | {path} |" in report, (p, path)
    cells = [[x.strip() for x in line.strip("|").split("|")] for line in report.splitlines()
             if line.startswith("| float32") or line.startswith("| bfloat16")]
    rate = {(c[0], c[1]): float(c[2].replace(",", "")) for c in cells}
    for c in cells:  # each row against the same path at the first precision (float32)
        want = rate[(c[0], c[1])] / rate[("float32 (float32)", c[1])]
        assert abs(float(c[4].rstrip("x")) - want) <= 0.02, c


def test_reduction_and_query_adapter_studies_report_every_row(beir, tmp_path, minilm_path):
    """LinearReducer's study (PCA and the cross-validated OOD fit, rescored and not, on Edge)
    and the query adapter's (both splits, dense and hybrid) on the tiny folder."""
    out, cache = tmp_path / "out", str(tmp_path / "cache")
    cli(["bench", "reduction", str(beir), "--split", "test", "--model", minilm_path,
         "--cache", cache, "--dims", "8", "--quant", "float,scalar-int8", "--folds", "2",
         "--scale", "0", "--out", str(out)])
    report = (out / f"reduction_{beir.name}_test.md").read_text()
    for row in ("| full 384-d float |", "| PCA 8-d scalar-int8 + full rescore x4 |",
                "| OOD 8-d float, no full rescore |"):
        assert row in report, row
    cli(["bench", "query-adapter", str(beir), "--split", "test", "--model", minilm_path,
         "--cache", cache, "--ranks", "2,4", "--folds", "2", "--epochs", "1", "--out", str(out)])
    report = (out / f"query_adapter_{beir.name}_test.md").read_text()
    assert "| query split, rank 2 |" in report and "| document-disjoint split, rank 4 |" in report


def test_tenant_and_query_cache_studies_report_every_row(beir, tmp_path, minilm_path, capsys):
    """bench scale --tenants (tiny), tenant-idf and query-cache on the tiny folder."""
    out = tmp_path / "out"
    cli(["bench", "scale", "--tenants", "4", "--sizes", "400", "--queries", "8", "--dim", "16",
         "--engines", "qdrant-edge", "--out", str(out)])
    rows = (out / "scale_tenants.md").read_text()
    assert "| qdrant-edge | 400 | 4 |" in rows
    cli(["bench", "tenant-idf", str(beir), "--split", "test", "--tenants", "2",
         "--model", minilm_path, "--cache", str(tmp_path / "cache"), "--out", str(out)])
    assert "| 2 |" in (out / "tenant_idf.md").read_text()
    cli(["bench", "query-cache", str(beir), "--split", "test", "--replays", "30",
         "--cache-size", "8", "--engine", "qdrant-edge", "--model", minilm_path,
         "--cache", str(tmp_path / "cache"), "--out", str(out)])
    report = (out / "query_cache.md").read_text()
    assert "| query_cache=8 |" in report and "the same top 10 with and without the cache: yes" \
        in report


def test_tracing_study_compares_the_modes_in_one_run(beir, tmp_path, minilm_path):
    """bench tracing on the tiny folder: every mode a row, the same answers in each."""
    out = tmp_path / "out"
    cli(["bench", "tracing", str(beir), "--split", "test", "--rounds", "2", "--model",
         minilm_path, "--cache", str(tmp_path / "cache"), "--out", str(out)])
    report = (out / "tracing.md").read_text()
    for mode in ("no OpenTelemetry", "API, no SDK", "SDK, every span recorded"):
        assert f"| {mode} |" in report, mode
    assert "| NO |" not in report and "| 1.000x |" in report


def test_invoke_study_times_every_side_with_its_query_encoding(beir, tmp_path, minilm_path,
                                                              monkeypatch):
    """bench invoke on the tiny folder: each encoder alone and every vectorbridge side a row
    with its quality; without langchain-huggingface the anchor's rows are left out and the
    report names the pip line."""
    monkeypatch.setitem(sys.modules, "langchain_huggingface", None)  # as if not installed
    out = tmp_path / "out"
    cli(["bench", "invoke", str(beir), "--split", "test", "--warm", "1", "--model",
         minilm_path, "--cache", str(tmp_path / "cache"), "--out", str(out)])
    report = (out / "invoke.md").read_text()
    rows = _table_rows(report)
    default = next(r for name, r in rows.items()
                   if name.startswith("vectorbridge query encoder alone (default: "))
    assert default[3] == "1.00x" and default[-1] == "-"  # the anchor; it answers nothing
    assert rows["vectorbridge query encoder alone (float32)"][-1] == "-"
    for side in ("vectorbridge dense, Edge", "vectorbridge hybrid RRF, Edge",
                 "vectorbridge hybrid RRF, float32 encoder, Edge",
                 "vectorbridge dense, local mode", "vectorbridge hybrid RRF, local mode"):
        assert float(rows[side][-1]) >= 0.8, side  # nDCG@10: one obvious answer per query
        assert float(rows[side][1]) > 0
    assert "left out" in report and "--no-deps langchain-huggingface" in report


def test_invoke_study_runs_langchain_qdrant_beside(beir, tmp_path, minilm_path, monkeypatch):
    """The anchor's rows: langchain-qdrant DENSE and HYBRID on local mode with LangChain's
    HuggingFace embeddings (a stand-in of its constructor when the package is absent)."""
    pytest.importorskip("langchain_qdrant", reason="langchain-qdrant comes with [bench]")
    if importlib.util.find_spec("langchain_huggingface") is None:
        from vectorbridge.encoders import DenseEncoder

        class HuggingFaceEmbeddings(DenseEncoder):
            def __init__(self, model_name, model_kwargs, encode_kwargs):
                super().__init__(model_name, precision="float32", **model_kwargs)

        monkeypatch.setitem(sys.modules, "langchain_huggingface", type(sys)("stand-in"))
        sys.modules["langchain_huggingface"].HuggingFaceEmbeddings = HuggingFaceEmbeddings
    out = tmp_path / "out"
    cli(["bench", "invoke", str(beir), "--split", "test", "--warm", "1", "--model",
         minilm_path, "--cache", str(tmp_path / "cache"), "--out", str(out)])
    report = (out / "invoke.md").read_text()
    rows = _table_rows(report)
    assert rows["HuggingFaceEmbeddings.embed_query alone"][-1] == "-"
    for mode in ("dense", "hybrid RRF"):
        assert float(rows[f"langchain-qdrant {mode}, local mode"][-1]) >= 0.8, mode
    assert "left out" not in report


def _table_rows(report: str) -> dict[str, list[str]]:
    """A Markdown report's table rows by their first cell."""
    cells = [[x.strip() for x in line.strip("|").split("|")] for line in report.splitlines()
             if line.startswith("| ")]
    return {row[0]: row for row in cells}


def test_precision_study_reports_every_pipeline_and_encoder(beir, tmp_path, minilm_path):
    """bench precision on the tiny folder: every pipeline a row with the four combinations,
    every encoder a speed row."""
    out = tmp_path / "out"
    cli(["bench", "precision", str(beir), "--split", "test", "--speed-docs", "8", "--repeat",
         "1", "--model", minilm_path, "--cache", str(tmp_path / "cache"), "--out", str(out)])
    report = (out / "precision.md").read_text()
    for row in ("| dense |", "| dense + BM25, RRF |", "| MaxSim (exact) |", "| SPLADE |",
                "| DenseEncoder |", "| TokenEncoder |", "| SpladeEncoder |"):
        assert row in report, row
    assert "largest nDCG@10 change" in report
