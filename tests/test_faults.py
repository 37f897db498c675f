"""Faults: servers that drop out, processes killed mid-ingest — nothing lost, nothing doubled.

Real faults on real engines where this machine has them: a milvus-lite server SIGKILLed and
restarted on its data mid-ingest; the network to the Milvus 2.3.5 server cut mid-ingest (that
binary does not come back on its own data, see ``Milvus23Server``); a child process SIGKILLed
mid-ingest into Qdrant Edge, qdrant-client's local mode and Milvus Lite. Retry mechanics are
also checked on a client stand-in whose failures are scripted.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import certifi
import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from vectorbridge.connectors import (
    CollectionSpec, IngestJournal, MilvusConnector, QdrantConnector, RetryPolicy,
)
from vectorbridge.connectors.journal import batch_digest
from vectorbridge.connectors.validation import prepare_rows
from vectorbridge.errors import InvalidInputError, ServerUnavailableError
from vectorbridge.local_servers import MilvusLiteServer, TcpProxy, free_port
from tests.backends import unique_name

REPO = Path(__file__).resolve().parents[1]
FAST = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05)
#: Long enough to ride out a server restart (milvus-lite: ~1-3 s) on a busy CI machine.
PATIENT = RetryPolicy(attempts=30, initial_delay=0.1, max_delay=2.0)


def data(n: int, seed: int = 0, tokens: bool = False) -> tuple[list[str], dict, list[dict]]:
    """Deterministic points: ids, vectors (dense 8-d, optionally 2-4 tokens of 4-d), payloads."""
    rng = np.random.default_rng(seed)
    ids = [f"doc-{i:05d}" for i in range(n)]
    vectors = {"dense": unit(rng.standard_normal((n, 8)))}  # unit: cosine engines store as is
    if tokens:
        vectors["tok"] = [unit(rng.standard_normal((2 + i % 3, 4))) for i in range(n)]
    return ids, vectors, [{"text": f"text {i}", "i": i} for i in range(n)]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def spec_for(name: str, tokens: bool = False) -> CollectionSpec:
    return CollectionSpec(name=name, dense={"dense": 8}, multivector={"tok": 4} if tokens else {})


def assert_complete(conn, name: str, ids: list[str], vectors: dict) -> None:
    """Every id once, with its own vectors: nothing lost, nothing doubled."""
    assert conn.count(name) == len(ids)
    assert conn.ids(name) == sorted(ids)
    got = {r.id: r for r in conn.get(name, ids, with_vectors=True)}
    assert len(got) == len(ids)
    for i, pid in enumerate(ids):  # id by id
        np.testing.assert_allclose(got[pid].vectors["dense"], vectors["dense"][i], rtol=1e-6)
        assert got[pid].payload["i"] == i
        if "tok" in vectors:
            np.testing.assert_allclose(got[pid].vectors["tok"], vectors["tok"][i], rtol=1e-6)


def milvus_token_rows(conn: MilvusConnector, name: str) -> int:
    """Rows in the companion token collection: a replayed insert must not double them."""
    res = conn.client.query(f"{name}__tok", filter="", output_fields=["count(*)"])
    return int(res[0]["count(*)"])


# -- retry mechanics on a scripted client ----------------------------------------------------

class Flaky:
    """A client stand-in: the wrapped client, with the next failures of a method scripted."""

    def __init__(self, inner) -> None:
        self.inner, self.script, self.calls = inner, {}, []

    def fail(self, method: str, *errors: Exception) -> None:
        self.script.setdefault(method, []).extend(errors)

    def lose_reply(self, method: str, error: Exception) -> None:
        """The next call of ``method`` takes effect, then its reply is lost (``error``)."""
        self.script.setdefault(method, []).append(("after", error))

    def __getattr__(self, method):
        target = getattr(self.inner, method)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            self.calls.append(method)
            queue = self.script.get(method)
            if queue:
                step = queue.pop(0)
                if isinstance(step, tuple):
                    target(*args, **kwargs)
                    raise step[1]
                raise step
            return target(*args, **kwargs)
        return call


def refused() -> Exception:
    return ResponseHandlingException(httpx.ConnectError("[Errno 111] Connection refused"))


@pytest.fixture
def flaky():
    """A QdrantConnector over a scripted client, treated as a server (``remote``)."""
    client = Flaky(QdrantClient(location=":memory:"))
    conn = QdrantConnector(client=client, retry=FAST)
    conn.remote = True  # the stand-in plays a server: its failures are network failures
    return conn, client


def test_retry_policy_delays_grow_capped_with_jitter():
    p = RetryPolicy(attempts=6, initial_delay=0.5, max_delay=2.0, multiplier=2, jitter=0)
    assert list(p.delays()) == [0.5, 1.0, 2.0, 2.0, 2.0]
    jittered = list(RetryPolicy(attempts=50, initial_delay=1, max_delay=1, jitter=0.5).delays())
    assert all(0.5 <= d <= 1.0 for d in jittered) and len(set(jittered)) > 40
    assert list(RetryPolicy.none().delays()) == []
    for bad in ({"attempts": 0}, {"initial_delay": 3, "max_delay": 1}, {"jitter": 2},
                {"multiplier": 0.5}):
        with pytest.raises(InvalidInputError, match="RetryPolicy"):
            RetryPolicy(**bad)
    with pytest.raises(InvalidInputError, match="RetryPolicy"):
        QdrantConnector(location=":memory:", retry=3)


def test_transient_failures_are_retried_and_the_call_completes(flaky, caplog):
    conn, client = flaky
    ids, vectors, payloads = data(30)
    conn.create_collection(spec_for("docs"))
    client.fail("upsert", refused(), UnexpectedResponse(503, "Service Unavailable", b"", httpx.Headers()))
    client.fail("query_points", refused())
    with caplog.at_level(logging.WARNING, logger="vectorbridge"):
        assert conn.upsert("docs", ids, vectors, payloads, batch_size=10) == 30
        hits = conn.search("docs", "dense", vectors["dense"][4], k=1)
    assert hits[0].id == ids[4]
    assert client.calls.count("upsert") == 3 + 2  # batch 1 tried 3 times, then batches 2, 3
    assert_complete(conn, "docs", ids, vectors)
    retries = [r.getMessage() for r in caplog.records if r.name == "vectorbridge"]
    assert len(retries) == 3 and all("retry" in m and "QdrantConnector" in m for m in retries)


def test_rejected_requests_are_not_retried(flaky):
    conn, client = flaky
    conn.create_collection(spec_for("docs"))
    bad = UnexpectedResponse(400, "Bad Request", b'{"status":{"error":"bad"}}', httpx.Headers())
    client.fail("upsert", bad)
    ids, vectors, payloads = data(3)
    with pytest.raises(UnexpectedResponse):
        conn.upsert("docs", ids, vectors, payloads)
    assert client.calls.count("upsert") == 1


def test_spent_retries_raise_an_error_naming_the_server(flaky):
    conn, client = flaky
    conn.create_collection(spec_for("docs"))
    client.fail("count", *[refused() for _ in range(FAST.attempts)])
    with pytest.raises(ServerUnavailableError, match="did not answer 'count' after 4 attempts") as e:
        conn.count("docs")
    assert "Check that the server is running" in str(e.value)
    assert isinstance(e.value.__cause__, ResponseHandlingException)
    assert isinstance(e.value, ConnectionError)
    assert conn.count("docs") == 0  # the script is spent: the next call goes through


class AsyncFlaky(Flaky):
    """:class:`Flaky` for an async client: its methods are coroutines."""

    def __getattr__(self, method):
        target = getattr(self.inner, method)
        if not callable(target):
            return target

        async def call(*args, **kwargs):
            self.calls.append(method)
            queue = self.script.get(method)
            if queue:
                raise queue.pop(0)
            return await target(*args, **kwargs)
        return call


async def test_async_calls_are_retried_the_same_way(flaky):
    conn, _ = flaky
    conn.create_collection(spec_for("docs"))
    aclient = AsyncFlaky(conn._async_client())
    conn._aclient = aclient
    ids, vectors, payloads = data(10)
    aclient.fail("upsert", refused(), refused())
    assert await conn.aupsert("docs", ids, vectors, payloads) == 10
    assert aclient.calls.count("upsert") == 3
    assert await conn.acount("docs") == 10
    aclient.fail("count", *[refused() for _ in range(FAST.attempts)])
    with pytest.raises(ServerUnavailableError, match="'count' after 4 attempts"):
        await conn.acount("docs")


def test_a_lost_insert_reply_never_doubles_milvus_token_rows(tmp_path):
    """Milvus token rows are inserted (not upserted): a reply lost after the insert landed
    must replay delete-then-insert, not insert again."""
    from pymilvus import MilvusClient
    from pymilvus.client.types import Status
    from pymilvus.exceptions import MilvusException

    client = Flaky(MilvusClient(str(tmp_path / "vb.db")))
    conn = MilvusConnector(client=client, retry=FAST)
    assert conn.remote  # a given client may be a server's: retries apply
    conn.create_collection(spec_for("docs", tokens=True))
    ids, vectors, payloads = data(40, tokens=True)
    lost = MilvusException(code=Status.CONNECT_FAILED, message="connection reset")
    client.lose_reply("insert", lost)
    client.fail("upsert", lost)
    assert conn.upsert("docs", ids, vectors, payloads, batch_size=20) == 40
    assert client.calls.count("insert") == 3  # batch 1 twice (replayed), batch 2 once
    assert milvus_token_rows(conn, "docs") == sum(len(t) for t in vectors["tok"])
    assert_complete(conn, "docs", ids, vectors)


def test_embedded_engines_never_retry(tmp_path):
    conn = QdrantConnector(path=str(tmp_path / "edge"))
    assert conn._guard() is None and not conn.remote
    assert not MilvusConnector(uri=str(tmp_path / "vb.db")).remote


# -- credentials: never in repr, logs or errors ---------------------------------------------

SECRET = "s3cr3t-Zq9"


@pytest.mark.parametrize("kind", ["qdrant-rest", "qdrant-grpc", "milvus", "milvus-env",
                                  "qdrant-env", "qdrant-userinfo"])
def test_credentials_never_appear_in_repr_logs_or_errors(kind, caplog, monkeypatch):
    port = free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}"
    fast = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)
    caplog.set_level(logging.DEBUG)  # every logger, every level: qdrant-client, httpx, pymilvus
    if kind.endswith("-env"):
        monkeypatch.setenv("MILVUS_TOKEN", f"root:{SECRET}")
        monkeypatch.setenv("QDRANT_API_KEY", SECRET)
    with pytest.raises(ServerUnavailableError) as e:
        if kind.startswith("milvus"):
            MilvusConnector(uri=url, token=None if kind == "milvus-env" else f"root:{SECRET}",
                            retry=fast)
        else:
            conn = QdrantConnector(
                url=f"http://user:{SECRET}@127.0.0.1:{port}" if kind == "qdrant-userinfo" else url,
                api_key=None if kind == "qdrant-env" else SECRET,
                prefer_grpc=kind == "qdrant-grpc", grpc_port=free_port(), retry=fast)
            if kind == "qdrant-env":  # taken from the environment
                assert conn.client.init_options["api_key"] == SECRET
            assert SECRET not in repr(conn)
            conn.has_collection("docs")
    assert f"127.0.0.1:{port}" in str(e.value)
    texts = [str(e.value), repr(e.value), str(e.value.__cause__), caplog.text,
             *(r.getMessage() for r in caplog.records)]
    assert not [t for t in texts if SECRET in t]


def test_tls_options_reach_both_clients(tmp_path, monkeypatch):
    """TLS settings pass through to the engines' clients, sync and async, untouched."""
    ca = certifi.where()  # any CA bundle: the client loads it at construction
    q = QdrantConnector(url="https://127.0.0.1:1", verify=ca, api_key=SECRET)
    assert q.client.init_options["verify"] == ca
    assert q.client._client.rest_uri.startswith("https://")  # noqa: SLF001
    assert q._async_client().init_options["verify"] == ca
    assert SECRET not in repr(q)

    seen = []

    class Recorder:  # stands in for MilvusClient / AsyncMilvusClient: records its options
        def __init__(self, **kwargs):
            seen.append(kwargs)

        def get_server_version(self):
            return "v2.4.0"
    import vectorbridge.connectors.milvus.engine as milvus_module
    monkeypatch.setattr(milvus_module, "MilvusClient", Recorder)
    monkeypatch.setattr(milvus_module, "AsyncMilvusClient", Recorder)
    tls = {"secure": True, "server_pem_path": ca, "server_name": "db.internal"}
    m = MilvusConnector(uri="https://db.internal:19530", token=f"root:{SECRET}", **tls)
    m._async_client()
    assert len(seen) == 2 and all(kw.items() >= tls.items() for kw in seen)
    assert all(kw["token"] == f"root:{SECRET}" for kw in seen) and SECRET not in repr(m)


