"""Postfix's smtp-sink as a throw-away SMTP server, and smtp-source as its speed reference.

smtp-sink is a C event-loop server that accepts and discards mail; it is fast enough
that a Python client, not the server, is the bottleneck. smtp-source (also C) hammering
the same sink gives the ceiling any client can hope to reach on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.ports import LOOPBACK, free_port, port_is_free, stop_process, wait_for_port

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
_INSTALL_HINT = "install Postfix's test tools with: apt-get install postfix (the daemon need not run)"


def _require(binary: str) -> str:
    """Return the path of ``binary`` or raise with an install hint."""
    if os.access(binary, os.X_OK):
        return binary
    # Other distributions put the tools on PATH rather than /usr/sbin.
    found = shutil.which(Path(binary).name)
    if found is None:
        raise RuntimeError(f"{binary} not found; {_INSTALL_HINT}")
    return found


@contextmanager
def smtp_sink(
    port: int | None = None,
    *,
    backlog: int = 1000,
    max_concurrency: int = 1000,
) -> Iterator[int]:
    """Run smtp-sink on 127.0.0.1 for the duration of the ``with`` block; yield its port.

    Args:
        port: port to listen on; a free one is picked when None.
        backlog: listen(2) backlog (smtp-sink's mandatory last argument).
        max_concurrency: smtp-sink ``-m``. Its default of 256 would silently leave extra
            connections queued in the kernel, which looks like client slowness.

    Raises:
        RuntimeError: smtp-sink is missing, the port is taken, or the sink died at start.
        TimeoutError: the sink never started listening.
    """
    binary = _require(SMTP_SINK)
    if port is None:
        port = free_port()
    if not port_is_free(port):
        # smtp-sink uses SO_REUSEPORT and would start anyway, sharing the port.
        raise RuntimeError(f"port {LOOPBACK}:{port} is already in use")
    cmd = [binary]
    if os.geteuid() == 0:
        # smtp-sink refuses to keep root privileges; as non-root, -u would fail instead.
        cmd += ["-u", "nobody"]
    cmd += ["-m", str(max_concurrency), f"{LOOPBACK}:{port}", str(backlog)]
    # Without -c/-v smtp-sink writes nothing, so DEVNULL cannot hide useful output.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process=proc)
        yield port
    finally:
        stop_process(proc)


def smtp_source_rate(
    port: int,
    messages: int = 20000,
    sessions: int = 16,
    recipients_per_msg: int = 1,
    message_size: int = 8000,
    *,
    reuse_connections: bool = True,
    timeout: float = 600.0,
) -> float:
    """Send ``messages`` with smtp-source to 127.0.0.1:``port``; return messages per second.

    Args:
        port: SMTP port (normally an :func:`smtp_sink`).
        messages: total messages across all sessions (``-m``).
        sessions: parallel SMTP sessions (``-s``).
        recipients_per_msg: RCPT TO commands per message (``-r``).
        message_size: body bytes per message, headers excluded (``-l``).
        reuse_connections: pass ``-d`` so each session sends many messages over one
            connection, like a pooled client. Without it smtp-source reconnects (and
            redoes greeting + HELO) for every message, roughly halving the rate.
        timeout: seconds before smtp-source is killed.

    Raises:
        RuntimeError: smtp-source is missing or failed (e.g. connection refused).
        subprocess.TimeoutExpired: it ran longer than ``timeout``.
    """
    binary = _require(SMTP_SOURCE)
    cmd = [binary]
    if reuse_connections:
        cmd.append("-d")
    options: dict[str, int | str] = {
        "-s": sessions,
        "-m": messages,
        "-l": message_size,
        "-r": recipients_per_msg,
        # Fixed HELO name and addresses: the defaults derive from the machine's hostname,
        # which may trigger a DNS lookup on an offline box.
        "-M": "localhost",
        "-f": "bench-sender@localhost",
        "-t": "bench-rcpt@localhost",
    }
    for flag, value in options.items():
        cmd += [flag, str(value)]
    cmd.append(f"{LOOPBACK}:{port}")
    # No -c: it only prints an unterminated running counter to stdout.
    start = time.perf_counter()
    # check=False: we raise ourselves, with smtp-source's "fatal:" line in the message.
    done = subprocess.run(
        cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"smtp-source exited with {done.returncode}: {done.stderr.decode(errors='replace').strip()}"
        )
    return messages / elapsed
