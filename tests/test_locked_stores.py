"""Embedded stores held elsewhere: a vectorbridge error naming the path and the fix, not the
engine's own (``Can't init WAL: Kind(WouldBlock)``, ``Open local milvus failed``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from vectorbridge.connectors import CollectionSpec, MilvusConnector, QdrantConnector
from vectorbridge.errors import StoreLockedError

HOLD = textwrap.dedent("""
    import sys, time
    from vectorbridge.connectors import CollectionSpec, MilvusConnector, QdrantConnector
    kind, where = sys.argv[1], sys.argv[2]
    conn = QdrantConnector(path=where) if kind == "edge" else MilvusConnector(uri=where)
    if not conn.has_collection("c"):
        conn.create_collection(CollectionSpec("c", dense={"v": 2}))
    conn.count("c")
    print("ready", flush=True)
    time.sleep(60)
""")


def _holder(kind: str, where: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, kind, where], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_an_edge_folder_open_in_another_connector(tmp_path):
    first = QdrantConnector(path=str(tmp_path / "q"))
    first.create_collection(CollectionSpec("c", dense={"v": 2}))
    second = QdrantConnector(path=str(tmp_path / "q"))
    with pytest.raises(StoreLockedError, match=r"'.*q' is open in another connector.*Several "
                                               r"workers"):
        second.count("c")
    assert first.count("c") == 0  # the first one is unharmed


def test_an_edge_folder_open_in_another_process(tmp_path):
    holder = _holder("edge", str(tmp_path / "q"))
    try:
        with pytest.raises(StoreLockedError, match="in this process or another one"):
            QdrantConnector(path=str(tmp_path / "q")).count("c")
    finally:
        holder.kill()
        holder.wait()


def test_a_milvus_lite_file_open_in_another_process(tmp_path):
    holder = _holder("milvus", str(tmp_path / "m.db"))
    try:
        with pytest.raises(StoreLockedError, match=r"m\.db'.*another process holds it.*"
                                                   r"milvus-lite server"):
            MilvusConnector(uri=str(tmp_path / "m.db"))
    finally:
        holder.kill()
        holder.wait()
    assert MilvusConnector(uri=str(tmp_path / "m.db")).count("c") == 0  # free again
