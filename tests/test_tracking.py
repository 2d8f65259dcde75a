"""Twilio status callbacks: signed by the stand-in, checked by our receiver, applied forward-only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from helpers import customer, planned_campaign
from sqlalchemy import select
from starlette.applications import Starlette

from notifier.config import Settings
from notifier.models import Channel
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import delivery_events, events, outbox
from notifier.testing.smtp import free_port
from notifier.testing.twilio import TwilioStandin
from notifier.tracking.app import tracking_app


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for callbacks"
        time.sleep(0.05)


def test_signed_callbacks_move_rows_forward_only(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    twilio.callback_outcomes = {"delivered": 0.5, "undelivered": 0.3, "failed": 0.2}
    twilio.callback_duplicates = True  # a stale "sent" arrives after the final status
    rows = [customer(n) for n in range(1, 21)]
    planned_campaign(store, settings, tmp_path, rows, channels=frozenset({Channel.SMS}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving_at(
        tracking_app(
            store, auth_token=twilio.auth_token, public_base_url=base, templates_dir=settings.templates_dir
        ),
        port,
    ):
        sms = replace(settings, sms_url=f"{twilio.url}&status_callback={base}/twilio/status")
        launch(store, sms, "test-campaign", actor="t")
        _wait_for(lambda: len(twilio.callbacks_posted) == 20 * 3)
    finals = [c["status"] for c in twilio.callbacks_posted if c["status"] != "sent"]
    with store.connect() as conn:
        states = sorted(conn.execute(select(outbox.c.state)).scalars())
        stale = conn.execute(
            select(delivery_events).where(delivery_events.c.detail.like("twilio sent%"))
        ).all()
    assert states == sorted(finals)  # every row ends in the final status its callback reported
    assert set(states) == {"delivered", "undelivered", "failed"}
    assert stale == []  # "sent" never moved anything: accepted already, and never backwards


def test_forged_or_missing_signatures_change_nothing(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.SMS}))
    launch(store, settings, "test-campaign", actor="t")
    with store.connect() as conn:
        token = conn.execute(select(outbox.c.message_token)).scalar_one()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = tracking_app(
        store, auth_token=twilio.auth_token, public_base_url=base, templates_dir=settings.templates_dir
    )
    with serving_at(app, port):
        form = {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "30008"}
        forged = httpx.post(
            f"{base}/twilio/status?t={token}", data=form, headers={"X-Twilio-Signature": "AAAA"}
        )
        missing = httpx.post(f"{base}/twilio/status?t={token}", data=form)
        from twilio.request_validator import RequestValidator

        good = RequestValidator(twilio.auth_token).compute_signature(f"{base}/twilio/status?t={token}", form)
        tampered = httpx.post(
            f"{base}/twilio/status?t={token}",
            data={**form, "MessageStatus": "delivered"},
            headers={"X-Twilio-Signature": good},
        )
        genuine = httpx.post(
            f"{base}/twilio/status?t={token}", data=form, headers={"X-Twilio-Signature": good}
        )
    assert (forged.status_code, missing.status_code, tampered.status_code) == (403, 403, 403)
    assert genuine.status_code == 200 and genuine.text == "applied: failed"
    with store.connect() as conn:
        assert conn.execute(select(outbox.c.state)).scalar_one() == "failed"


@contextmanager
def serving_at(app: Starlette, port: int) -> Iterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_abusive_requests_get_a_4xx_change_nothing_and_never_stall_the_service(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from twilio.request_validator import RequestValidator

    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.SMS}))
    launch(store, settings, "test-campaign", actor="t")
    with store.connect() as conn:
        token = conn.execute(select(outbox.c.message_token)).scalar_one()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/twilio/status?t={token}"
    sign = RequestValidator(twilio.auth_token).compute_signature
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    huge = "&".join(f"F{i}=x" for i in range(200_000))  # 2.6 MB, 200,000 fields
    with serving_at(
        tracking_app(
            store, auth_token=twilio.auth_token, public_base_url=base, templates_dir=settings.templates_dir
        ),
        port,
    ):
        started = time.monotonic()
        answers = {
            "other url (replayed)": httpx.post(
                f"{base}/twilio/status?t={token}x", data=form, headers={"X-Twilio-Signature": sign(url, form)}
            ).status_code,
            "wrong content type": httpx.post(
                url, json=form, headers={"X-Twilio-Signature": sign(url, form)}
            ).status_code,
            "huge form": httpx.post(
                url,
                content=huge,
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
            ).status_code,
            "many fields": httpx.post(
                url,
                content="&".join(f"F{i}=x" for i in range(500)),
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
            ).status_code,
            "not utf-8": httpx.post(
                url,
                content=b"MessageStatus=\xff\xfe",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ).status_code,
            "nul in a signed field": httpx.post(
                url,
                data={**form, "MessageStatus": "deliv\x00ered"},
                headers={"X-Twilio-Signature": sign(url, {**form, "MessageStatus": "deliv\x00ered"})},
            ).status_code,
            "malformed token": httpx.post(
                f"{base}/twilio/status?t=%00%27",
                data=form,
                headers={"X-Twilio-Signature": sign(f"{base}/twilio/status?t=%00%27", form)},
            ).status_code,
        }
        took = time.monotonic() - started
        alive = httpx.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form)})
    assert answers == {
        "other url (replayed)": 403,
        "wrong content type": 415,
        "huge form": 413,
        "many fields": 413,
        "not utf-8": 400,
        "nul in a signed field": 400,
        "malformed token": 400,
    }
    assert took < 5  # each refused at once: nothing held the event loop
    assert alive.status_code == 200 and alive.text == "applied: delivered"
    assert "Traceback" not in caplog.text and all(r.levelname != "ERROR" for r in caplog.records)


PATHS = [  # status sequences Twilio produces for one message, each ending in one final status
    ["queued", "sending", "sent", "delivered"],
    ["accepted", "queued", "sent", "undelivered"],
    ["queued", "sending", "sent", "failed"],
    ["queued", "sent", "delivered", "read"],
]


@pytest.mark.parametrize("path", PATHS, ids="-".join)
def test_every_order_and_batching_of_a_status_sequence_ends_in_its_final_state(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path, path: list[str]
) -> None:
    """All 24 orders of the sequence, each applied one by one and in one batch, with a duplicate of every
    callback: the row always ends in the path's final state, moved there exactly once."""
    import itertools

    from notifier.tracking.twilio_status import StatusCallback, apply_statuses

    orders = list(itertools.permutations(path))
    rows = [customer(n) for n in range(1, 2 * len(orders) + 1)]
    planned_campaign(store, settings, tmp_path, rows, channels=frozenset({Channel.SMS}))
    launch(store, settings, "test-campaign", actor="t")
    with store.connect() as conn:
        tokens = list(conn.execute(select(outbox.c.message_token).order_by(outbox.c.id)).scalars())
    final = "delivered" if path[-1] == "read" else path[-1]
    for i, order in enumerate(orders):
        one_by_one, batched = tokens[2 * i], tokens[2 * i + 1]
        for status in [*order, *order]:
            apply_statuses(store, [StatusCallback(one_by_one, status, _error(status))])
        apply_statuses(store, [StatusCallback(batched, s, _error(s)) for s in [*order, *reversed(order)]])
    with store.connect() as conn:
        states = set(conn.execute(select(outbox.c.state)).scalars())
        moves = conn.execute(
            select(delivery_events.c.outbox_id).where(delivery_events.c.to_state == final)
        ).all()
        recorded = conn.execute(select(events.c.id)).all()
    assert states == {final}
    assert len(moves) == len(tokens)  # each row moved to its final state exactly once
    assert len(recorded) == len(tokens) * 2 * len(path)  # every callback is an event, duplicates too


