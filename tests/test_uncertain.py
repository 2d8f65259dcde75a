"""Settling uncertain SMS by asking Twilio: a message counts as ours only by what proves it (our sending
identity, the exact text, created after our hand-over), every page is read, a message still queued is
found, and a look-up that fails leaves the row uncertain instead of crashing the launch."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from helpers import customer, planned_campaign, sms_for
from sqlalchemy import select

from notifier.channels import channel_from_url
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.models import Channel
from notifier.sending.campaigns import CampaignRef, campaign_status, get_campaign
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import ClaimedRow
from notifier.store.schema import delivery_events, outbox
from notifier.testing.twilio import TwilioStandin

SERVICE = "MG" + "1" * 32


def _with_service(settings: Settings, twilio: TwilioStandin) -> Settings:
    """Sending through a Messaging Service (no From number), as many companies do."""
    url = f"twilio+http://{twilio.account_sid}:{twilio.auth_token}@{twilio.host}:{twilio.port}?messaging_service={SERVICE}"
    return replace(settings, sms_url=url)


def _crashed_with_one_row_in_flight(
    store: Store, settings: Settings, tmp_path: Path
) -> tuple[CampaignRef, ClaimedRow]:
    """A sender claimed and handed over one SMS, and died before it recorded anything."""
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.SMS}))
    campaign = get_campaign(store, "test-campaign")
    past = utcnow() - timedelta(minutes=30)
    with store.begin() as conn:
        [row] = q.claim_batch(
            conn,
            campaign_id=campaign.id,
            channel=Channel.SMS,
            limit=1,
            lease_token="dead",
            now=past,
            lease_until=past + timedelta(minutes=5),
        )
        q.hand_over(conn, [row.id], lease_token="dead", now=past)
    return campaign, row


def _send_as_the_dead_sender(settings: Settings, campaign: CampaignRef, row: ClaimedRow) -> None:
    async def send() -> None:
        channel = channel_from_url(settings.sms_url or "", Channel.SMS)
        try:
            await channel.send(sms_for(settings, campaign, row), token="dead")
        finally:
            await channel.aclose()

    asyncio.run(send())


def _row(store: Store, row_id: int) -> tuple[str, str | None, str | None]:
    with store.connect() as conn:
        found = conn.execute(select(outbox).where(outbox.c.id == row_id)).one()
    return found.state, found.provider_message_id, found.last_error


def test_someone_elses_message_to_the_number_is_not_taken_for_ours(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    settings = _with_service(settings, twilio)
    campaign, row = _crashed_with_one_row_in_flight(store, settings, tmp_path)
    # A one-time code through the same Messaging Service, and one from another number: neither is ours.
    twilio.inject(row.phone or "", "Your code is 731924", messaging_service_sid=SERVICE)
    twilio.inject(row.phone or "", "Your parcel is on its way", from_="+15550001111")
    launch(store, settings, "test-campaign", actor="t", max_wait_seconds=10)
    state, sid, _why = _row(store, row.id)
    ours = [m for m in twilio.messages if m["body"] == sms_for(settings, campaign, row).body_text]
    assert len(ours) == 1 and state == "accepted" and sid == ours[0]["sid"]  # sent now, exactly once
    with store.connect() as conn:
        details = conn.execute(
            select(delivery_events.c.detail).where(delivery_events.c.outbox_id == row.id)
        ).scalars()
        assert any("has none of ours" in (d or "") for d in details)


def test_our_message_still_queued_is_found_and_not_sent_again(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    settings = _with_service(settings, twilio)
    campaign, row = _crashed_with_one_row_in_flight(store, settings, tmp_path)
    twilio.queued.add(row.phone or "")  # Twilio has it, but has not sent it yet: no date_sent
    _send_as_the_dead_sender(settings, campaign, row)
    launch(store, settings, "test-campaign", actor="t", max_wait_seconds=10)
    state, sid, why = _row(store, row.id)
    assert len(twilio.messages) == 1 and (state, sid) == ("accepted", twilio.messages[0]["sid"])
    assert why is not None and "the provider has it" in why


def test_the_look_up_reads_every_page(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    campaign, row = _crashed_with_one_row_in_flight(store, settings, tmp_path)
    _send_as_the_dead_sender(settings, campaign, row)
    for n in range(230):  # newer messages to the same number push ours to the third page of 100
        twilio.inject(row.phone or "", f"Reminder {n}", from_=twilio.from_number)
    launch(store, settings, "test-campaign", actor="t", max_wait_seconds=10)
    state, sid, _why = _row(store, row.id)
    assert state == "accepted" and sid == twilio.messages[0]["sid"]
    assert len([m for m in twilio.messages if not m["body"].startswith("Reminder")]) == 1


def test_a_look_up_that_fails_leaves_the_row_uncertain_and_the_launch_goes_on(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    campaign, row = _crashed_with_one_row_in_flight(store, settings, tmp_path)
    _send_as_the_dead_sender(settings, campaign, row)  # it did reach Twilio before the sender died
    twilio.fail_list_next(503, count=1)  # the list call (a page) does not come back 200
    launch(store, settings, "test-campaign", actor="t", max_wait_seconds=10)
    state, _sid, _why = _row(store, row.id)
    assert state == "uncertain" and len(twilio.messages) == 1  # not proven either way: not sent again
    assert campaign_status(store, "test-campaign").state == "completed"  # nothing else left to send
    # The next launch asks again (the earlier look-up failed, not this one), finds it, sends nothing.
    launch(store, settings, "test-campaign", actor="t", max_wait_seconds=10)
    state, sid, _why = _row(store, row.id)
    assert state == "accepted" and sid == twilio.messages[0]["sid"] and len(twilio.messages) == 1
