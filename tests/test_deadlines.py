"""Deadlines per jurisdiction (templates/deadlines.toml): hand-computed cases, each with its arithmetic in a
comment; the new incident facts and what they leave alone (approvals); the store's counts after a real
launch; and `notifier incident deadlines` against a real store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import customer, incident_facts, planned_campaign, sign_in
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.cli.common import console
from notifier.clock import utcnow
from notifier.config import PROJECT_ROOT, Settings
from notifier.errors import InputError
from notifier.notices.approval import content_hash, pieces
from notifier.notices.content import load_content
from notifier.notices.deadline_rules import load_deadline_rules, parse_rules, rules_markdown
from notifier.notices.deadlines import (
    DeadlineFacts,
    Obligation,
    Status,
    deadline_report,
    earliest_per_recipient,
    obligations,
)
from notifier.notices.incidents import Filing, LawEnforcementHold, parse_incident
from notifier.notices.records import create_incident, edit_incident, incident_by_key
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.testing.smtp import SmtpStandin

TEMPLATES = PROJECT_ROOT / "templates"
RULES = load_deadline_rules(TEMPLATES)
KEY = incident_facts()["key"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def compute(
    facts: DeadlineFacts,
    residents: dict[str, int],
    now: str,
    notified: dict[str, datetime | None] | None = None,
) -> dict[str, Obligation]:
    return {o.rule_id: o for o in obligations(RULES, facts, residents, notified or {}, at(now))}


# --- Hours, calendar days, business days ------------------------------------------------------------


def test_gdpr_supervisory_authority_72_hours() -> None:
    # Discovered 2026-11-05 10:30 +01:00 = 09:30 UTC; + 72 h = 2026-11-08 09:30 UTC. At 2026-11-06 09:30
    # UTC, 48 h are left. Individuals: without undue delay, no fixed time.
    found = compute(DeadlineFacts(discovered=at("2026-11-05T10:30:00+01:00")), {"DE": 3}, "2026-11-06T09:30Z")
    sa = found["eu_sa"]
    assert sa.status is Status.DUE and sa.applies and sa.jurisdictions == ("DE",) and sa.residents == 3
    assert sa.due == at("2026-11-08T09:30Z") and sa.remaining == timedelta(hours=48)
    assert sa.countdown == "2d left"
    individuals = found["eu_individuals"]
    assert individuals.status is Status.DUE and individuals.due is None and individuals.remaining is None
    assert individuals.countdown == "without undue delay"
    assert (
        found["uk_ico"].status is Status.NOT_APPLICABLE
        and "no affected residents of GB" in found["uk_ico"].reason
    )


def test_california_30_calendar_days_across_the_us_dst_change_keep_the_local_wall_time() -> None:
    # Discovered Tue 2026-10-20 10:00 PDT (UTC-7) = 17:00 UTC. 30 calendar days in Los Angeles: Thu
    # 2026-11-19 10:00 local, which is PST (UTC-8) after 1 Nov = 18:00 UTC: 30 days and 1 hour later.
    found = compute(
        DeadlineFacts(discovered=at("2026-10-20T10:00:00-07:00")), {"US-CA": 10}, "2026-11-01T00:00Z"
    )
    residents = found["us_ca_residents"]
    assert residents.due == at("2026-11-19T18:00Z")
    assert residents.due - at("2026-10-20T17:00Z") == timedelta(days=30, hours=1)
    assert residents.due_local is not None and residents.due_local.strftime("%H:%M %Z") == "10:00 PST"
    # New York counts in its own zone: 10:00 PDT = 13:00 EDT; 2026-11-19 13:00 EST = 18:00 UTC as well.
    assert compute(
        DeadlineFacts(discovered=at("2026-10-20T10:00:00-07:00")), {"US-NY": 1}, "2026-11-01T00:00Z"
    )["us_ny_residents"].due == at("2026-11-19T18:00Z")


def test_a_due_wall_time_that_occurs_twice_is_its_earlier_instant() -> None:
    # Discovered Fri 2026-10-02 01:30 PDT = 08:30 UTC; + 30 days = Sun 2026-11-01 01:30, which Los Angeles
    # lives twice (PDT, then PST an hour later): the first, 01:30 PDT = 08:30 UTC.
    found = compute(
        DeadlineFacts(discovered=at("2026-10-02T01:30:00-07:00")), {"US-CA": 1}, "2026-10-03T00:00Z"
    )
    assert found["us_ca_residents"].due == at("2026-11-01T08:30Z")


def test_brazil_three_business_days_from_friday_evening_end_wednesday_at_the_same_time() -> None:
    # Known Fri 2026-11-06 19:00 in São Paulo (UTC-3, no DST) = 22:00 UTC. Friday does not count; Sat and
    # Sun are skipped; Mon 9 (1), Tue 10 (2), Wed 11 (3): due Wed 2026-11-11 19:00 local = 22:00 UTC.
    facts = DeadlineFacts(discovered=at("2026-11-06T19:00:00-03:00"))
    found = compute(facts, {"BR": 2}, "2026-11-09T12:00Z")
    for rule in ("br_anpd", "br_individuals"):
        assert found[rule].due == at("2026-11-11T22:00Z"), rule
    assert (
        found["br_anpd"].due_local is not None
        and found["br_anpd"].due_local.strftime("%a %H:%M") == "Wed 19:00"
    )
    # A holiday on Tue 10 is not a business day: Mon (1), Wed (2), Thu 12 (3) 19:00 = 22:00 UTC.
    table = _rule_table("br_anpd", holidays=["2026-11-10"])
    holiday_rules = parse_rules({"rules": {"br_anpd": table}}, categories=load_content(TEMPLATES).categories)
    (holiday,) = obligations(holiday_rules, facts, {"BR": 2}, {}, at("2026-11-09T12:00Z"))
    assert holiday.due == at("2026-11-12T22:00Z")


def test_clocks_across_a_weekend_hours_and_calendar_days_run_through_it() -> None:
    # Russia: discovered Fri 2026-11-06 18:00 MSK (UTC+3) = 15:00 UTC; 72 h = Mon 2026-11-09 15:00 UTC.
    russia = compute(
        DeadlineFacts(discovered=at("2026-11-06T18:00:00+03:00")), {"RU": 5}, "2026-11-07T00:00Z"
    )
    assert russia["ru_rkn_72h"].due == at("2026-11-09T15:00Z")
    # Singapore: determined Fri 2026-11-06 17:00 SGT (UTC+8) = 09:00 UTC; 3 calendar days = Mon 2026-11-09
    # 17:00 SGT = 09:00 UTC (the weekend counts).
    facts = DeadlineFacts(
        discovered=at("2026-11-02T09:00:00+08:00"), determined=at("2026-11-06T17:00:00+08:00")
    )
    singapore = compute(facts, {"SG": 700}, "2026-11-07T00:00Z")
    assert singapore["sg_pdpc"].due == at("2026-11-09T09:00Z")
    # The assessment (30 days from discovery) is done by recording the determination.
    assert singapore["sg_assess"].status is Status.DONE and singapore["sg_assess"].done_at == facts.determined


def test_hipaa_annual_log_counts_from_the_end_of_the_discovery_year() -> None:
    # Discovered 2026-11-05; the year ends 2027-01-01 00:00 EST = 05:00 UTC; + 60 days (Jan 31, Feb 28,
    # 1 more) = 2027-03-02 00:00 EST = 05:00 UTC. Fewer than 500 affected: the log, not the 60-day notice.
    facts = DeadlineFacts(discovered=at("2026-11-05T09:30Z"), categories=frozenset({"health_data"}))
    found = compute(facts, {"US-TX": 499}, "2026-11-06T00:00Z")
    assert found["us_hipaa_hhs_log"].due == at("2027-03-02T05:00Z")
    assert found["us_hipaa_hhs"].status is Status.NOT_APPLICABLE
    assert found["us_hipaa_hhs"].reason == "below the threshold: at least 500 residents (499)"


# --- Law-enforcement holds ---------------------------------------------------------------------------

CA_DISCOVERED = at("2026-10-20T10:00:00-07:00")  # = 17:00 UTC; due without a hold 2026-11-19 18:00 UTC


def test_a_law_enforcement_hold_extends_california_by_its_length() -> None:
    # Hold 2026-10-25 00:00 UTC to 2026-11-04 00:00 UTC = 10 days, all while the clock runs: due
    # 2026-11-19 18:00 + 10 days = 2026-11-29 18:00 UTC.
    hold = LawEnforcementHold(at("2026-10-25T00:00Z"), at("2026-11-04T00:00Z"))
    found = compute(
        DeadlineFacts(discovered=CA_DISCOVERED, hold=hold), {"US-CA": 10, "US-NY": 10}, "2026-11-20T00:00Z"
    )
    ca = found["us_ca_residents"]
    assert ca.due == at("2026-11-29T18:00Z") and ca.held_for == timedelta(days=10)
    assert ca.status is Status.DUE and "extended by a law-enforcement hold of 10d" in ca.reason
    # New York's regulators' clock does not allow it: 2026-10-20 13:00 EDT + 30 days = 2026-11-19 13:00
    # EST = 18:00 UTC, overdue at 2026-11-20 00:00 UTC by 6 h.
    regulators = found["us_ny_regulators"]
    assert regulators.due == at("2026-11-19T18:00Z") and regulators.held_for == timedelta(0)
    assert regulators.status is Status.OVERDUE and regulators.countdown == "overdue by 6h"


def test_only_the_part_of_a_hold_after_the_clock_started_counts_and_an_open_hold_pauses() -> None:
    # Hold from 2026-10-15 to 2026-10-22 17:00 UTC; the clock started 2026-10-20 17:00 UTC: 2 days count.
    early = LawEnforcementHold(at("2026-10-15T00:00Z"), at("2026-10-22T17:00Z"))
    found = compute(DeadlineFacts(discovered=CA_DISCOVERED, hold=early), {"US-CA": 1}, "2026-11-01T00:00Z")
    assert found["us_ca_residents"].due == at("2026-11-21T18:00Z")
    # A hold that began after the due time changes nothing.
    late = LawEnforcementHold(at("2026-11-20T00:00Z"), at("2026-12-20T00:00Z"))
    found = compute(DeadlineFacts(discovered=CA_DISCOVERED, hold=late), {"US-CA": 1}, "2026-11-25T00:00Z")
    assert found["us_ca_residents"].due == at("2026-11-19T18:00Z")
    assert found["us_ca_residents"].status is Status.OVERDUE
    # Still on hold (no end): no due time, nothing overdue.
    open_hold = LawEnforcementHold(at("2026-10-25T00:00Z"))
    paused = compute(
        DeadlineFacts(discovered=CA_DISCOVERED, hold=open_hold), {"US-CA": 1}, "2026-12-25T00:00Z"
    )
    assert paused["us_ca_residents"].status is Status.ON_HOLD
    assert paused["us_ca_residents"].due is None and paused["us_ca_residents"].remaining is None


# --- Thresholds ---------------------------------------------------------------------------------------


def test_california_ag_15_days_after_residents_notified_only_above_500() -> None:
    # Residents all notified 2026-11-10 20:00 UTC = 12:00 PST; + 15 calendar days = 2026-11-25 12:00 PST
    # = 20:00 UTC.
    facts = DeadlineFacts(discovered=CA_DISCOVERED)
    notified: dict[str, datetime | None] = {"US-CA": at("2026-11-10T20:00Z")}
    found = compute(facts, {"US-CA": 501}, "2026-11-11T00:00Z", notified)
    ag = found["us_ca_ag"]
    assert ag.applies and ag.clock_start == at("2026-11-10T20:00Z") and ag.due == at("2026-11-25T20:00Z")
    assert ag.threshold == "more than 500 residents (501)"
    # The residents' own obligation is done then, 9 days before its due time.
    residents = found["us_ca_residents"]
    assert residents.status is Status.DONE and residents.done_at == at("2026-11-10T20:00Z")
    assert residents.remaining == at("2026-11-19T18:00Z") - at("2026-11-10T20:00Z")
    below = compute(facts, {"US-CA": 500}, "2026-11-11T00:00Z", notified)["us_ca_ag"]
    assert not below.applies and below.status is Status.NOT_APPLICABLE and below.due is None
    assert below.reason == "below the threshold: more than 500 residents (500)"
    # Not all notified yet: the AG's clock has not started.
    waiting = compute(facts, {"US-CA": 501}, "2026-11-11T00:00Z", {"US-CA": None})["us_ca_ag"]
    assert waiting.status is Status.NOT_STARTED and "not every affected resident of US-CA" in waiting.reason


def test_new_york_credit_bureaus_above_5000() -> None:
    facts = DeadlineFacts(discovered=at("2026-11-05T09:30Z"))
    assert (
        compute(facts, {"US-NY": 5000}, "2026-11-06T00:00Z")["us_ny_credit_bureaus"].status
        is Status.NOT_APPLICABLE
    )
    bureaus = compute(facts, {"US-NY": 5001}, "2026-11-06T00:00Z")["us_ny_credit_bureaus"]
    # 2026-11-05 09:30 UTC = 04:30 EST; + 30 days = 2026-12-05 04:30 EST = 09:30 UTC.
    assert bureaus.status is Status.DUE and bureaus.due == at("2026-12-05T09:30Z")


def test_hipaa_media_needs_more_than_500_in_one_state() -> None:
    facts = DeadlineFacts(discovered=at("2026-11-05T09:30Z"), categories=frozenset({"health_data", "name"}))
    one_state = compute(facts, {"US-TX": 501}, "2026-11-06T00:00Z")
    assert one_state["us_hipaa_media"].applies
    split = compute(facts, {"US-TX": 300, "US-CA": 300}, "2026-11-06T00:00Z")
    media = split["us_hipaa_media"]
    assert (
        not media.applies
        and media.threshold == "more than 500 residents of one jurisdiction (most: 300 in US-TX)"
    )
    assert split["us_hipaa_hhs"].applies and split["us_hipaa_hhs"].threshold == "at least 500 residents (600)"
    # Without health data, HIPAA is not in play at all.
    plain = compute(DeadlineFacts(discovered=at("2026-11-05T09:30Z")), {"US-TX": 501}, "2026-11-06T00:00Z")
    assert plain["us_hipaa_media"].reason == "only when data_categories include health_data"


def test_ftc_safeguards_only_when_the_incident_declares_it() -> None:
    plain = DeadlineFacts(discovered=at("2026-11-05T09:30Z"))
    assert (
        compute(plain, {"US-TX": 900}, "2026-11-06T00:00Z")["us_ftc_safeguards"].status
        is Status.NOT_APPLICABLE
    )
    declared = DeadlineFacts(discovered=at("2026-11-05T09:30Z"), regimes=frozenset({"ftc_safeguards"}))
    assert compute(declared, {"US-TX": 900}, "2026-11-06T00:00Z")["us_ftc_safeguards"].status is Status.DUE


# --- Russia, done, overdue, earliest per recipient ------------------------------------------------------


def test_russia_24_and_72_hours_a_filing_and_the_earliest_per_recipient() -> None:
    # Detected 2026-11-05 12:00 MSK = 09:00 UTC: 24 h = 2026-11-06 09:00 UTC, 72 h = 2026-11-08 09:00 UTC.
    facts = DeadlineFacts(discovered=at("2026-11-05T12:00:00+03:00"))
    found = compute(facts, {"RU": 10}, "2026-11-05T15:00Z")
    assert found["ru_rkn_24h"].due == at("2026-11-06T09:00Z") and found["ru_rkn_72h"].due == at(
        "2026-11-08T09:00Z"
    )
    first = {o.recipient: o.rule_id for o in earliest_per_recipient(found.values())}
    assert first["Roskomnadzor"] == "ru_rkn_24h"
    # Filed at 2026-11-06 08:00 UTC: done, an hour to spare; the 72 h report is the next one due.
    filed = DeadlineFacts(
        discovered=facts.discovered, filings=(Filing("ru_rkn_24h", at("2026-11-06T08:00Z"), "RKN-2026-1"),)
    )
    found = compute(filed, {"RU": 10}, "2026-11-07T00:00Z")
    done = found["ru_rkn_24h"]
    assert (
        done.status is Status.DONE and done.reference == "RKN-2026-1" and done.remaining == timedelta(hours=1)
    )
    assert {o.recipient: o.rule_id for o in earliest_per_recipient(found.values())}[
        "Roskomnadzor"
    ] == "ru_rkn_72h"
    # A filing after the due time is done late.
    late = DeadlineFacts(
        discovered=facts.discovered, filings=(Filing("ru_rkn_24h", at("2026-11-06T11:30Z")),)
    )
    assert compute(late, {"RU": 10}, "2026-11-07T00:00Z")["ru_rkn_24h"].countdown == "done 2h 30m late"


def test_overdue_shows_negative_remaining() -> None:
    # Due 2026-11-06 09:00 UTC; at 2026-11-06 15:00 UTC it is 6 h overdue.
    found = compute(DeadlineFacts(discovered=at("2026-11-05T09:00Z")), {"RU": 1}, "2026-11-06T15:00Z")
    overdue = found["ru_rkn_24h"]
    assert overdue.status is Status.OVERDUE and overdue.remaining == -timedelta(hours=6)
    assert overdue.countdown == "overdue by 6h"


def test_earliest_deadline_per_recipient_picks_the_first_due() -> None:
    # A telecom provider with UK customers: ICO within 24 h (PECR) and 72 h (UK GDPR): 24 h wins.
    # Californians' health data: individuals within 30 days (California) and 60 (HIPAA): California wins.
    facts = DeadlineFacts(
        discovered=at("2026-11-05T09:30Z"),
        regimes=frozenset({"uk_pecr"}),
        categories=frozenset({"health_data"}),
    )
    found = compute(facts, {"GB": 5, "US-CA": 5}, "2026-11-05T10:00Z")
    first = {o.recipient: o.rule_id for o in earliest_per_recipient(found.values())}
    assert first["ICO"] == "uk_pecr_ico"
    assert first["individuals"] == "us_ca_residents"
    assert found["us_hipaa_individuals"].applies and found["uk_individuals"].applies


def test_a_clock_without_its_event_has_not_started_unless_it_has_a_fallback() -> None:
    # Singapore counts from the determination: not recorded, not started. Florida counts from discovery
    # meanwhile: 2026-11-05 09:30 UTC = 04:30 EST + 30 days = 2026-12-05 09:30 UTC.
    found = compute(
        DeadlineFacts(discovered=at("2026-11-05T09:30Z")), {"SG": 5, "US-FL": 5}, "2026-11-06T00:00Z"
    )
    assert found["sg_pdpc"].status is Status.NOT_STARTED
    assert found["sg_pdpc"].reason == "clock starts at determined: determined_at is not recorded"
    florida = found["us_fl_residents"]
    assert florida.clock == "discovered" and florida.due == at("2026-12-05T09:30Z")
    assert "until determined_at is recorded" in florida.reason


# --- The rules as data -----------------------------------------------------------------------------------


def _rule_table(rule_id: str, **changes: Any) -> dict[str, Any]:
    import tomllib

    table = dict(tomllib.loads((TEMPLATES / "deadlines.toml").read_text(encoding="utf-8"))["rules"][rule_id])
    table.update(changes)
    return table


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clock": "breakfast"}, "rule 'bad': clock 'breakfast' is not one of occurred, discovered"),
        ({"duration": "3 weeks"}, "rule 'bad': duration '3 weeks': expected"),
        ({"time_zone": "Mars/Olympus"}, "rule 'bad': time_zone 'Mars/Olympus' is not an IANA time zone"),
        ({"when_categories": ["dna"]}, "rule 'bad': when_categories: unknown data categories ['dna']"),
        ({"threshold": "lots"}, "rule 'bad': threshold 'lots'"),
        ({"deadline": "soon"}, "rule 'bad': unknown key 'deadline'"),
        ({"holidays": ["2026-11-10"]}, "rule 'bad': holidays only count for a duration in business days"),
        ({"done_when": "sent"}, "rule 'bad': done_when 'sent' is not one of"),
    ],
)
def test_bad_rule_data_is_an_input_error_naming_the_rule_and_key(
    change: dict[str, Any], message: str
) -> None:
    categories = load_content(TEMPLATES).categories
    good = {
        "rules": {"good": _rule_table("us_ca_residents"), "bad": _rule_table("us_ca_residents", **change)}
    }
    with pytest.raises(InputError) as refused:
        parse_rules(good, categories=categories)
    assert message in str(refused.value)
    assert "'good'" not in str(refused.value)
    parse_rules({"rules": {"good": _rule_table("us_ca_residents")}}, categories=categories)  # the control


def test_the_docs_carry_the_rule_table_as_the_data_says() -> None:
    docs = (PROJECT_ROOT / "docs" / "incidents.md").read_text(encoding="utf-8")
    assert rules_markdown(RULES) in docs


# --- Incident facts ------------------------------------------------------------------------------------


def test_the_new_incident_facts_are_parsed_and_checked_by_field() -> None:
    facts = incident_facts(
        determined_at="2026-11-06T12:00:00+00:00",
        law_enforcement_delay=True,
        law_enforcement_hold={"from": "2026-11-06T00:00:00+00:00", "until": "2026-11-10T00:00:00+00:00"},
        regimes=["ftc_safeguards"],
        filings=[{"obligation": "ru_rkn_24h", "at": "2026-11-06T08:00:00+00:00", "reference": "RKN-1"}],
    )
    incident = parse_incident(facts, TEMPLATES)
    assert incident.determined_at == at("2026-11-06T12:00Z")
    assert incident.law_enforcement_hold == LawEnforcementHold(
        at("2026-11-06T00:00Z"), at("2026-11-10T00:00Z")
    )
    assert incident.regimes == ("ftc_safeguards",)
    assert incident.filings == (Filing("ru_rkn_24h", at("2026-11-06T08:00Z"), "RKN-1"),)
    wrong = incident_facts(
        determined_at="2026-11-06T12:00:00",
        law_enforcement_hold={"from": "2026-11-10T00:00:00+00:00", "until": "2026-11-06T00:00:00+00:00"},
        regimes=["hipaa_lite"],
        filings=[{"obligation": "ru_rkn_12h", "at": "yesterday"}],
    )
    with pytest.raises(InputError) as refused:
        parse_incident(wrong, TEMPLATES)
    message = str(refused.value)
    for problem in (
        "determined_at '2026-11-06T12:00:00' needs a UTC offset",
        "law_enforcement_hold.until is before law_enforcement_hold.from",
        "law_enforcement_hold is recorded but law_enforcement_delay is not true",
        "unknown regimes ['hipaa_lite']",
        "filings[0].obligation 'ru_rkn_12h' is not a rule of templates/deadlines.toml",
        "filings[0].at 'yesterday' is not an ISO-8601 date-time",
    ):
        assert problem in message, problem


def test_every_sample_incident_still_parses() -> None:
    for path in sorted((TEMPLATES / "samples").glob("*.json")):
        parse_incident(json.loads(path.read_text(encoding="utf-8")), TEMPLATES)


def test_recording_filings_and_the_determination_leaves_every_approval_hash_alone(
    store: Store, settings: Settings
) -> None:
    create_incident(store, settings, incident_facts(), actor="comms@example.com")
    before = incident_by_key(store, settings, KEY)
    selected = pieces(settings, before)
    hashes = {p: content_hash(settings.templates_dir, settings.locales_dir, before, p) for p in selected}
    facts = incident_facts(
        determined_at="2026-11-06T12:00:00+00:00",
        regimes=["ftc_safeguards"],
        filings=[{"obligation": "ru_rkn_24h", "at": "2026-11-06T08:00:00+00:00", "reference": "RKN-1"}],
    )
    edit = edit_incident(store, settings, KEY, facts, actor="comms@example.com", comment="RKN filed")
    assert edit.changed_fields == ["determined_at", "filings", "regimes"] and edit.changed_pieces == []
    after = incident_by_key(store, settings, KEY)
    assert (
        after.filings
        and {p: content_hash(settings.templates_dir, settings.locales_dir, after, p) for p in selected}
        == hashes
    )
    # The control: a fact a notice prints does change them.
    assert (
        content_hash(
            settings.templates_dir,
            settings.locales_dir,
            parse_incident(dict(facts, law_enforcement_delay=True), settings.templates_dir),
            selected[0],
        )
        != hashes[selected[0]]
    )


# --- The store and the command line -----------------------------------------------------------------------


def _californians(n: int, start: int = 100) -> list[dict[str, str]]:
    return [
        customer(i, locale="en_US", time_zone="America/Los_Angeles", country="US", region="CA", phone="")
        for i in range(start, start + n)
    ]


def test_the_store_counts_residents_and_knows_when_they_were_all_notified(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path
) -> None:
    rows = [*_californians(3), customer(2)]  # customer(2) is in the US without a state: jurisdiction "US"
    # Discovered yesterday, whenever the suite runs: the launch below (now, by the wall clock) is in time.
    discovered = utcnow() - timedelta(days=1)
    facts = incident_facts(discovered_at=discovered.isoformat())
    facts["occurred"] = {"kind": "exact", "start": (discovered - timedelta(days=1)).isoformat()}
    planned_campaign(store, settings, tmp_path, rows, facts=facts)
    now = discovered + timedelta(hours=12)
    report = deadline_report(store, settings, KEY, now)
    assert report.residents == {"US-CA": 3, "US": 1}
    assert report.notified == {"US-CA": None, "US": None}  # planned, nothing sent yet
    assert {o.rule_id: o.status for o in report.obligations}["us_ca_residents"] is Status.DUE
    launch(store, settings, "test-campaign", actor="ops")
    report = deadline_report(store, settings, KEY, now)
    sent = report.notified["US-CA"]
    assert sent is not None and smtp.received and sent.tzinfo is not None
    ca = {o.rule_id: o for o in report.obligations}["us_ca_residents"]
    assert ca.status is Status.DONE and ca.done_at == sent


def test_the_deadlines_command_prints_the_table(
    store: Store, db_url: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned_campaign(store, settings, tmp_path, [*_californians(2), customer(3)])  # customer(3) is in Russia
    monkeypatch.setattr(console, "width", 300)  # one line per cell line: the assertions read whole phrases
    runner = CliRunner()
    sign_in(store, monkeypatch, "viewer")
    result = runner.invoke(app, ["incident", "deadlines", KEY, "--database-url", db_url])
    assert result.exit_code == 0, result.output
    text = result.output
    # Discovered 2026-11-05 09:30 UTC. Russia: 24 h, 2026-11-06 09:30 UTC, past by now (the suite runs
    # later than that). California: 30 days in Los Angeles = 2026-12-05 01:30 PST = 09:30 UTC.
    assert "ru_rkn_24h" in text and "2026-11-06 09:30" in text and "overdue by" in text
    assert "us_ca_residents" in text and "2026-12-05 09:30" in text and "2026-12-05 01:30 PST" in text
    assert "us_ca_ag" in text and "below the threshold: more than 500 residents (2)" in text
    assert "affected customers: RU 1, US-CA 2" in text
    as_json = runner.invoke(app, ["incident", "deadlines", KEY, "--database-url", db_url, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    by_rule = {o["rule"]: o for o in json.loads(as_json.output)}
    assert (
        by_rule["us_ca_residents"]["due"] == "2026-12-05T09:30:00+00:00"
        and by_rule["eu_sa"]["applies"] is False
    )
    unknown = runner.invoke(app, ["incident", "deadlines", "no-such-incident", "--database-url", db_url])
    assert unknown.exit_code == 1 and "no incident 'no-such-incident'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
