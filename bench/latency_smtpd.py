"""A minimal asyncio ESMTP server that waits before every reply, like a distant provider.

Real providers answer each SMTP command tens of milliseconds later; against a local
sink that latency disappears and a sequential client looks fast. This server adds it
back: greeting, every command reply, the 354 after DATA and the reply after the final
dot are each sent ``delay_ms`` late. PIPELINING is deliberately not advertised, so a
client cannot hide the round trips, only overlap them across connections.

It is hand-written rather than built on aiosmtpd to keep per-connection overhead low
(hundreds of concurrent sessions on a 2-core box that also runs the client), and it
runs in its own process so it does not share an event loop or GIL with the client.

Run: ``python -m bench.latency_smtpd --port 2525 --delay-ms 50``. On SIGTERM/SIGINT it
stops and prints ``latency_smtpd accepted=N recipients=M connections=K`` to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bench.ports import LOOPBACK, free_port, port_is_free, stop_process, wait_for_port

MAX_MESSAGE_SIZE = 10 * 1024 * 1024
# StreamReader's limit bounds a single readline/readuntil; DATA is read with readuntil,
# so it must exceed the largest message we accept.
_STREAM_LIMIT = MAX_MESSAGE_SIZE + 64 * 1024
_HOSTNAME = "latency-smtpd"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Stats:
    """Counters shared by all connections of one server (single-threaded, no locking).

    ``connections`` includes bare TCP probes such as the readiness check in
    :func:`latency_server`, so it is one higher than the client's own connections.
    """

    accepted: int = 0
    recipients: int = 0
    connections: int = 0


async def _read_data(reader: asyncio.StreamReader) -> int:
    """Consume a DATA body up to and including the terminating ``CRLF.CRLF``; return its size.

    Reading line by line costs ~100 coroutine calls per 8 KB message, so instead jump
    between occurrences of ``.CRLF`` and accept the one preceded by a line break. Every
    chunk starts at a line start (after the DATA command's CRLF, or after the previous
    chunk's ``.CRLF``), so a chunk that is exactly ``.CRLF`` is the terminator too; that
    covers an empty body. Dot-stuffed lines ("..CRLF") have a dot, not a line break,
    before their final dot, so they never match.
    """
    size = 0
    while True:
        chunk = await reader.readuntil(b".\r\n")
        size += len(chunk)
        if size > MAX_MESSAGE_SIZE:
            raise ValueError("message too large")
        if len(chunk) == 3 or chunk[-4:-3] == b"\n":
            return size


class _Session:
    """One SMTP connection: a tiny state machine with a delayed reply for every command."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        delay: float,
        stats: Stats,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.delay = delay
        self.stats = stats
        self.sender: bytes | None = None
        self.recipients = 0

    async def reply(self, text: str) -> None:
        await asyncio.sleep(self.delay)
        self.writer.write(text.encode("ascii") + b"\r\n")
        await self.writer.drain()

    def reset(self) -> None:
        self.sender = None
        self.recipients = 0

    async def run(self) -> None:
        await self.reply(f"220 {_HOSTNAME} ESMTP")
        while True:
            line = await self.reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            arg = line[4:].strip()
            if verb == b"EHLO":
                self.reset()
                await self.reply(
                    f"250-{_HOSTNAME}\r\n250-8BITMIME\r\n250-SIZE {MAX_MESSAGE_SIZE}\r\n250 HELP"
                )
            elif verb == b"HELO":
                self.reset()
                await self.reply(f"250 {_HOSTNAME}")
            elif verb == b"MAIL":
                await self._mail(arg)
            elif verb == b"RCPT":
                if self.sender is None:
                    await self.reply("503 5.5.1 Error: need MAIL command")
                else:
                    self.recipients += 1
                    await self.reply("250 2.1.5 Ok")
            elif verb == b"DATA":
                if not await self._data():
                    return
            elif verb == b"RSET":
                self.reset()
                await self.reply("250 2.0.0 Ok")
            elif verb == b"NOOP":
                await self.reply("250 2.0.0 Ok")
            elif verb == b"QUIT":
                await self.reply("221 2.0.0 Bye")
                return
            else:
                await self.reply("502 5.5.2 Error: command not recognized")

    async def _mail(self, arg: bytes) -> None:
        if self.sender is not None:
            await self.reply("503 5.5.1 Error: nested MAIL command")
            return
        # Honour the SIZE we advertise, so oversized mail fails before its body is sent.
        for param in arg.split()[1:]:
            if param.upper().startswith(b"SIZE="):
                try:
                    declared = int(param[5:])
                except ValueError:
                    await self.reply("501 5.5.4 Bad SIZE parameter")
                    return
                if declared > MAX_MESSAGE_SIZE:
                    await self.reply("552 5.3.4 Message size exceeds fixed limit")
                    return
        self.sender = arg
        await self.reply("250 2.1.0 Ok")

    async def _data(self) -> bool:
        """Handle DATA; return False when the connection must be dropped."""
        if self.sender is None or self.recipients == 0:
            await self.reply("503 5.5.1 Error: need RCPT command")
            return True
        await self.reply("354 End data with <CR><LF>.<CR><LF>")
        try:
            await _read_data(self.reader)
        except (asyncio.LimitOverrunError, ValueError):
            # The stream position is now unknown, so no further command can be trusted.
            await self.reply("552 5.3.4 Message size exceeds fixed limit")
            return False
        self.stats.accepted += 1
        self.stats.recipients += self.recipients
        queue_id = self.stats.accepted
        self.reset()
        await self.reply(f"250 2.0.0 Ok: queued as {queue_id}")
        return True


async def serve(host: str, port: int, delay_ms: float, *, stats: Stats | None = None) -> None:
    """Serve SMTP on ``host:port`` with a ``delay_ms`` pause before every reply; run until cancelled.

    Pass ``stats`` to read the counters from the caller (e.g. in-process tests).
    """
    counters = stats if stats is not None else Stats()
    delay = delay_ms / 1000.0
    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counters.connections += 1
        open_writers.add(writer)
        try:
            await _Session(reader, writer, delay, counters).run()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            # A client vanishing mid-session (or a port probe) is normal here, not an error.
            pass
        except asyncio.CancelledError:
            # This is the outermost coroutine of its task, so nothing upstream needs the
            # cancellation; letting it escape makes Python 3.11's StreamReaderProtocol log
            # a bogus "Exception in callback" traceback per open connection at shutdown.
            pass
        finally:
            open_writers.discard(writer)
            writer.close()

    # A large backlog keeps bursts of hundreds of simultaneous connects from being
    # dropped into SYN retries, which would show up as multi-second client stalls.
    server = await asyncio.start_server(handle, host, port, limit=_STREAM_LIMIT, backlog=4096)
    try:
        await server.serve_forever()
    finally:
        # Not "async with server": from Python 3.12 its wait_closed() waits for every
        # client to hang up, so shutdown would block on idle pooled connections.
        server.close()
        for writer in list(open_writers):
            writer.close()


async def _run_until_signalled(host: str, port: int, delay_ms: float) -> Stats:
    stats = Stats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server_task = asyncio.create_task(serve(host, port, delay_ms, stats=stats))
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({server_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    if server_task.done():
        stop_task.cancel()
        server_task.result()  # Re-raise a startup failure such as "address in use".
    server_task.cancel()
    with suppress(asyncio.CancelledError):
        await server_task
    return stats


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: ``python -m bench.latency_smtpd --port N --delay-ms 50``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    stats = asyncio.run(_run_until_signalled(args.host, args.port, args.delay_ms))
    print(
        f"latency_smtpd accepted={stats.accepted} recipients={stats.recipients} "
        f"connections={stats.connections}",
        file=sys.stderr,
        flush=True,
    )


@contextmanager
def latency_server(delay_ms: float = 50.0, port: int | None = None) -> Iterator[int]:
    """Run this server in a child process for the ``with`` block; yield its port.

    The child's stderr is inherited, so its final ``accepted=`` line shows up in the
    benchmark's output as an independent count of what the client delivered.
    """
    if port is None:
        port = free_port()
    if not port_is_free(port):
        raise RuntimeError(f"port {LOOPBACK}:{port} is already in use")
    cmd = [
        sys.executable,
        "-m",
        "bench.latency_smtpd",
        "--port",
        str(port),
        "--delay-ms",
        str(delay_ms),
    ]
    # cwd=project root makes "bench" importable without installing it.
    proc = subprocess.Popen(cmd, cwd=_PROJECT_ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process=proc)
        yield port
    finally:
        stop_process(proc)


if __name__ == "__main__":
    main()
