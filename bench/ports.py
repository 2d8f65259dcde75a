"""Loopback TCP port and server-process helpers for benchmark servers.

smtp-sink binds with SO_REUSEPORT, so starting it on a port that is already taken
"succeeds" and the kernel silently splits connections between the old and the new
listener. Every server launcher here therefore checks the port first.
"""

from __future__ import annotations

import socket
import subprocess
import time

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a port the kernel considers free right now on ``host``.

    There is an unavoidable race between closing this socket and the server binding
    the port; callers should still check with :func:`port_is_free` just before use.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Return True if nothing is bound or listening on ``host:port``.

    SO_REUSEADDR lets the probe ignore leftover TIME_WAIT connections from a previous
    run, while Linux still refuses the bind if any socket (even a SO_REUSEPORT one,
    or one on the wildcard address) is bound to that port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(
    port: int,
    timeout: float = 10.0,
    host: str = LOOPBACK,
    *,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until ``host:port`` accepts TCP connections.

    If ``process`` is given and exits while we wait, fail at once with its exit code
    instead of waiting out the whole timeout (e.g. a bad command-line flag).

    Raises:
        TimeoutError: nothing accepted a connection within ``timeout`` seconds.
        RuntimeError: ``process`` exited before the port opened.
    """
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"server process {process.args!r} exited with code {process.returncode} "
                f"before listening on {host}:{port}"
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"nothing accepted connections on {host}:{port} within {timeout:.1f}s "
                f"(last error: {last_error})"
            )
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate ``proc``, escalating to SIGKILL if it ignores SIGTERM for ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
