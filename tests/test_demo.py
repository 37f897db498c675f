"""The Quick start's main job runs end to end on both embedded engines."""

from __future__ import annotations

from vectorbridge import demo


def test_demo_indexes_and_answers_on_both_engines(tmp_path, capsys, minilm_path):
    demo.main(["--workdir", str(tmp_path), "--model", minilm_path, "-k", "1",
               "how do stars make their energy", "editing DNA precisely"])
    out = capsys.readouterr().out
    assert "Qdrant Edge (embedded engine, path): 30 points" in out and "Milvus Lite (file): 30 points" in out
    for engine_block in out.split("=== ")[1:]:
        assert "dense: astro-2" in engine_block and "bm25 : astro-2" in engine_block
        assert "dense: bio-3" in engine_block and "bm25 : bio-3" in engine_block
        assert "hybrid: astro-2" in engine_block and "hybrid: bio-3" in engine_block
    assert (tmp_path / "qdrant").is_dir() and (tmp_path / "milvus.db").exists()