def _error(status: str) -> str | None:
    return {"undelivered": "30003", "failed": "30008"}.get(status)


def test_many_callbacks_at_once_are_all_answered_and_applied_and_a_failing_store_gets_503(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    import asyncio

    from twilio.request_validator import RequestValidator

    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 41)], channels=frozenset({Channel.SMS})
    )
    launch(store, settings, "test-campaign", actor="t")
    with store.connect() as conn:
        tokens = list(conn.execute(select(outbox.c.message_token)).scalars())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sign = RequestValidator(twilio.auth_token).compute_signature

    async def post_all(client: httpx.AsyncClient, target: str) -> list[httpx.Response]:
        posts = []
        for token in tokens:
            for status in ("sent", "delivered"):
                form = {"MessageSid": f"SM{token}", "MessageStatus": status}
                url = f"{target}/twilio/status?t={token}"
                posts.append(client.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form)}))
        return await asyncio.gather(*posts)

    async def run(app_store: Store, at: str, on_port: int) -> list[httpx.Response]:
        app = tracking_app(
            app_store, auth_token=twilio.auth_token, public_base_url=at, templates_dir=settings.templates_dir
        )
        with serving_at(app, on_port):
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50)) as client:
                return await post_all(client, at)

    answers = asyncio.run(run(store, base, port))
    assert [a.status_code for a in answers] == [200] * 80
    assert sorted(a.text for a in answers).count("applied: delivered") == 40
    with store.connect() as conn:
        assert set(conn.execute(select(outbox.c.state)).scalars()) == {"delivered"}
    down_port = free_port()
    unreachable = Store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    refused = asyncio.run(run(unreachable, f"http://127.0.0.1:{down_port}", down_port))
    assert {a.status_code for a in refused} == {503}
