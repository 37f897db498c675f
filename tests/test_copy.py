"""copy_collection: every pair of embedded engines, filters, transforms, refusals, SIGKILL and
resume, the journal, the ``vectorbridge copy`` command.

One source collection per engine is loaded once (module fixture); each pair copies it into a
new collection on the destination and checks the copy against the source point by point
(ids, payloads, every vector field) and by searches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from vectorbridge.connectors import ENGINES, CollectionSpec, F, copy_collection
from vectorbridge.connectors.verify import vector_error
from vectorbridge.connectors.spec import BinaryField, DenseField, Metric
from vectorbridge.connectors.uri import parse_uri
from vectorbridge.copy_cli import main as copy_main
from vectorbridge.encoders import SparseVector
from vectorbridge.errors import InvalidInputError, SpecMismatchError, UnsupportedFeatureError
from tests.backends import SERVER_FIXTURES, unique_name
from tests.corpus import HOSTILE

#: Engines of the matrix: the embedded ones and the local servers (Milvus 2.3.5 holds one
#: vector field, so it has its own dense-only test below).
MATRIX = [n for n, e in ENGINES.items() if e.where != "server" and n != "milvus-2.3-server"]
N = 150


def _points(n: int = N, seed: int = 0) -> tuple[list[str], dict, list[dict]]:
    rng = np.random.default_rng(seed)
    ids = [f"doc-{i}-{HOSTILE[i % len(HOSTILE)]}" for i in range(n)]
    vectors = {
        "dense": rng.standard_normal((n, 16)).astype(np.float32),
        "sparse": [SparseVector(np.sort(rng.choice(500, 4, replace=False)),
                                rng.random(4).astype(np.float32) + 0.1) for _ in range(n)],
        "tokens": [rng.standard_normal((int(rng.integers(1, 5)), 8)).astype(np.float32)
                   for _ in range(n)],
    }
    payloads = [{"text": f"point {i} about {['cells', 'genes', 'proteins'][i % 3]}",
                 "lang": ["en", "de", "fr"][i % 3], "n": i, "nested": {"tags": [i, "x", 1.5]}}
                for i in range(n)]
    return ids, vectors, payloads


SRC = unique_name("copysrc")
SPEC = CollectionSpec(name=SRC, dense={"dense": 16}, sparse=["sparse"],
                      multivector={"tokens": 8}, text_key="text")


@pytest.fixture(scope="module")
def engines(request, tmp_path_factory):
    """One connector per engine of the matrix, each holding the source collection ``src``."""
    out = {}
    ids, vectors, payloads = _points()
    for name in MATRIX:
        entry = ENGINES[name]
        if entry.where == "local server":
            uri = request.getfixturevalue(SERVER_FIXTURES[name]).uri
            conn = entry.connect(uri)
        else:
            conn = entry.connect(str(tmp_path_factory.mktemp(name)))
        conn.create_collection(SPEC)
        conn.upsert(SRC, ids, vectors, payloads)
        out[name] = conn
    yield out
    for conn in out.values():
        conn.close()


@pytest.mark.parametrize("dst_name", MATRIX)
@pytest.mark.parametrize("src_name", MATRIX)
def test_copy_between_every_pair_of_engines(engines, src_name, dst_name):
    src, dst = engines[src_name], engines[dst_name]
    target = unique_name("copy")
    report = copy_collection(src, SRC, dst, target, batch_size=64, sample_queries=4)
    v = report.verification
    assert report.copied == N and report.pages == 3
    assert v.ok, v.summary()
    assert v.expected == v.destination_count == N
    assert set(v.top10_agreement) == {"dense", "sparse", "tokens"}
    assert min(v.top10_agreement.values()) >= 0.9, v.top10_agreement  # exact at this size
    # an independent look: the copy's points are the source's, field by field
    ids, vectors, payloads = _points()
    got = dst.get(target, ids[:20], with_vectors=True)
    assert [r.id for r in got] == ids[:20]
    for i, r in enumerate(got):
        assert r.payload == payloads[i]
        np.testing.assert_allclose(r.vectors["dense"] / np.linalg.norm(r.vectors["dense"]),
                                   vectors["dense"][i] / np.linalg.norm(vectors["dense"][i]),
                                   atol=1e-5)
        assert r.vectors["sparse"] == vectors["sparse"][i]
        assert r.vectors["tokens"].shape == vectors["tokens"][i].shape
    assert dst.spec(target).same_fields(SPEC)
    dst.drop_collection(target)


@pytest.mark.parametrize("src_name,dst_name", [("qdrant-edge", "milvus-lite-file"),
                                               ("milvus-lite-file", "reference")])
def test_filtered_copy_carries_only_the_matching_points(engines, src_name, dst_name):
    src, dst = engines[src_name], engines[dst_name]
    target = unique_name("filtered")
    report = copy_collection(src, SRC, dst, target, filter=F("lang") == "de", batch_size=16,
                             sample_queries=3)
    assert report.verification.ok, report.verification.summary()
    assert dst.count(target) == src.count(SRC, filter=F("lang") == "de") == N // 3
    assert all(r.payload["lang"] == "de" for r in dst.scroll(target, limit=500).records)
    dst.drop_collection(target)


def test_transform_renames_edits_and_drops(engines):
    src, dst = engines["qdrant-edge"], engines["reference"]

    def transform(r):
        if r.payload["n"] % 5 == 0:
            return None
        return type(r)(id="v2-" + r.id, payload={**r.payload, "copied": True}, vectors=r.vectors)

    report = copy_collection(src, SRC, dst, "transformed", transform=transform,
                             sample_queries=3)
    assert report.verification.ok and report.copied == N - N // 5
    (rec,) = dst.get("transformed", ["v2-" + _points()[0][1]])
    assert rec.payload["copied"] is True
    dst.drop_collection("transformed")


def test_refused_copy_writes_nothing(engines, milvus23_server, tmp_path):
    """What the destination cannot hold is refused before the first write, naming why."""
    m23 = ENGINES["milvus-2.3-server"].connect(milvus23_server.uri)
    target = unique_name("refused")
    with pytest.raises(UnsupportedFeatureError, match="Nothing was written"):
        copy_collection(engines["qdrant-edge"], SRC, m23, target)
    assert not m23.has_collection(target)
    # what Milvus 2.3 holds (one dense field) goes there and back
    one = CollectionSpec(name=unique_name("one"), dense={"dense": 16}, text_key="text")
    ids, vectors, payloads = _points(80)
    edge = engines["qdrant-edge"]
    edge.create_collection(one)
    edge.upsert(one.name, ids, {"dense": vectors["dense"]}, payloads)
    there = copy_collection(edge, one.name, m23, one.name, batch_size=32, sample_queries=3)
    back = copy_collection(m23, one.name, engines["reference"], one.name, sample_queries=3)
    assert there.verification.ok and back.verification.ok and back.copied == 80
    m23.drop_collection(one.name)
    # a binary field: Milvus Lite has none
    bits = CollectionSpec(name="bits", binary={"b": BinaryField(64)}, dense={"dense": 4})
    ref = engines["reference"]
    ref.create_collection(bits, recreate=True)
    ref.upsert("bits", ["a", "b"], {"b": np.array([[1] * 8, [255] * 8], np.uint8),
                                    "dense": np.eye(2, 4, dtype=np.float32)})
    lite = engines["milvus-lite-file"]
    with pytest.raises(UnsupportedFeatureError, match="binary"):
        copy_collection(ref, "bits", lite, "bits")
    assert not lite.has_collection("bits")
    # a destination that exists with other fields
    lite.create_collection(CollectionSpec(name="other", dense={"dense": 3}), recreate=True)
    with pytest.raises(SpecMismatchError):
        copy_collection(engines["qdrant-edge"], SRC, lite, "other", journal=tmp_path / "j")
    assert lite.count("other") == 0 and not (tmp_path / "j").exists()  # no journal either
    (tmp_path / "torn").write_text('{"copy": {"bat')  # killed while writing the header
    done = copy_collection(engines["qdrant-edge"], SRC, engines["reference"], "from_torn",
                           journal=tmp_path / "torn", sample_queries=2)
    assert done.verification.ok and done.copied == N
    (tmp_path / "junk").write_text("not json\n")
    with pytest.raises(InvalidInputError, match="not a copy journal"):
        copy_collection(engines["qdrant-edge"], SRC, engines["reference"], "x", journal=tmp_path / "junk")
    m23.close()


def test_binary_fields_copy_bit_exact(engines):
    bits = CollectionSpec(name="bits_src", binary={"b": BinaryField(64)}, dense={"dense": 4})
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (40, 8), dtype=np.uint8)
    ref = engines["reference"]
    ref.create_collection(bits, recreate=True)
    ref.upsert("bits_src", [f"b{i}" for i in range(40)],
               {"b": codes, "dense": rng.standard_normal((40, 4)).astype(np.float32)})
    for name in ("qdrant-edge", "qdrant-local"):
        report = copy_collection(ref, "bits_src", engines[name], "bits_copy", sample_queries=3)
        assert report.verification.ok and report.verification.top10_agreement["b"] >= 0.9
        back = copy_collection(engines[name], "bits_copy", ref, f"bits_back_{name[-4:]}")
        assert back.verification.ok
        got = ref.get(f"bits_back_{name[-4:]}", ["b7"], with_vectors=["b"])[0].vectors["b"]
        np.testing.assert_array_equal(got, codes[7])


def test_engine_bm25_is_derived_again_at_the_destination(engines):
    """An engine-BM25 field has no vector to carry: the destination's engine derives it from
    the text key; an engine without BM25 of its own refuses the copy."""
    spec = CollectionSpec(name="bm25_src", dense={"dense": 16},
                          sparse={"bm25": {"bm25": "engine"}}, text_key="text")
    ids, vectors, payloads = _points(60)
    edge = engines["qdrant-edge"]
    edge.create_collection(spec, recreate=True)
    edge.upsert("bm25_src", ids, {"dense": vectors["dense"],
                                  "bm25": [p["text"] for p in payloads]}, payloads)
    lite = engines["milvus-lite-file"]
    report = copy_collection(edge, "bm25_src", lite, "bm25_copy", sample_queries=5)
    assert report.verification.ok and "bm25" in report.verification.top10_agreement
    hits = lite.search("bm25_copy", "bm25", "genes", k=5)
    assert hits and all("genes" in h.payload["text"] for h in hits)
    with pytest.raises(UnsupportedFeatureError, match="BM25"):
        copy_collection(edge, "bm25_src", engines["reference"], "bm25_copy")
    assert not engines["reference"].has_collection("bm25_copy")


def test_copy_within_an_engine_and_to_itself(engines):
    ref = engines["reference"]
    with pytest.raises(InvalidInputError, match="same collection"):
        copy_collection(ref, SRC, ref, SRC)
    ref.set_alias("src_live", SRC)
    with pytest.raises(InvalidInputError, match="same collection"):
        copy_collection(ref, SRC, ref, "src_live")
    report = copy_collection(ref, "src_live", ref, "src_twin", sample_queries=2)
    assert report.source == f"reference:{SRC}" and report.verification.ok
    ref.drop_alias("src_live")


def test_vector_error_tolerates_float_rounding_and_normalisation_only():
    f = DenseField(4, Metric.COSINE)
    v = np.array([3.0, 4.0, 0.0, 0.0], np.float32)
    assert vector_error(f, v, v / 5) < 1e-6              # stored unit-length: same vector
    assert vector_error(f, v, v + [0, 0, 0.01, 0]) > 1e-5
    assert vector_error(DenseField(4, Metric.DOT), v, v / 5) > 0.1
    assert vector_error(BinaryField(8), np.array([1], np.uint8), np.array([3], np.uint8)) == 2
    assert vector_error(f, v, None) == float("inf")


# -- interrupted and resumed ---------------------------------------------------------------

_KILLED_COPY = textwrap.dedent("""
    import sys, time
    from vectorbridge.connectors import QdrantConnector, MilvusConnector, copy_collection
    src = QdrantConnector(path=sys.argv[1])
    dst = MilvusConnector(uri=sys.argv[2])
    def slow(r):
        time.sleep(0.002)   # give the parent time to kill it mid-copy
        return r
    copy_collection(src, "docs", dst, "docs", batch_size=50, journal=sys.argv[3],
                    transform=slow, verify=False)
    print("finished")
