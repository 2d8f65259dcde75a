"""One notice per person per incident, and follow-ups without SQL: a second campaign of the same notice
skips whoever the first reached (``already_notified``), an update notice does not, and a follow-up can
select "not reached in campaign X" (bounced, undelivered, no channel)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import LOCALES, customer, dsn, incident_facts, planned_campaign, sign_in
from sqlalchemy import select
from test_approval import KEY
from typer.testing import CliRunner

from notifier.audience.selection import Selection
from notifier.cli.app import app
from notifier.config import Settings
from notifier.errors import InputError
from notifier.models import Channel, ChannelPolicy
from notifier.notices.records import edit_incident
from notifier.sending.campaigns import campaign_status, plan_campaign
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import campaigns, manifest
from notifier.testing.smtp import SmtpStandin
from notifier.tracking.bounces.intake import apply_bounce

DOMAIN = "bounces.example.com"
runner = CliRunner()


def _plan(store: Store, name: str, selection: Selection, notice: str = "breach_notice") -> None:
    plan_campaign(
        store,
        name=name,
        incident_key=KEY,
        selection=selection,
        channels=frozenset({Channel.EMAIL}),
        policy=ChannelPolicy.ALL,
        locales=LOCALES,
        actor="comms",
        notice=notice,
    )


def _reasons(store: Store, name: str) -> dict[str, str | None]:
    with store.connect() as conn:
        campaign = conn.execute(select(campaigns.c.id).where(campaigns.c.name == name)).scalar_one()
        return dict(
            conn.execute(
                select(manifest.c.external_id, manifest.c.email_reason).where(
                    manifest.c.campaign_id == campaign
                )
            ).all()
        )


@pytest.fixture
def first_campaign(store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path) -> Path:
    """Customers 1-6 by email: 1, 3, 5, 6 are reached, 2 bounces for good, 4's server refuses; 7 has no
    email at all. Returns the affected-ids file."""
    rows = [customer(n) for n in range(1, 7)] + [customer(7, email="", phone="")]
    smtp.refuse("c4@example.com", 550)
    planned_campaign(store, settings, tmp_path, rows, name="first", channels=frozenset({Channel.EMAIL}))
    launch(store, settings, "first", actor="ops", max_wait_seconds=30)
    mail = next(m for m in smtp.received if m.recipients == ("c2@example.com",))
    apply_bounce(store, dsn(mail, status="5.1.1", diagnostic="550 5.1.1 user unknown"), bounce_domain=DOMAIN)
    assert campaign_status(store, "first").outbox["email"] == {"accepted": 4, "bounced": 1, "failed": 1}
    return tmp_path / "affected.txt"


def test_a_second_campaign_of_the_same_notice_skips_those_already_notified(
    store: Store, settings: Settings, first_campaign: Path
) -> None:
    _plan(store, "second", Selection(ids_file=first_campaign))
    reasons = _reasons(store, "second")
    assert sorted(k for k, v in reasons.items() if v == "already_notified") == [
        "C00001",
        "C00003",
        "C00005",
        "C00006",
    ]
    assert reasons["C00002"] == "email_bounced"  # the hard bounce retired the address
    assert reasons["C00004"] is None and reasons["C00007"] == "no_email"  # still to be reached
    status = campaign_status(store, "second")
    assert status.manifest["unreachable"]["already_notified"] == 4
    assert status.outbox == {"email": {"pending": 1}}  # only C00004 gets a message


def test_an_update_notice_goes_to_everyone_again(
    store: Store, settings: Settings, first_campaign: Path
) -> None:
    facts = incident_facts()
    facts["update"] = {
        "previous_notice_date": "2026-11-09",
        "what_is_new": {
            "en": "No cards were copied.",
            "ru": "Карты не скопированы.",
            "vi": "Không có thẻ nào bị sao chép.",
        },
    }
    edit_incident(store, settings, KEY, facts, actor="comms", comment="update facts")
    _plan(store, "update", Selection(ids_file=first_campaign), notice="breach_update")
    reasons = _reasons(store, "update")
    assert "already_notified" not in reasons.values()
    assert sorted(k for k, v in reasons.items() if v is None) == [
        "C00001",
        "C00003",
        "C00004",
        "C00005",
        "C00006",
    ]


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (frozenset(), ["C00002", "C00004", "C00007"]),
        (frozenset({"bounced"}), ["C00002"]),
        (frozenset({"undelivered"}), ["C00004"]),
        (frozenset({"no_channel"}), ["C00007"]),
        (frozenset({"bounced", "no_channel"}), ["C00002", "C00007"]),
    ],
)
def test_a_follow_up_selects_who_a_campaign_did_not_reach(
    store: Store, first_campaign: Path, only: frozenset[str], expected: list[str]
) -> None:
    _plan(store, "follow-up", Selection(not_reached_in="first", not_reached_kinds=only))
    assert sorted(_reasons(store, "follow-up")) == expected


def test_a_follow_up_of_an_unfinished_campaign_or_an_unknown_kind_is_refused(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)], name="first")
    with pytest.raises(InputError, match="still has 2 messages to send"):
        _plan(store, "follow-up", Selection(not_reached_in="first"))
    with pytest.raises(InputError, match="--only takes bounced, undelivered, no_receipt, no_channel"):
        _plan(store, "follow-up", Selection(not_reached_in="first", not_reached_kinds=frozenset({"sad"})))
    with pytest.raises(InputError, match="no campaign 'nope'"):
        _plan(store, "follow-up", Selection(not_reached_in="nope"))
    assert campaign_status(store, "first").outbox == {"email": {"pending": 1}, "sms": {"pending": 1}}


def test_follow_ups_from_the_command_line(
    store: Store, settings: Settings, first_campaign: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    args = ["campaign", "plan", "again", "--incident", KEY, "--channels", "email"]
    sign_in(store, monkeypatch, "comms")
    second = runner.invoke(app, [*args, "--affected-ids", str(first_campaign)])
    assert second.exit_code == 0, second.output
    assert "4 customers already got this notice" in " ".join(second.output.split())
    follow = runner.invoke(
        app,
        ["campaign", "plan", "bounced", "--incident", KEY, "--not-reached-in", "first", "--only", "bounced"],
    )
    assert follow.exit_code == 0, follow.output
    assert sorted(_reasons(store, "bounced")) == ["C00002"]
