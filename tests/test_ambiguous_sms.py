"""No second SMS when Twilio answers 5xx, or too late, after it created the message (channels/creation.py).

The stand-in creates the message and then answers HTTP 500, or answers after the client has given up:
Twilio has the message, we do not know it. Those rows become ``uncertain`` and are settled by asking
Twilio (recipient, sender, exact text), at once, before anything is sent again. A refusal known to leave
nothing created (429) is retried as it is; a 503 that created nothing is asked about, then sent. Each
customer gets exactly one SMS; none is lost."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from helpers import customer, planned_campaign
from sqlalchemy import select

from notifier.config import Settings
from notifier.models import Channel
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import delivery_events, outbox
from notifier.testing.twilio import TwilioStandin

CUSTOMERS = 90


def test_created_then_500_or_too_late_is_asked_about_never_sent_twice(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    rows = [customer(n) for n in range(1, CUSTOMERS + 1)]
    planned_campaign(store, settings, tmp_path, rows, channels=frozenset({Channel.SMS}))
    # Of every 9 creates: one answered 500 after creating, one answered too late after creating.
    twilio.late_seconds = 2.5
    twilio.answer_after_creating(
        *([None, None, "500", None, None, None, "late", None, None] * (CUSTOMERS // 9))
    )
    twilio.fail_next(429, 3)  # nothing created: retried as it is
    twilio.fail_next(503, 2)
    fast = replace(settings, sms_url=f"{twilio.url}&timeout=1&concurrency=4")
    launch(store, fast, "test-campaign", actor="t", max_wait_seconds=60)

    per_number = Counter(m["to"] for m in twilio.messages)
    assert [n for n, count in per_number.items() if count > 1] == []  # 0 duplicates
    assert set(per_number) == {r["phone"] for r in rows}  # 0 lost
    with store.connect() as conn:
        states = Counter(conn.execute(select(outbox.c.state)).scalars())
        sids = set(conn.execute(select(outbox.c.provider_message_id)).scalars())
        settled = (
            conn.execute(
                select(delivery_events.c.detail).where(
                    delivery_events.c.from_state == "uncertain", delivery_events.c.to_state == "accepted"
                )
            )
            .scalars()
            .all()
        )
    assert states == Counter({"accepted": CUSTOMERS})
    assert sids == {m["sid"] for m in twilio.messages}  # each row knows its message, the asked-about too
    assert len(settled) == 2 * (CUSTOMERS // 9)  # exactly the ambiguous ones were asked about
    assert all("the provider has it" in d for d in settled)


def test_the_decision_is_one_for_every_provider_api() -> None:
    from notifier.channels.creation import Fate, failure_of_create, fate_of_create
    from notifier.errors import PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError

    assert fate_of_create(None, written=False) is Fate.NOT_CREATED  # connect refused: nothing sent
    assert fate_of_create(None, written=True) is Fate.UNKNOWN  # sent, then no answer
    assert fate_of_create(429, written=True) is Fate.NOT_CREATED
    assert fate_of_create(500, written=True) is Fate.UNKNOWN
    assert fate_of_create(503, written=True) is Fate.UNKNOWN
    assert fate_of_create(400, written=True) is Fate.REFUSED
    assert isinstance(failure_of_create("x", status=502, written=True), UncertainDeliveryError)
    refused = failure_of_create("x", status=None, written=False)
    assert isinstance(refused, TransientDeliveryError) and refused.unreachable
    assert isinstance(failure_of_create("x", status=404, written=True), PermanentDeliveryError)