""")


@pytest.mark.parametrize("kill_after", [2, 5])
def test_sigkill_mid_copy_then_resume_finishes_without_gaps_or_duplicates(tmp_path, kill_after):
    from vectorbridge.connectors import MilvusConnector, QdrantConnector

    n = 600
    rng = np.random.default_rng(kill_after)
    src = QdrantConnector(path=str(tmp_path / "edge"))
    src.create_collection(CollectionSpec(name="docs", dense={"dense": 8}, text_key="text"))
    src.upsert("docs", [f"p{i}" for i in range(n)], {"dense": rng.random((n, 8), np.float32)},
               [{"text": f"t{i}"} for i in range(n)])
    src.close()
    journal, lite = tmp_path / "copy.journal", str(tmp_path / "dst.db")
    script = tmp_path / "copy_job.py"
    script.write_text(_KILLED_COPY)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "edge"), lite,
                             str(journal)], cwd=Path(__file__).resolve().parents[1],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") > kill_after:
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = journal.read_text().count("\n") - 1
    assert 0 < done_before * 50 < n

    src, dst = QdrantConnector(path=str(tmp_path / "edge")), MilvusConnector(uri=lite)
    report = copy_collection(src, "docs", dst, "docs", batch_size=50, journal=journal)
    assert report.resumed >= done_before * 50 and report.copied == n - report.resumed
    assert report.verification.ok, report.verification.summary()
    assert dst.count("docs") == n and sorted(dst.ids("docs")) == sorted(f"p{i}" for i in range(n))
    again = copy_collection(src, "docs", dst, "docs", batch_size=50, journal=journal)
    assert again.copied == 0 and again.resumed == n  # finished: the journal says so
    with pytest.raises(InvalidInputError, match="another copy"):
        copy_collection(src, "docs", dst, "docs", batch_size=99, journal=journal)
    src.close()
    dst.close()


# -- the command line ----------------------------------------------------------------------

def test_copy_command_and_uris(tmp_path, capsys):
    from vectorbridge.connectors import QdrantConnector

    assert parse_uri("edge:./a#docs") == ("qdrant-edge", "./a", "docs")
    assert parse_uri("milvus:http://127.0.0.1:19530#d").where == "http://127.0.0.1:19530"
    for bad in ("qdrant-edge:./a", "nope:./a#d", "milvus-lite:x.db#bad-name"):
        with pytest.raises(InvalidInputError):
            parse_uri(bad)
    edge = QdrantConnector(path=str(tmp_path / "edge"))
    edge.create_collection(CollectionSpec(name="docs", dense={"dense": 4}))
    edge.upsert("docs", [f"d{i}" for i in range(30)],
                {"dense": np.random.default_rng(0).random((30, 4), np.float32)},
                [{"lang": ["en", "de"][i % 2]} for i in range(30)])
    edge.close()
    src, dst = f"edge:{tmp_path / 'edge'}#docs", f"milvus-lite:{tmp_path / 'm.db'}#en"
    rc = copy_main([src, dst, "--filter", '{"lang": "en"}', "--no-progress",
                    "--journal", str(tmp_path / "j")])
    out = capsys.readouterr().out
    assert rc == 0 and "15 points" in out and "OK" in out
    assert copy_main([src, "foo:bar#x"]) == 2
    assert "not a collection URI" in capsys.readouterr().err
