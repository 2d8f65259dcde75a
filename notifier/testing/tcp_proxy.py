"""A TCP proxy on loopback that can cut the line: the store outage of the tests (PostgreSQL restarted, a
fail-over, the network to it gone). ``cut()`` resets every connection through it and refuses new ones,
as a stopped server does; ``restore()`` listens again on the same port. The database behind it is the
real one, untouched: only the line to it goes away."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

from notifier.testing.smtp import free_port

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._acceptor: threading.Thread | None = None
        self._lock = threading.Lock()
        self.connections = 0  # accepted while up, in all

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.cut()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener,), name="tcp-proxy", daemon=True
        )
        self._acceptor.start()

    def cut(self) -> None:
        """Every connection through the proxy is reset at once, and none is taken until ``restore``."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join(10)  # every connection it took is in _open now, or closed by it
            self._acceptor = None
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: closing sends a reset, as when the server's process is gone.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            _shut(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            with self._lock:
                self._open.add(client)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                with self._lock:
                    self._open.discard(client)
                client.close()
                continue
            with self._lock:
                self._open.add(upstream)
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _shut(sock)
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)


def _shut(sock: socket.socket) -> None:
    """Shut down, then close: a close alone does not reach a socket another thread is blocked reading (the
    kernel keeps it open for that thread, and the peer hears nothing)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