# -- a server killed or cut off mid-ingest ---------------------------------------------------

def _ingest_in_background(conn, name, ids, vectors, payloads, journal: Path):
    box: dict = {}

    def run():
        try:
            box["n"] = conn.upsert(name, ids, vectors, payloads, batch_size=20, journal=journal)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def _wait_for_batches(journal: Path, n: int, thread: threading.Thread, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and thread.is_alive():
        if journal.exists() and journal.read_text().count("\n") >= n:
            return
        time.sleep(0.002)
    raise AssertionError(f"the ingest did not reach {n} batches")


def test_ingest_survives_a_milvus_lite_server_killed_and_restarted(tmp_path, caplog):
    server = MilvusLiteServer(tmp_path / "data")
    try:
        conn = MilvusConnector(uri=server.uri, retry=PATIENT)
        name = unique_name("kill")
        ids, vectors, payloads = data(2000, tokens=True)
        conn.create_collection(spec_for(name, tokens=True))
        journal = tmp_path / "ingest.journal"
        caplog.set_level(logging.WARNING, logger="vectorbridge")
        thread, box = _ingest_in_background(conn, name, ids, vectors, payloads, journal)
        _wait_for_batches(journal, 10, thread)
        server.kill()  # SIGKILL mid-ingest
        killed_at = len(IngestJournal(journal))
        time.sleep(1.0)
        server.start()  # same port, same data
        thread.join(120)
        assert not thread.is_alive() and "error" not in box, box.get("error")
        assert box["n"] == 2000 and killed_at < 100
        assert any("retry" in r.getMessage() for r in caplog.records)  # it did ride it out
        assert len(IngestJournal(journal)) == 100
        assert_complete(conn, name, ids, vectors)
        assert milvus_token_rows(conn, name) == sum(len(t) for t in vectors["tok"])
        # Searches work after the restart (the collection is reloaded on demand).
        assert conn.search(name, "tok", vectors["tok"][7], k=1)[0].id == ids[7]
    finally:
        server.stop()


@pytest.mark.parametrize("engine", ["milvus-lite-server", "milvus-2.3-server"])
def test_ingest_survives_the_network_to_the_server_cut(engine, request, tmp_path):
    if engine == "milvus-lite-server":
        server = request.getfixturevalue("milvus_lite_server")
    else:
        server = request.getfixturevalue("milvus23_server")
    proxy = TcpProxy(server.port)
    try:
        conn = MilvusConnector(uri=proxy.uri, retry=PATIENT)
        name = unique_name("cut")
        ids, vectors, payloads = data(2000)
        conn.create_collection(spec_for(name))
        journal = tmp_path / "ingest.journal"
        thread, box = _ingest_in_background(conn, name, ids, vectors, payloads, journal)
        _wait_for_batches(journal, 5, thread)
        proxy.cut()  # resets, then refused connections
        time.sleep(1.5)
        proxy.restore()
        thread.join(120)
        assert not thread.is_alive() and "error" not in box, box.get("error")
        assert_complete(conn, name, ids, vectors)
        conn.drop_collection(name)
    finally:
        proxy.close()


# -- a process SIGKILLed mid-ingest into an embedded engine ----------------------------------

CHILD = textwrap.dedent("""
    import sys
    from tests.test_faults import data, open_embedded, spec_for
    engine, where, journal = sys.argv[1:4]
    conn = open_embedded(engine, where)
    conn.create_collection(spec_for("docs", tokens=True))
    ids, vectors, payloads = data(3000, tokens=True)
    conn.upsert("docs", ids, vectors, payloads, batch_size=20, journal=journal)
    print("finished", flush=True)
""")

EMBEDDED = ["qdrant-edge", "qdrant-local", "milvus-lite-file"]


def open_embedded(engine: str, where: str):
    if engine == "qdrant-edge":
        return QdrantConnector(path=where, embedded="edge")
    if engine == "qdrant-local":
        return QdrantConnector(path=where, embedded="local")
    return MilvusConnector(uri=os.path.join(where, "vb.db"))


@pytest.mark.parametrize("engine", EMBEDDED)
def test_sigkill_mid_ingest_keeps_every_acknowledged_batch(engine, tmp_path):
    where, journal = str(tmp_path / "db"), tmp_path / "ingest.journal"
    os.makedirs(where, exist_ok=True)
    child = subprocess.Popen([sys.executable, "-c", CHILD, engine, where, str(journal)],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if journal.exists() and journal.read_text().count("\n") >= 20:
                break
            time.sleep(0.005)
        assert child.poll() is None, child.stderr.read()[-3000:]
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    acked = IngestJournal(journal)
    assert 20 <= len(acked) < 150, "the kill must land mid-ingest"

    ids, vectors, payloads = data(3000, tokens=True)
    conn = open_embedded(engine, where)
    # The journal's entries are the first batches, in order, by content digest.
    rows = prepare_rows(conn.spec("docs"), ids, vectors, payloads)
    lines = [line for line in journal.read_text().splitlines() if line.strip()]
    n_acked = len(acked)
    for b in range(n_acked):
        assert batch_digest("docs", rows.slice(20 * b, 20 * b + 20)) in lines[b]
    done = 20 * n_acked
    stored = {r.id: r for r in conn.get("docs", ids[:done], with_vectors=True)}
    assert sorted(stored) == ids[:done]  # every acknowledged point survived the kill
    for i in range(done):
        np.testing.assert_allclose(stored[ids[i]].vectors["dense"], vectors["dense"][i], rtol=1e-6)

    # Resuming writes only what was not acknowledged, and ends complete.
    calls = []
    original = conn.backend.op_upsert

    def counting(spec, batch):
        calls.append(len(batch))
        return (yield from original(spec, batch))
    conn.backend.op_upsert = counting
    assert conn.upsert("docs", ids, vectors, payloads, batch_size=20, journal=journal) == 3000
    assert len(calls) == 150 - n_acked
    assert_complete(conn, "docs", ids, vectors)
    conn.close()


def test_journal_rewrites_changed_batches_and_survives_a_torn_line(tmp_path):
    conn = QdrantConnector(location=":memory:")
    conn.create_collection(spec_for("docs"))
    ids, vectors, payloads = data(100)
    journal = tmp_path / "j"
    conn.upsert("docs", ids, vectors, payloads, batch_size=25, journal=journal)
    assert len(IngestJournal(journal)) == 4
    changed = {"dense": vectors["dense"].copy()}
    changed["dense"][60] = unit(changed["dense"][60] + 1.0)  # batch 3 changes: written again
    with open(journal, "a") as f:
        f.write('{"batch": "tor')  # a process died while appending
    conn.upsert("docs", ids, changed, payloads, batch_size=25, journal=journal)
    j = IngestJournal(journal)
    assert len(j) == 5 and j.points == 125
    np.testing.assert_allclose(conn.get("docs", [ids[60]], with_vectors=True)[0].vectors["dense"],
                               changed["dense"][60], rtol=1e-6)
    journal.write_text("not json\n" + journal.read_text())
    with pytest.raises(InvalidInputError, match="not a vectorbridge journal"):
        IngestJournal(journal)
    with pytest.raises(InvalidInputError, match="journal="):
        conn.upsert("docs", ids, vectors, payloads, journal=42)


@pytest.mark.parametrize("reply", ["file seems not fully written?", "No data left in file"])
def test_milvus_lite_load_after_flush_waits_out_an_unfinished_segment_file(reply, monkeypatch):
    """Milvus Lite answers a load of a segment still being written with either reply: both
    are retried; any other error is raised at once."""
    from pymilvus.exceptions import MilvusException

    from vectorbridge.connectors.milvus import lite

    monkeypatch.setattr(lite.time, "sleep", lambda s: None)

    class Client:
        calls = 0

        def load_collection(self, name):
            Client.calls += 1
            if Client.calls < 3:
                raise MilvusException(code=1, message=reply)

    lite.load_after_flush(Client(), "docs")
    assert Client.calls == 3

    class Broken:
        def load_collection(self, name):
            raise MilvusException(code=1, message="collection not found")

    with pytest.raises(MilvusException, match="not found"):
        lite.load_after_flush(Broken(), "docs")
