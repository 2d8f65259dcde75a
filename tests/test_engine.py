"""The delivery engine's policies: global pacing, quiet hours, fallback, uncertain rows, campaign control."""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import customer, planned_campaign, sms_for
from sqlalchemy import select

from notifier.channels import channel_from_url
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import CampaignStateError
from notifier.models import Channel, ChannelPolicy, DeliveryPolicy, QuietHours, UncertainEmail
from notifier.notices.incidents import parse_incident
from notifier.notices.render import NoticeCache, renderer_for
from notifier.sending import tokens
from notifier.sending.campaigns import campaign_status, control, get_campaign
from notifier.sending.pacing import SharedBucket
from notifier.sending.pipeline import ChannelJob, Pipeline
from notifier.sending.runner import launch, send_window
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.schema import audit_log, customers, outbox
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin


def _launch(store: Store, settings: Settings, name: str = "test-campaign") -> None:
    launch(
        store,
        settings,
        name,
        actor="tester",
        max_wait_seconds=30,
    )


class FakeTime:
    """A clock that only moves when someone sleeps: pacing can be checked exactly, without waiting."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_shared_bucket_holds_the_rate_for_all_senders_together(store: Store) -> None:
    clock = FakeTime()
    senders = [
        SharedBucket(store, "sms:acct", rate=20, burst=2, chunk=1, clock=clock, sleep=clock.sleep)
        for _ in range(3)
    ]
    grants: list[float] = []

    async def run() -> None:
        start = clock.now
        while clock.now - start < 10:
            for sender in senders:  # three senders taking turns on one account
                await sender.acquire()
                grants.append(clock.now - start)

    asyncio.run(run())
    in_ten_seconds = [t for t in grants if t < 10]
    # rate × time + burst (+ 1: a window can hold a slot at each end), whoever takes them
    assert 20 * 10 - 2 <= len(in_ten_seconds) <= 20 * 10 + 2 + 1
    for second in range(9):
        window = [t for t in grants if second <= t < second + 1]
        assert len(window) <= 20 + 2 + 1
    # One global schedule: the k-th send of the three together never comes before slot k - burst.
    assert all(t >= (k - 2) * 0.05 - 1e-6 for k, t in enumerate(sorted(grants)))


def test_a_sender_late_for_its_slots_skips_them_instead_of_bunching(store: Store) -> None:
    clock = FakeTime()
    bucket = SharedBucket(store, "sms:late", rate=20, burst=2, chunk=10, clock=clock, sleep=clock.sleep)
    grants: list[float] = []

    async def run() -> None:
        await bucket.acquire()  # holds 9 more slots for the next 0.45 s
        clock.now += 2.0  # then stalls for 2 s (a slow start, a blocked event loop)
        start = clock.now
        while clock.now - start < 3:
            await bucket.acquire()
            grants.append(clock.now - start)

    asyncio.run(run())
    first_second = [t for t in grants if t < 1]
    assert len(first_second) <= 20 + 2 + 1  # not 9 stale slots fired at once on top
    assert len([t for t in grants if t < 3]) >= 3 * 20 - 1  # and the pace goes on unharmed


def test_a_sender_woken_late_by_a_busy_machine_never_catches_up_by_bursting(store: Store) -> None:
    clock = FakeTime()

    async def stalling_sleep(seconds: float) -> None:
        # Every tenth wake-up comes 0.7 s late: the event loop was starved of CPU meanwhile.
        stalling_sleep.calls += 1  # type: ignore[attr-defined]
        clock.now += seconds + (0.7 if stalling_sleep.calls % 10 == 0 else 0.0)  # type: ignore[attr-defined]

    stalling_sleep.calls = 0  # type: ignore[attr-defined]
    bucket = SharedBucket(store, "sms:stalled", rate=20, burst=1, chunk=5, clock=clock, sleep=stalling_sleep)
    grants: list[float] = []

    async def run() -> None:
        start = clock.now
        while clock.now - start < 10:
            await bucket.acquire()
            grants.append(clock.now - start)

    asyncio.run(run())
    for second in range(9):  # falling behind is allowed; bursting above the rate to catch up is not
        assert len([t for t in grants if second <= t < second + 1]) <= 20 + 1 + 1
    assert len(grants) < 20 * 10  # it did fall behind: the late slots were given up, not sent late


def test_concurrent_reservations_never_share_a_slot(store: Store) -> None:
    now, interval = 5_000.0, 0.01
    starts: list[float] = []

    def reserver() -> None:
        for _ in range(10):
            with store.begin() as conn:
                starts.append(
                    q.reserve_slots(conn, name="email:x", interval=interval, count=3, tolerance=0.05, now=now)
                )

    threads = [threading.Thread(target=reserver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots = sorted(round(start + i * interval, 6) for start in starts for i in range(3))
    assert len(set(slots)) == 120  # 4 × 10 × 3 slots, none handed out twice
    assert slots[0] == pytest.approx(now - 0.05)  # an idle account catches up by the tolerance, no more
    assert all(
        b - a == pytest.approx(interval) for a, b in itertools.pairwise(slots)
    )  # one gap-free schedule


def test_pushback_slows_a_sender_down_and_it_recovers(store: Store) -> None:
    clock = FakeTime()
    bucket = SharedBucket(store, "sms:pushed", rate=10, burst=1, chunk=5, clock=clock, sleep=clock.sleep)

    async def pace(n: int) -> list[float]:
        times = []
        for _ in range(n):
            await bucket.acquire()
            times.append(clock.now)
        return times

    normal = asyncio.run(pace(20))
    bucket.penalize(retry_after=3)
    penalized_at = clock.now
    slowed = asyncio.run(pace(10))
    later = asyncio.run(pace(400))  # seconds without complaints: the pace recovers
    recovered = asyncio.run(pace(20))
    assert normal[-1] - normal[0] == pytest.approx(1.8)  # 10/s; the first two together (burst 1)
    assert slowed[0] >= penalized_at + 3  # Retry-After honoured
    assert slowed[-1] - slowed[0] == pytest.approx(9 * 0.2)  # then at half the pace
    assert recovered[-1] - recovered[0] == pytest.approx(1.9, rel=0.1) and later  # back to 10/s


@pytest.mark.parametrize(
    ("utc", "zone", "expected"),
    [
        ("2026-11-22T12:00:00", "UTC", None),
        ("2026-11-22T23:30:00", "UTC", "2026-11-23T09:00:00"),
        ("2026-11-22T05:00:00", "UTC", "2026-11-22T09:00:00"),
        ("2026-11-22T14:00:00", "Asia/Ho_Chi_Minh", "2026-11-23T02:00:00"),  # 21:00 there → 09:00 next day
        ("2026-11-22T14:00:00", "America/New_York", None),  # 09:00 there
    ],
)
def test_quiet_hours_in_the_recipients_time_zone(utc: str, zone: str, expected: str | None) -> None:
    opens = QuietHours(9, 20).next_allowed(datetime.fromisoformat(utc).replace(tzinfo=UTC), zone)
    assert opens == (datetime.fromisoformat(expected).replace(tzinfo=UTC) if expected else None)


def test_sms_at_night_is_deferred_to_morning_without_counting_an_attempt(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(3, time_zone="UTC")], channels=frozenset({Channel.SMS})
    )
    campaign = get_campaign(store, "test-campaign")

    async def run(at: datetime) -> None:
        channel = channel_from_url(settings.sms_url or "", Channel.SMS)
        renderer = renderer_for(settings.templates_dir, settings.locales_dir, "breach_notice")
        notices = NoticeCache(renderer, parse_incident(campaign.facts, settings.templates_dir))
        job = ChannelJob(
            campaign_id=campaign.id, channel=Channel.SMS, quiet_hours=QuietHours(9, 20), max_claims=1
        )
        try:
            await Pipeline(store, job, channel, notices, clock=lambda: at).run()
        finally:
            await channel.aclose()

    asyncio.run(run(datetime(2026, 11, 22, 23, 30, tzinfo=UTC)))
    with store.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert (row.state, row.attempts, twilio.messages) == ("deferred", 0, [])
    assert row.next_attempt_at.replace(tzinfo=UTC) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert "quiet hours in UTC" in row.last_error


def test_an_urgent_override_is_stated_and_audited(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    urgent = DeliveryPolicy(quiet_hours=QuietHours(3, 4), urgent_reason="active account takeovers")
    planned_campaign(
        store, settings, tmp_path, [customer(3)], channels=frozenset({Channel.SMS}), delivery=urgent
    )
    _launch(store, settings)
    assert len(twilio.messages) == 1  # sent whatever the hour
    with store.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "campaign.urgent_override")).one()
    assert entry.detail["reason"] == "active account takeovers"


def test_email_first_falls_back_to_sms_only_when_email_fails(
    store: Store, settings: Settings, smtp: SmtpStandin, twilio: TwilioStandin, tmp_path: Path
) -> None:
    rows = [customer(1), customer(2), customer(3, phone="")]
    planned_campaign(store, settings, tmp_path, rows, policy=ChannelPolicy.EMAIL_FIRST)
    smtp.refuse("c2@example.com", 550)
    smtp.refuse("c3@example.com", 550)
    _launch(store, settings)
    assert [m["to"] for m in twilio.messages] == [customer(2)["phone"]]
    with store.connect() as conn:
        states = {(r.manifest_id, r.channel): r.state for r in conn.execute(select(outbox))}
    assert states == {
        (1, "email"): "accepted",
        (1, "sms"): "waiting",
        (2, "email"): "failed",
        (2, "sms"): "accepted",
        (3, "email"): "failed",
    }


def test_uncertain_sms_is_settled_by_asking_twilio_never_by_resending(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1), customer(2)], channels=frozenset({Channel.SMS}))
    campaign = get_campaign(store, "test-campaign")
    past = utcnow() - timedelta(minutes=30)
    with store.begin() as conn:  # a sender claimed both, sent the first, and died before recording anything
        rows = q.claim_batch(
            conn,
            campaign_id=campaign.id,
            channel=Channel.SMS,
            limit=10,
            lease_token="dead",
            now=past,
            lease_until=past + timedelta(minutes=5),
        )
        q.hand_over(conn, [r.id for r in rows], lease_token="dead", now=past)

    async def sent_before_the_crash() -> None:
        channel = channel_from_url(settings.sms_url or "", Channel.SMS)
        try:
            await channel.send(sms_for(settings, campaign, rows[0]), token="x")  # what the dead sender sent
        finally:
            await channel.aclose()

    asyncio.run(sent_before_the_crash())
    _launch(store, settings)
    assert sorted(m["to"] for m in twilio.messages) == sorted([customer(1)["phone"], customer(2)["phone"]])
    with store.connect() as conn:
        first = conn.execute(select(outbox).where(outbox.c.id == rows[0].id)).one()
    assert first.state == "accepted" and first.provider_message_id == twilio.messages[0]["sid"]
    assert "the provider has it" in first.last_error


def test_uncertain_email_is_resent_with_the_same_message_id_when_the_campaign_says_so(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    planned_campaign(
        store,
        settings,
        tmp_path,
        [customer(1)],
        channels=frozenset({Channel.EMAIL}),
        delivery=DeliveryPolicy(quiet_hours=QuietHours(0, 24), uncertain_email=UncertainEmail.RESEND),
    )
    campaign = get_campaign(store, "test-campaign")
    past = utcnow() - timedelta(minutes=30)
    with store.begin() as conn:
        rows = q.claim_batch(
            conn,
            campaign_id=campaign.id,
            channel=Channel.EMAIL,
            limit=10,
            lease_token="dead",
            now=past,
            lease_until=past + timedelta(minutes=5),
        )
        q.hand_over(conn, [r.id for r in rows], lease_token="dead", now=past)
    _launch(store, settings)
    # The Message-ID any earlier attempt had too: the row's token, signed with the campaign's key.
    assert campaign.bounce_key is not None
    same = f"<{tokens.sign(f'c{campaign.id}m1e', campaign.bounce_key)}@bounces.example.com>"
    assert len(smtp.received) == 1 and smtp.received[0].message["Message-ID"] == same


def test_opted_out_customers_stay_opted_out(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.SMS}))
    twilio.opted_out.add(customer(1)["phone"])
    _launch(store, settings)
    with store.connect() as conn:
        assert conn.scalar(select(customers.c.sms_opt_out)) is True


def test_pause_resume_cancel(store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path) -> None:
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 11)], channels=frozenset({Channel.EMAIL})
    )
    assert control(store, "test-campaign", "pause", actor="ops") == "paused"
    _launch_refused = pytest.raises(CampaignStateError, match="paused")
    with _launch_refused:
        _launch(store, settings)
    assert smtp.received == []
    assert control(store, "test-campaign", "resume", actor="ops") == "planned"
    small = replace(settings, batch_size=3)
    assert (
        send_window(small, "test-campaign", Channel.EMAIL).accepted == 0
    )  # planned, not launched: nothing due
    control(store, "test-campaign", "cancel", actor="ops", reason="wrong incident")
    with pytest.raises(CampaignStateError, match="cancelled"):
        _launch(store, settings)
    status = campaign_status(store, "test-campaign")
    assert status.outbox == {"email": {"skipped": 10}} and smtp.received == []
    with store.connect() as conn:
        actions = (
            conn.execute(
                select(audit_log.c.action)
                .where(audit_log.c.action.like("campaign.%"))
                .order_by(audit_log.c.id)
            )
            .scalars()
            .all()
        )
    assert actions[-3:] == ["campaign.pause", "campaign.resume", "campaign.cancel"]
