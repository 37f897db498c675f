"""Local engine servers as child processes on 127.0.0.1, for tests and benchmarks.

- :class:`MilvusLiteServer`: ``milvus-lite server`` (Milvus Lite's gRPC server).
- :class:`Milvus23Server`: the real Milvus 2.3.5 binary from PyPI's ``milvus`` package
  (``pip install milvus==2.3.5``; the test extra installs it).
- :class:`TcpProxy`: a forwarder whose :meth:`~TcpProxy.cut` drops every connection and
  refuses new ones until :meth:`~TcpProxy.restore`: a network outage between a client and a
  server that keeps running (for servers that cannot be killed and restarted, see below).

Both bind 127.0.0.1 on free ports and stop with :meth:`stop`; nothing here is imported by
the connectors.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MilvusLiteServer:
    """``milvus-lite server`` as a subprocess on 127.0.0.1 (its default bind is 0.0.0.0)."""

    def __init__(self, data_dir: Path) -> None:
        self.port, self.data_dir = free_port(), Path(data_dir)
        self.uri = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        """Start the server on this object's port and data folder (again after :meth:`kill`)."""
        exe = Path(sys.executable).with_name("milvus-lite")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "milvus_lite"]
        self.proc = subprocess.Popen(
            [*cmd, "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
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

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as in a crash or an OOM kill."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Milvus23Server:
    """The real Milvus 2.3.5 server binary of PyPI's ``milvus`` package, on free ports.

    It does not come back on its own data: after :meth:`kill` or :meth:`stop`, a new
    :meth:`start` keeps its proxy port closed (its coordinators wait on the previous run's
    sessions: "CompareAndSwap ... querycoord", "node not found"). Fault tests cut its network
    with :class:`TcpProxy` instead.

    The proxy, coordinators and nodes get free ports; its data lives under ``base_dir``.
    Its embedded etcd always listens on 127.0.0.1:2379-2380 (the binary ignores the setting),
    so one such server runs per machine: a second is refused with that reason. Its coordinator
    and node ports bind all interfaces (the binary's choice): use it on trusted hosts only.
    """

    PORT_KEYS = ("proxy_port", "root_coord_port", "proxy_internal_port",
                 "query_coord_port", "query_node_port", "index_coord_port", "index_node_port",
                 "data_coord_port", "data_node_port")

    def __init__(self, base_dir: Path, time_tick_ms: int | None = None) -> None:
        """``time_tick_ms``: the proxy's time-tick interval (the binary's default: 200 ms).
        A ``Strong`` read waits for the next tick, so each one costs up to that; the test
        suite runs its thousands of reads at 20 ms."""
        import milvus
        from milvus import MilvusServer, MilvusServerConfig  # the `milvus` package: test extra

        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", 2379)) == 0:
                raise RuntimeError("port 2379 is taken (another Milvus 2.3.5 or an etcd runs "
                                   "here): the Milvus 2.3.5 binary's embedded etcd needs it")
        config = MilvusServerConfig()
        if time_tick_ms is not None:
            template = Path(milvus.__file__).parent / "data" / "config.yaml.template"
            text = template.read_text().replace(
                "  timeTickInterval: 200 #", f"  timeTickInterval: {int(time_tick_ms)} #")
            base_dir.mkdir(parents=True, exist_ok=True)
            (base_dir / "config.yaml.template").write_text(text)
            config = MilvusServerConfig(template=str(base_dir / "config.yaml.template"))
            # the package sets this only for its own template
            config.glog_conf_file = str(template.parent / "glog.conf")
        self.server = MilvusServer(config)
        self.server.set_base_dir(str(base_dir))
        for key in self.PORT_KEYS:
            self.server.config.set(key, free_port())
        self.port = self.server.listen_port
        self.uri = f"http://127.0.0.1:{self.port}"
        self.server.start()

    def kill(self) -> None:
        """SIGKILL the server process (its embedded etcd and nodes die with it)."""
        proc = self.server.server_proc
        if proc is not None:
            proc.kill()
            proc.wait()
            self.server.server_proc = None

    def start(self) -> None:
        """Start it again on the same ports and data after :meth:`kill` or :meth:`stop`."""
        self.server.start()

    def stop(self) -> None:
        self.server.stop()



class TcpProxy:
    """127.0.0.1:``port`` forwarded to 127.0.0.1:``target``, with an off switch.

    Examples:
        >>> import socket, threading
        >>> srv = socket.create_server(("127.0.0.1", 0))
        >>> proxy = TcpProxy(srv.getsockname()[1])
        >>> proxy.cut(); socket.socket().connect_ex(("127.0.0.1", proxy.port)) != 0
        True
        >>> proxy.close(); srv.close()
    """

    def __init__(self, target: int) -> None:
        self.target, self.port = target, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        """Accept connections again."""
        with self._lock:
            if self._listener is not None:
                return
            self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
            threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self) -> None:
        """Close the listener and every open connection: clients see resets, then refusals."""
        with self._lock:
            listener, self._listener = self._listener, None
            socks, self._socks = self._socks, set()
        for s in [listener, *socks]:
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close(), upstream.close()
                    return
                self._socks |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


__all__ = ["Milvus23Server", "MilvusLiteServer", "TcpProxy", "free_port"]
