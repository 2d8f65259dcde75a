"""``callbacks_per_s``: signed Twilio status callbacks applied per second by the tracking service.

A real ``notifier serve`` process on a PostgreSQL store whose campaign has been sent (every row accepted
with its Twilio SID) receives two signed callbacks per message ("sent", then a final status) over
``CONNECTIONS`` keep-alive connections, as Twilio's callback senders would send them (each request waits
for its batch's commit, so the rate grows with the callbacks in flight: measured on this 2-core machine
about 800/s with 64 connections, 1,000 with 128, 1,070 with 256). The requests are
built and signed before the clock starts, and written with bare asyncio streams, so the load generator
costs little of the two cores the service runs on. Every callback must be answered 200 and, at the end,
every row must be in its final state with every callback recorded as an event."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from urllib.parse import urlencode

from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bench.ports import LOOPBACK, free_port, stop_process, wait_for_port
from notifier.config import PROJECT_ROOT
from notifier.store import Store
from notifier.store.schema import events, outbox

CONNECTIONS = 128  # concurrent callbacks in flight: Twilio posts them from many machines at once
FINALS = ("delivered", "delivered", "delivered", "undelivered")  # three in four delivered


def _requests(db_url: str, base: str, auth_token: str) -> tuple[list[bytes], int]:
    store = Store(db_url)
    with store.connect() as conn:
        rows = conn.execute(
            select(outbox.c.message_token, outbox.c.provider_message_id).order_by(outbox.c.id)
        ).all()
    store.dispose()
    validator = RequestValidator(auth_token)
    built = []
    for i, (token, sid) in enumerate(rows):
        for status in ("sent", FINALS[i % len(FINALS)]):
            form = {
                "MessageSid": sid,
                "AccountSid": "AC" + "0" * 32,
                "MessageStatus": status,
                "ApiVersion": "2010-04-01",
            }
            if status == "undelivered":
                form["ErrorCode"] = "30003"
            path = f"/twilio/status?t={token}"
            body = urlencode(form).encode()
            signature = validator.compute_signature(base + path, form)
            built.append(
                (
                    f"POST {path} HTTP/1.1\r\nHost: {base.split('//')[1]}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                + body
            )
    return built, len(rows)


async def _send(port: int, requests: list[bytes]) -> list[int]:
    """Send every request over ``CONNECTIONS`` keep-alive connections; returns the status codes."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    codes: list[int] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            while not queue.empty():
                writer.write(queue.get_nowait())
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                codes.append(int(head.split(b" ", 2)[1]))
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return codes


def callbacks_rate(db_url: str, sms_url: str, auth_token: str) -> tuple[float, int]:
    """(callbacks applied per second, callbacks sent) against a sent SMS campaign in ``db_url``."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    requests, messages = _requests(db_url, base, auth_token)
    env = {**os.environ, "NOTIFIER_DATABASE_URL": db_url, "NOTIFIER_SMS_URL": sms_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier.cli.app", "serve", "--public-url", base, "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        began = time.perf_counter()
        codes = asyncio.run(_send(port, requests))
        seconds = time.perf_counter() - began
    finally:
        stop_process(proc)
    if codes.count(200) != len(requests):
        raise RuntimeError(
            f"callbacks: {len(requests) - codes.count(200)} of {len(requests)} not answered 200"
        )
    store = Store(db_url)
    with store.connect() as conn:
        finals = conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.state.in_(["delivered", "undelivered"]))
        ).scalar()
        recorded = conn.execute(select(func.count()).select_from(events)).scalar()
    store.dispose()
    if finals != messages or recorded != len(requests):
        raise RuntimeError(
            f"callbacks: {finals} of {messages} rows final, {recorded} of {len(requests)} events"
        )
    return len(requests) / seconds, len(requests)
