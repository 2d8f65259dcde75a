"""A provider outage is not a recipient's failure: the channel pauses, messages wait unattempted, and
sending resumes when the provider answers. One bad recipient never stops a campaign."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from helpers import customer, planned_campaign
from sqlalchemy import select

from notifier.config import RetryPolicy, Settings
from notifier.models import Channel
from notifier.sending.campaigns import campaign_status
from notifier.sending.health import DOWN_AFTER
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.schema import audit_log, outbox
from notifier.testing.smtp import SmtpStandin, free_port
from notifier.testing.twilio import TwilioStandin

FAST = RetryPolicy(base_seconds=0.05, max_seconds=0.2)


def _states(store: Store) -> dict[str, int]:
    with store.connect() as conn:
        return {k: v for counts in q.outbox_counts(conn, 1).values() for k, v in counts.items()}


def test_an_smtp_server_that_is_down_pauses_email_and_fails_nobody_then_it_resumes(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    down = replace(
        settings,
        email_url=f"smtp://127.0.0.1:{port}?from=notices@example.com&bounce_domain=b.example",
        retry=FAST,
        window_seconds=3,
    )
    rows = [customer(n) for n in range(1, 21)]
    planned_campaign(store, down, tmp_path, rows, channels=frozenset({Channel.EMAIL}))
    result = launch(store, down, "test-campaign", actor="t", max_wait_seconds=4)
    assert result.failed == 0 and result.accepted == 0 and result.unreachable >= DOWN_AFTER
    with store.connect() as conn:
        attempts = conn.execute(select(outbox.c.attempts)).scalars().all()
        health = q.providers_down(conn)
    assert set(_states(store)) <= {"pending", "deferred"} and sum(_states(store).values()) == 20
    assert attempts == [0] * 20  # nobody's message counts an attempt for the provider's outage
    assert len(health) == 1 and "Connect" in (health[0].last_error or "")
    status = campaign_status(store, "test-campaign")
    assert status.state == "running" and "cannot be reached since" in status.providers_down[0]

    with SmtpStandin(port=port, save_dir=tmp_path / "outbox") as smtp:  # the provider is back
        up = replace(down, email_url=smtp.url)
        result = launch(store, up, "test-campaign", actor="t", max_wait_seconds=120)
        assert sorted(r for m in smtp.received for r in m.recipients) == sorted(r["email"] for r in rows)
    assert result.accepted == 20 and _states(store) == {"accepted": 20}
    assert campaign_status(store, "test-campaign").providers_down == []


def test_twilio_answering_500_for_a_while_pauses_sms_until_it_answers(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 7)], channels=frozenset({Channel.SMS})
    )
    twilio.fail_next(500, count=DOWN_AFTER + 1)  # down, then a failed probe, then it answers
    result = launch(store, replace(settings, retry=FAST), "test-campaign", actor="t", max_wait_seconds=120)
    # Each 500 came after the request went out: uncertain, asked of Twilio (none there), sent again.
    assert (result.accepted, result.failed) == (6, 0) and result.uncertain == DOWN_AFTER + 1
    assert len(twilio.messages) == 6 and _states(store) == {"accepted": 6}
    with store.connect() as conn:
        attempts = Counter(conn.execute(select(outbox.c.attempts)).scalars())
        assert q.providers_down(conn) == []
    assert sum(attempts.values()) == 6 and sum(n - 1 for n in attempts.elements()) == DOWN_AFTER + 1


def test_one_message_that_makes_the_client_raise_fails_alone_and_the_rest_is_sent(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    rows = [customer(n) for n in range(1, 9)]
    planned_campaign(store, settings, tmp_path, rows, channels=frozenset({Channel.SMS}))
    twilio.garbled.add(rows[3]["phone"])  # Twilio's answer for this one is not JSON: the client raises
    result = launch(store, settings, "test-campaign", actor="t", max_wait_seconds=30)
    assert (result.accepted, result.failed) == (7, 1)
    with store.connect() as conn:
        failed = conn.execute(select(outbox).where(outbox.c.state == "failed")).one()
    assert failed.manifest_id == 4 and "unexpected error while sending" in failed.last_error
    assert campaign_status(store, "test-campaign").state == "completed"


def test_a_relaunch_right_after_a_crash_settles_the_dead_senders_rows_and_finishes(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    from datetime import timedelta

    from notifier.clock import utcnow

    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 11)], channels=frozenset({Channel.EMAIL})
    )
    now = utcnow()
    with store.begin() as conn:  # a sender claimed 4, handed 2 over and died; its lease runs 2 s more
        claimed = q.claim_batch(
            conn,
            campaign_id=1,
            channel=Channel.EMAIL,
            limit=4,
            lease_token="dead",
            now=now,
            lease_until=now + timedelta(seconds=2),
        )
        q.hand_over(conn, [claimed[0].id, claimed[1].id], lease_token="dead", now=now)
    started = time.monotonic()
    result = launch(store, settings, "test-campaign", actor="w2", max_wait_seconds=60)
    took = time.monotonic() - started
    states = _states(store)
    assert states == {"accepted": 8, "uncertain": 2}  # held for review (the default); nothing left "sending"
    assert result.accepted == 8 and len(smtp.received) == 8
    assert (
        1.9 < took < 20
    )  # it waited for the dead lease, settled it, and finished: no spinning to the deadline
    assert campaign_status(store, "test-campaign").state == "completed"


def test_held_rows_are_released_by_a_person_with_a_reason_and_it_is_audited(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    from datetime import timedelta

    from notifier.clock import utcnow
    from notifier.sending.campaigns import get_campaign
    from notifier.sending.uncertain import Release, release_uncertain

    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 4)], channels=frozenset({Channel.EMAIL})
    )
    past = utcnow() - timedelta(minutes=10)
    with store.begin() as conn:
        claimed = q.claim_batch(
            conn,
            campaign_id=1,
            channel=Channel.EMAIL,
            limit=3,
            lease_token="dead",
            now=past,
            lease_until=past + timedelta(minutes=1),
        )
        q.hand_over(conn, [r.id for r in claimed], lease_token="dead", now=past)
    launch(store, settings, "test-campaign", actor="t", max_wait_seconds=10)
    assert _states(store) == {"uncertain": 3} and smtp.received == []
    campaign = get_campaign(store, "test-campaign")
    settled = release_uncertain(
        store,
        campaign,
        Release.MARK_SENT,
        actor="reviewer",
        reason="seen in the MTA log",
        row_ids={claimed[0].id},
    )
    assert {k.value: v for k, v in settled.items()} == {"accepted": 1}
    release_uncertain(store, campaign, Release.RESEND, actor="reviewer", reason="not in the MTA log")
    launch(store, settings, "test-campaign", actor="t", max_wait_seconds=10)
    assert _states(store) == {"accepted": 3} and len(smtp.received) == 2  # the marked one is not sent again
    with store.connect() as conn:
        audits = conn.execute(
            select(audit_log).where(audit_log.c.action == "campaign.release_uncertain")
        ).all()
    assert [(a.actor, a.detail["decision"], a.detail["reason"]) for a in audits] == [
        ("reviewer", "mark-sent", "seen in the MTA log"),
        ("reviewer", "resend", "not in the MTA log"),
    ]


def test_concurrent_senders_share_what_they_learn_about_the_provider(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    down = replace(
        settings,
        email_url=f"smtp://127.0.0.1:{port}?from=n@example.com&bounce_domain=b.example",
        retry=FAST,
        window_seconds=2,
    )
    planned_campaign(
        store, down, tmp_path, [customer(n) for n in range(1, 41)], channels=frozenset({Channel.EMAIL})
    )
    errors: list[BaseException] = []

    def sender(name: str) -> None:
        try:
            launch(store, down, "test-campaign", actor=name, max_wait_seconds=3)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(f"s{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.connect() as conn:
        down_accounts = q.providers_down(conn)
        assert set(conn.execute(select(outbox.c.attempts)).scalars()) == {0}
    assert len(down_accounts) == 1  # one account, one shared view of it
