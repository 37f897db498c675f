"""Local engine servers as child processes on 127.0.0.1, for tests and benchmarks.

- :class:`MilvusLiteServer`: ``milvus-lite server`` (Milvus Lite's gRPC server).
- :class:`Milvus23Server`: the real Milvus 2.3.5 binary from PyPI's ``milvus`` package
  (``pip install milvus==2.3.5``; the test extra installs it).

Both bind 127.0.0.1 on free ports and stop with :meth:`stop`; nothing here is imported by
the connectors.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MilvusLiteServer:
    """``milvus-lite server`` as a subprocess on 127.0.0.1 (its default bind is 0.0.0.0)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        exe = Path(sys.executable).with_name("milvus-lite")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "milvus_lite"]
        self.proc = subprocess.Popen(
            [*cmd, "server", "--data-dir", str(data_dir), "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.uri = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited: {self.proc.stderr.read().decode()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("milvus-lite server did not open its port within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Milvus23Server:
    """The real Milvus 2.3.5 server binary of PyPI's ``milvus`` package, on free ports.

    The proxy, coordinators and nodes get free ports; its data lives under ``base_dir``.
    Its embedded etcd always listens on 127.0.0.1:2379-2380 (the binary ignores the setting),
    so one such server runs per machine: a second is refused with that reason. Its coordinator
    and node ports bind all interfaces (the binary's choice): use it on trusted hosts only.
    """

    PORT_KEYS = ("proxy_port", "root_coord_port", "proxy_internal_port",
                 "query_coord_port", "query_node_port", "index_coord_port", "index_node_port",
                 "data_coord_port", "data_node_port")

    def __init__(self, base_dir: Path) -> None:
        from milvus import MilvusServer  # the `milvus` package: test extra

        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", 2379)) == 0:
                raise RuntimeError("port 2379 is taken (another Milvus 2.3.5 or an etcd runs "
                                   "here): the Milvus 2.3.5 binary's embedded etcd needs it")
        self.server = MilvusServer()
        self.server.set_base_dir(str(base_dir))
        for key in self.PORT_KEYS:
            self.server.config.set(key, free_port())
        self.port = self.server.listen_port
        self.uri = f"http://127.0.0.1:{self.port}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop()



__all__ = ["Milvus23Server", "MilvusLiteServer", "free_port"]
