"""The engines the integration suite runs on, as a list of named factories.

Embedded engines always run; the milvus-lite server and the real Milvus 2.3.5 server (PyPI
``milvus``) are started on 127.0.0.1 by session fixtures;
Docker services run when a daemon answers; ``QDRANT_URL`` / ``MILVUS_URI`` (+ ``QDRANT_API_KEY``
/ ``MILVUS_TOKEN``) add any existing server.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from vectorbridge.connectors import ENGINES, Connector, MilvusConnector, QdrantConnector

#: The session fixture (tests/conftest.py) that starts each local server once.
SERVER_FIXTURES = {"milvus-lite-server": "milvus_lite_server", "milvus-2.3-server": "milvus23_server"}

DOCKER_COMPOSE = Path(__file__).resolve().parents[1] / "docker" / "docker-compose.yml"

#: The engines of the registry this machine runs (embedded, and local servers the session
#: fixtures start once), then servers reached by Docker or by URL.
LOCAL = [name for name, e in ENGINES.items() if e.where != "server"]
BACKENDS = [
    *LOCAL,
    "qdrant-docker",
    "milvus-docker",
    "qdrant-cluster",
    "qdrant-url",
    "milvus-url",
]


def compose_images(path: Path = DOCKER_COMPOSE) -> list[str]:
    """The images docker/docker-compose.yml runs, in order, each once."""
    found = re.findall(r"^\s*image:\s*(\S+)", path.read_text(), flags=re.M)
    return list(dict.fromkeys(found))


def _docker(*args: str, timeout: float = 20) -> subprocess.CompletedProcess | str:
    """``docker ARGS``, or why it could not run."""
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`docker {' '.join(args)}` failed ({e})"


def docker_reason() -> str | None:
    """None if the Docker services can start here, else the reason to skip: no client, no
    daemon, no compose plugin, or an image that is neither on the machine nor pullable (a
    daemon without a reachable registry, as on the project's machines)."""
    if shutil.which("docker") is None:
        return "no Docker daemon: the docker client is not installed"
    r = _docker("info", "--format", "{{.ServerVersion}}")
    if isinstance(r, str):
        return f"no Docker daemon: {r}"
    if r.returncode != 0 or not r.stdout.strip():
        return "no Docker daemon: `docker info` cannot reach one"
    r = _docker("compose", "version")
    if isinstance(r, str) or r.returncode != 0:
        return ("a Docker daemon answers but the compose plugin is missing (`docker compose "
                "version` failed): install docker-compose-plugin")
    for image in compose_images():
        r = _docker("image", "inspect", image)
        if not isinstance(r, str) and r.returncode == 0:
            continue
        r = _docker("pull", "-q", image, timeout=120)
        if isinstance(r, str) or r.returncode != 0:
            why = r if isinstance(r, str) else (r.stderr.strip().splitlines() or ["?"])[-1]
            return (f"a Docker daemon answers but image {image} is not on this machine and "
                    f"cannot be pulled ({why[:200]}): load it (`docker load`) or reach a "
                    "registry")
    return None


#: :func:`docker_reason`, asked once per session (a pull that cannot succeed is slow).
docker_daemon_reason = functools.lru_cache(maxsize=1)(docker_reason)


class Backend:
    """A way to open connectors on one engine; ``reopen`` gives a fresh client on the same data."""

    def __init__(self, name: str, factory, reopenable: bool = False) -> None:
        self.name, self._factory, self.reopenable = name, factory, reopenable
        self.opened: list[Connector] = []

    @property
    def is_milvus(self) -> bool:
        return self.name.startswith("milvus")

    @property
    def is_milvus_lite(self) -> bool:
        return self.name.startswith("milvus-lite")

    def connect(self) -> Connector:
        c = self._factory()
        self.opened.append(c)
        return c

    def close_all(self) -> None:
        for c in self.opened:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - best-effort teardown
                pass
        self.opened.clear()


def unique_name(prefix: str = "t") -> str:
    """Collection names that never clash on shared servers."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def make_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    entry = ENGINES.get(name)
    if entry is not None and entry.where == "embedded":  # reopenable: the data is in tmp_path
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        return Backend(name, lambda: entry.connect(str(folder)),
                       reopenable=name not in ("qdrant-local", "reference"))
    if entry is not None and entry.where == "local server":  # one server per test session
        server = request.getfixturevalue(SERVER_FIXTURES[name])
        return Backend(name, lambda: entry.connect(server.uri), reopenable=True)
    if name in ("qdrant-docker", "milvus-docker", "qdrant-cluster"):
        reason = docker_daemon_reason()
        if reason:
            pytest.skip(reason)
        services = request.getfixturevalue("docker_vector_services")
        if name in ("qdrant-docker", "qdrant-cluster"):  # the cluster: 3 peers, Raft
            return Backend(name, lambda: QdrantConnector(url=services[name.replace("-docker", "")]),
                           reopenable=True)
        return Backend(name, lambda: MilvusConnector(uri=services["milvus"]), reopenable=True)
    if name == "qdrant-url":
        url = os.environ.get("QDRANT_URL")
        if not url:
            pytest.skip("no QDRANT_URL set: export QDRANT_URL=http://host:6333 to test a server")
        key = os.environ.get("QDRANT_API_KEY")
        return Backend(name, lambda: QdrantConnector(url=url, api_key=key), reopenable=True)
    if name == "milvus-url":
        uri = os.environ.get("MILVUS_URI")
        if not uri:
            pytest.skip("no MILVUS_URI set: export MILVUS_URI=http://host:19530 to test a server")
        token = os.environ.get("MILVUS_TOKEN")
        return Backend(name, lambda: MilvusConnector(uri=uri, token=token), reopenable=True)
    raise ValueError(name)
