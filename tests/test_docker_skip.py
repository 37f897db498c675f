"""The Docker cases skip with the reason when the services cannot start: a daemon that
answers without the compose plugin, or without the images and a registry to pull them from
(the project's machines: Debian's docker.io, no registry). Checked with a fake ``docker``."""

from __future__ import annotations

import os
import stat

import pytest

from tests.backends import compose_images, docker_reason

FAKE = """#!/bin/sh
case "$1" in
  info) {info} ;;
  compose) exit {compose} ;;
  image) exit 1 ;;
  pull) echo "Error response from daemon: Get \\"https://registry-1.docker.io/v2/\\": dial tcp: lookup registry-1.docker.io: no such host" >&2; exit 1 ;;
esac
"""


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    def install(info: str = "echo 27.5.1", compose: int = 0) -> None:
        path = tmp_path / "docker"
        path.write_text(FAKE.format(info=info, compose=compose))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return install


def test_no_daemon(fake_docker):
    fake_docker(info="echo 'Cannot connect to the Docker daemon' >&2; exit 1")
    assert docker_reason() == "no Docker daemon: `docker info` cannot reach one"


def test_a_daemon_without_the_compose_plugin(fake_docker):
    fake_docker(compose=1)
    assert "compose plugin is missing" in docker_reason()


def test_a_daemon_without_the_images_or_a_registry(fake_docker):
    fake_docker()
    reason = docker_reason()
    assert f"image {compose_images()[0]} is not on this machine and cannot be pulled" in reason
    assert "no such host" in reason  # the daemon's own words, for the reader of the skip


def test_the_compose_file_names_its_images():
    assert any(i.startswith("qdrant/qdrant:") for i in compose_images())
    assert any(i.startswith("milvusdb/milvus:") for i in compose_images())
