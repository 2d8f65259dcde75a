"""A store the size of a real breach, for the look-up and report benchmarks: N customers (1,000,000 at full
scale), one running campaign with N manifest rows and an email and an SMS outbox row for nearly every one
(about 2N), the delivery events a sender and the tracking service write (claimed → sending → accepted, then
delivered, bounced, undelivered, failed, retried, uncertain), the status callbacks and bounces that came back
(``events``), some replies and opt-outs.

The schema comes from the migrations; the incident and its approvals from the product
(``create_incident``, ``approve``), so every sent row carries the content hash legal approved for its
language and jurisdiction; the campaign row from ``insert_campaign``. The bulk rows are written with
``INSERT … SELECT`` in the database (generated numbers on SQLite with a recursive CTE, ``generate_series``
on PostgreSQL), with foreign keys and CHECK constraints enforced as they are for the product: this is a
fixture, not the way the product plans a campaign (``plan_campaign`` at a million takes far longer).

Who has what is decided by ``i * 7919 % 1000`` (a permutation of the residues, so it does not follow the
locale, which is ``i % 3``); what happened to each message by ``manifest id * 104729 % 1000``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, func, select, text, update

from bench.e2e import INCIDENT, database
from notifier.config import PROJECT_ROOT, Settings
from notifier.models import CampaignState, Channel, ChannelPolicy, DeliveryPolicy, OutboxState
from notifier.notices.approval import approve, pieces
from notifier.notices.incidents import parse_incident
from notifier.notices.records import create_incident
from notifier.sending import tokens
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.schema import (
    approvals,
    campaigns,
    customers,
    delivery_events,
    events,
    manifest,
    outbox,
    replies,
)

__all__ = ["BigStore", "BigStores", "build"]

CAMPAIGN = "bench-breach-notice"
T0 = "2026-11-28 10:00:00"  # the campaign's launch (UTC): every time in the fixture is an offset from it
LAUNCHED = datetime.fromisoformat(T0).replace(tzinfo=UTC)
LOCALES = (  # by i % 3: (locale, notice language, time zone, country, region, jurisdiction, profile)
    ("en_US", "America/New_York", "US", "CA", "US-CA", "us_ca"),
    ("ru_RU", "Europe/Moscow", "RU", None, "RU", "ru"),
    ("vi_VN", "Asia/Ho_Chi_Minh", "VN", None, "VN", "vn"),
)
# Contacts by r = i * 7919 % 1000: [0, 3) SMS only (no email), [3, 8) email only (no phone), [8, 10) neither,
# [10, 13) email only (opted out of SMS), [20, 22) replied to the SMS, the rest both.
PER_SECOND = {"email": 1000, "sms": 200}  # send pace: row m is handed over at T0 + m / pace seconds


@dataclass(frozen=True, slots=True)
class Step:
    before: OutboxState
    after: OutboxState
    offset: int  # seconds after the row's hand-over
    detail: str | None = None  # None: the provider's message id, as record_outcomes writes it


@dataclass(frozen=True, slots=True)
class Fate:
    """What happened to the outbox rows of one channel whose ``manifest id * 104729 % 1000`` is in
    [low, high): their final state, the state changes that led there, what came back."""

    low: int
    high: int
    state: OutboxState
    steps: tuple[Step, ...]
    error: str | None = None  # outbox.last_error
    reports: tuple[tuple[str, str | None, int], ...] = ()  # events: (kind, reason, offset)

    @property
    def handed_over(self) -> bool:
        return bool(self.steps)

    @property
    def attempts(self) -> int:
        return sum(1 for s in self.steps if s.after is OutboxState.SENDING)


S = OutboxState
_SEND = Step(S.CLAIMED, S.SENDING, 0, "handed to the provider (lease bench)")
_ACCEPT = Step(S.SENDING, S.ACCEPTED, 1)
_RETRY = (
    _SEND,
    Step(S.SENDING, S.DEFERRED, 1, "421 4.7.0 try again later"),
    Step(S.CLAIMED, S.SENDING, 300, "handed to the provider (lease bench)"),
    Step(S.SENDING, S.ACCEPTED, 301),
)
FATES: dict[str, tuple[Fate, ...]] = {
    "email": (
        Fate(0, 880, S.ACCEPTED, (_SEND, _ACCEPT)),
        Fate(
            880,
            930,
            S.BOUNCED,
            (_SEND, _ACCEPT, Step(S.ACCEPTED, S.BOUNCED, 90, "bounce 5.1.1: mailbox unknown")),
            "bounce 5.1.1: mailbox unknown",
            (("bounced", "5.1.1", 90),),
        ),
        Fate(
            930,
            940,
            S.FAILED,
            (_SEND, Step(S.SENDING, S.FAILED, 1, "550 5.7.1 message refused")),
            "550 5.7.1 message refused",
        ),
        Fate(940, 960, S.ACCEPTED, _RETRY),
        Fate(
            960, 970, S.UNCERTAIN, (_SEND, Step(S.SENDING, S.UNCERTAIN, 120, "lease expired while sending"))
        ),
        Fate(
            970,
            985,
            S.DEFERRED,
            (_SEND, Step(S.SENDING, S.DEFERRED, 1, "421 4.7.0 try again later")),
            "421 4.7.0 try again later",
        ),
        Fate(985, 1000, S.PENDING, ()),
    ),
    "sms": (
        Fate(
            0,
            800,
            S.DELIVERED,
            (_SEND, _ACCEPT, Step(S.ACCEPTED, S.DELIVERED, 6, "delivered")),
            None,
            (("sent", None, 2), ("delivered", None, 6)),
        ),
        Fate(
            800,
            850,
            S.UNDELIVERED,
            (_SEND, _ACCEPT, Step(S.ACCEPTED, S.UNDELIVERED, 9, "Twilio 30003: unreachable handset")),
            "Twilio 30003: unreachable handset",
            (("sent", None, 2), ("undelivered", "30003", 9)),
        ),
        Fate(
            850,
            870,
            S.FAILED,
            (_SEND, Step(S.SENDING, S.FAILED, 1, "Twilio 21610: recipient unsubscribed")),
            "Twilio 21610: recipient unsubscribed",
        ),
        Fate(870, 950, S.ACCEPTED, (_SEND, _ACCEPT), None, (("sent", None, 2),)),
        Fate(
            950,
            970,
            S.DELIVERED,
            (*_RETRY, Step(S.ACCEPTED, S.DELIVERED, 306, "delivered")),
            None,
            (("sent", None, 302), ("delivered", None, 306)),
        ),
        Fate(970, 985, S.PENDING, ()),
        Fate(
            985, 995, S.UNCERTAIN, (_SEND, Step(S.SENDING, S.UNCERTAIN, 120, "lease expired while sending"))
        ),
        Fate(995, 1000, S.ACCEPTED, (_SEND, _ACCEPT)),
    ),
}


@dataclass(frozen=True, slots=True)
class BigStore:
    url: str
    kind: str  # sqlite or postgresql
    campaign: str
    customers: int
    rows: dict[str, int]  # table → rows
    no_channel: int  # manifest rows without any outbox row (one CSV line each)
    build_seconds: float | None  # None when copied from the cache


class _Dialect:
    """The few SQL fragments that differ between SQLite and PostgreSQL."""

    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def numbers(self, n: int) -> tuple[str, str]:
        """(a WITH clause to put before the INSERT, a FROM item with column ``i`` = 1..n)."""
        if self.pg:
            return "", f"generate_series(1::bigint, {n}) AS nums(i)"
        return f"WITH RECURSIVE nums(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM nums WHERE i < {n})", "nums"

    def at(self, seconds: str) -> str:
        """T0 + ``seconds`` (an integer SQL expression), as the store keeps a UTC timestamp."""
        if self.pg:
            return f"(TIMESTAMPTZ '{T0}+00' + ({seconds}) * INTERVAL '1 second')"
        # SQLAlchemy's SQLite DateTime: text 'YYYY-MM-DD HH:MM:SS.ffffff', UTC.
        return f"(strftime('%Y-%m-%d %H:%M:%S', '{T0}', ({seconds}) || ' seconds') || '.000000')"


def _quote(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _case(expr: str, mapping: Mapping[str, str | None]) -> str:
    whens = " ".join(f"WHEN {_quote(k)} THEN {_quote(v)}" for k, v in mapping.items())
    return f"CASE {expr} {whens} END"


def _customers_sql(d: _Dialect, n: int) -> str:
    prefix, source = d.numbers(n)

    def by_locale(position: int) -> str:
        return (
            "CASE i % 3 "
            + " ".join(f"WHEN {k} THEN {_quote(v[position])}" for k, v in enumerate(LOCALES))
            + " END"
        )

    phone = (  # valid mobile numbers (phonenumbers), unique: US 415-2xx-xxxx, RU 916-xxx-xxxx, VN 91-xxx-xxxx
        "CASE i % 3 WHEN 0 THEN '+1415' || (2000000 + i) WHEN 1 THEN '+7916' || (1000000 + i) "
        "ELSE '+8491' || (1000000 + i) END"
    )
    return f"""
    {prefix}
    INSERT INTO customers (id, external_id, name, email, email_problem, phone, phone_is_mobile, phone_problem,
        locale, time_zone, country, region, jurisdiction, email_opt_out, sms_opt_out, created_at, updated_at)
    SELECT i, 'CUST-' || i, 'Customer ' || i,
        CASE WHEN r < 3 OR r BETWEEN 8 AND 9 THEN NULL ELSE 'c' || i || '@example.com' END,
        CASE WHEN r < 2 THEN 'invalid email: The domain name example..com is not valid.' END,
        CASE WHEN r BETWEEN 3 AND 9 THEN NULL ELSE {phone} END,
        CASE WHEN r BETWEEN 3 AND 9 THEN false ELSE true END,
        CASE WHEN r BETWEEN 3 AND 5 THEN 'invalid phone: not a valid number for its country' END,
        {by_locale(0)}, {by_locale(1)}, {by_locale(2)}, {by_locale(3)}, {by_locale(4)},
        false, CASE WHEN r BETWEEN 10 AND 12 THEN true ELSE false END,
        {d.at("-30 * 86400")}, {d.at("-30 * 86400")}
    FROM (SELECT i, i * 7919 % 1000 AS r FROM {source}) AS g
    """


def _manifest_sql(d: _Dialect, campaign_id: int) -> str:
    return f"""
    INSERT INTO manifest (id, campaign_id, external_id, customer_id, name, email, email_key, phone, locale,
        notice_locale, time_zone, jurisdiction, channel_plan, email_reason, sms_reason, created_at)
    SELECT c.id, {campaign_id}, c.external_id, c.id, c.name, c.email, lower(c.email), c.phone, c.locale,
        substr(c.locale, 1, 2), c.time_zone, c.jurisdiction,
        CASE WHEN c.email IS NOT NULL AND c.phone IS NOT NULL AND NOT c.sms_opt_out THEN 'both'
             WHEN c.email IS NOT NULL THEN 'email'
             WHEN c.phone IS NOT NULL AND NOT c.sms_opt_out THEN 'sms'
             ELSE 'none' END,
        CASE WHEN c.email IS NULL THEN
            CASE WHEN c.email_problem IS NOT NULL THEN 'invalid_email' ELSE 'no_email' END END,
        CASE WHEN c.phone IS NULL THEN
                 CASE WHEN c.phone_problem IS NOT NULL THEN 'invalid_phone' ELSE 'no_phone' END
             WHEN c.sms_opt_out THEN 'sms_opted_out' END,
        {d.at("-3600")}
    FROM customers c
    ORDER BY c.id
    """


def _fate_of(alias: str) -> str:
    return f"({alias}.manifest_id * 104729 % 1000)"


def _outbox_sql(d: _Dialect, campaign_id: int, channel: str, fate: Fate, hashes: dict[str, str]) -> str:
    plans = "('email', 'both')" if channel == "email" else "('sms', 'both')"
    sent = f"m.id / {PER_SECOND[channel]}"
    last = fate.steps[-1].offset if fate.steps else 0
    handed = fate.handed_over
    token = f"'c{campaign_id}m' || m.id || '{channel[0]}'"
    provider_id = (
        f"'<' || {token} || '@notices.example.com>'" if channel == "email" else "'SM' || (7000000000 + m.id)"
    )
    accepted = any(s.after is S.ACCEPTED for s in fate.steps)
    return f"""
    INSERT INTO outbox (id, campaign_id, manifest_id, channel, state, attempts, lease_token, lease_expires_at,
        next_attempt_at, first_attempt_at, message_token, provider_message_id, last_error, content_hash,
        updated_at)
    SELECT 2 * m.id - {1 if channel == "email" else 0}, {campaign_id}, m.id, '{channel}',
        '{fate.state.value}', {fate.attempts}, NULL, NULL,
        {d.at(f"{sent} + 3600") if fate.state is S.DEFERRED else "NULL"},
        {d.at(sent) if handed else "NULL"},
        {token},
        {provider_id if accepted else "NULL"},
        {_quote(fate.error)},
        {_case("m.notice_locale", hashes) if handed else "NULL"},
        {d.at(f"{sent} + {last}")}
    FROM manifest m
    WHERE m.campaign_id = {campaign_id} AND m.channel_plan IN {plans}
        AND m.id * 104729 % 1000 >= {fate.low} AND m.id * 104729 % 1000 < {fate.high}
    """


def _rows_of(campaign_id: int, channel: str, fate: Fate) -> str:
    return (
        f"o.campaign_id = {campaign_id} AND o.channel = '{channel}' AND o.state = '{fate.state.value}'"
        f" AND {_fate_of('o')} >= {fate.low} AND {_fate_of('o')} < {fate.high}"
    )


def _delivery_events_sql(d: _Dialect, campaign_id: int, channel: str, fate: Fate, step: Step) -> str:
    sent = f"o.manifest_id / {PER_SECOND[channel]}"
    detail = _quote(step.detail) if step.detail is not None else "o.provider_message_id"
    return f"""
    INSERT INTO delivery_events (outbox_id, at, from_state, to_state, detail)
    SELECT o.id, {d.at(f"{sent} + {step.offset}")}, '{step.before.value}', '{step.after.value}', {detail}
    FROM outbox o
    WHERE {_rows_of(campaign_id, channel, fate)}
    ORDER BY o.id
    """


def _events_sql(
    d: _Dialect, campaign_id: int, channel: str, fate: Fate, report: tuple[str, str | None, int]
) -> str:
    kind, reason, offset = report
    sent = f"o.manifest_id / {PER_SECOND[channel]}"
    if channel == "sms":
        provider, contact = "twilio", "m.phone"
        fields = f'"MessageStatus": "{kind}"' + (f', "ErrorCode": "{reason}"' if reason else "")
        payload = '\'{"MessageSid": "\' || o.provider_message_id || ' + _quote(f'", {fields}}}')
    else:
        provider, contact = "smtp", "m.email"
        payload = (
            "'Reporting-MTA: dns; mx.example.com\nFinal-Recipient: rfc822; ' || m.email || "
            f"'\nAction: failed\nStatus: {reason}\nDiagnostic-Code: smtp; 550 {reason} mailbox unknown'"
        )
    return f"""
    INSERT INTO events (kind, channel, provider, received_at, provider_at, reason, customer_id, campaign_id,
        outbox_id, provider_message_id, contact, payload)
    SELECT '{kind}', '{channel}', '{provider}', {d.at(f"{sent} + {offset}")}, NULL, {_quote(reason)},
        m.customer_id, o.campaign_id, o.id, o.provider_message_id, {contact}, {payload}
    FROM outbox o JOIN manifest m ON m.id = o.manifest_id
    WHERE {_rows_of(campaign_id, channel, fate)}
    ORDER BY o.id
    """


def _customer_events_sql(d: _Dialect, campaign_id: int) -> list[str]:
    """Replies to the SMS (0.2 % of customers) with their support-queue rows, and the opt-outs by STOP that
    came before the campaign (the customers who have ``sms_opt_out``)."""
    replied = f"""
    INSERT INTO events (kind, channel, provider, received_at, reason, customer_id, campaign_id, outbox_id,
        provider_message_id, contact, payload)
    SELECT 'replied', 'sms', 'twilio', {d.at("m.id / 200 + 1800")}, NULL, m.customer_id, {campaign_id},
        2 * m.id, 'SMreply' || m.id, m.phone,
        '{{"From": "' || m.phone || '", "Body": "Was my card number in the leak?"}}'
    FROM manifest m
    WHERE m.campaign_id = {campaign_id} AND m.channel_plan = 'both' AND m.id * 7919 % 1000 BETWEEN 20 AND 21
    ORDER BY m.id
    """
    queued = """
    INSERT INTO replies (event_id, channel, contact, customer_id, campaign_id, outbox_id, locale, received_at,
        subject, body, status, assignee, note, updated_at, updated_by)
    SELECT e.id, 'sms', e.contact, e.customer_id, e.campaign_id, e.outbox_id, m.notice_locale, e.received_at,
        NULL, 'Was my card number in the leak?', CASE WHEN e.id % 3 = 0 THEN 'answered' ELSE 'open' END,
        CASE WHEN e.id % 3 = 0 THEN 'agent@example.com' END, NULL, e.received_at, NULL
    FROM events e JOIN manifest m ON m.customer_id = e.customer_id
    WHERE e.kind = 'replied'
    ORDER BY e.id
    """
    opted_out = f"""
    INSERT INTO events (kind, channel, provider, received_at, reason, customer_id, campaign_id, outbox_id,
        provider_message_id, contact, payload)
    SELECT 'opted_out', 'sms', 'twilio', {d.at("-7 * 86400")}, 'STOP', c.id, NULL, NULL, 'SMstop' || c.id,
        c.phone, '{{"From": "' || c.phone || '", "Body": "STOP"}}'
    FROM customers c
    WHERE c.sms_opt_out
    ORDER BY c.id
    """
    return [replied, queued, opted_out]


def _incident_and_campaign(store: Store, url: str) -> tuple[int, dict[str, dict[str, str]]]:
    """The demo incident and legal's approval of every piece, through the product; the campaign row
    through its query. Returns (campaign id, channel → notice language → approved content hash)."""
    settings = Settings(database_url=url)
    facts = json.loads(INCIDENT.read_text(encoding="utf-8"))
    create_incident(store, settings, facts, actor="bench-editor")
    incident = parse_incident(facts, settings.templates_dir)
    approve(
        store,
        settings,
        incident,
        pieces(settings, incident),
        approver="bench-legal",
        role="legal",
        comment="bench",
    )
    profile_of = {locale[:2]: profile for locale, *_rest, profile in LOCALES}
    with store.begin() as conn:
        found = conn.execute(
            select(
                approvals.c.locale, approvals.c.channel, approvals.c.profile, approvals.c.content_hash
            ).where(approvals.c.incident_key == facts["key"], approvals.c.decision == "approved")
        ).all()
        hashes: dict[str, dict[str, str]] = {"email": {}, "sms": {}}
        for locale, channel, profile, content_hash in found:
            if profile_of.get(locale) == profile:
                hashes[channel][locale] = content_hash
        incident_row = q.incident_by_key(conn, facts["key"])
        assert incident_row is not None
        campaign_id = q.insert_campaign(
            conn,
            name=CAMPAIGN,
            incident_id=incident_row.id,
            notice="breach_notice",
            state=CampaignState.RUNNING.value,
            channels=",".join(sorted(c.value for c in Channel)),
            policy=ChannelPolicy.ALL.value,
            selection={
                "ids_file": "affected.txt",
                "query": None,
                "source_url": None,
                "not_reached_in": None,
                "only": [],
            },
            settings={**DeliveryPolicy().as_json(), "bounce_key": tokens.new_key()},
            created_at=LAUNCHED - timedelta(hours=1),
            created_by="bench",
        )
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(planned_at=LAUNCHED - timedelta(hours=1), launched_at=LAUNCHED)
        )
    return campaign_id, hashes


def _count(conn: Connection, table: object) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _summary(store: Store, kind: str, customers_count: int, build_seconds: float | None) -> BigStore:
    with store.connect() as conn:
        rows = {
            t.name: _count(conn, t) for t in (customers, manifest, outbox, delivery_events, events, replies)
        }
        # By the unique (campaign_id, manifest_id, channel) index: no outbox index leads with manifest_id.
        no_channel = int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM manifest m WHERE NOT EXISTS (SELECT 1 FROM outbox o "
                "WHERE o.campaign_id = m.campaign_id AND o.manifest_id = m.id)"
            ).scalar_one()
        )
    return BigStore(store.url, kind, CAMPAIGN, customers_count, rows, no_channel, build_seconds)


def build(url: str, kind: str, n: int, log: Callable[[str], None]) -> BigStore:
    """Fill the migrated, empty store at ``url`` with ``n`` customers and the campaign; returns a summary."""
    began = time.perf_counter()
    store = Store(url)
    campaign_id, hashes = _incident_and_campaign(store, url)
    d = _Dialect("postgresql" if kind == "postgresql" else "sqlite")
    statements: list[tuple[str, str]] = [
        ("customers", _customers_sql(d, n)),
        ("manifest", _manifest_sql(d, campaign_id)),
    ]
    for channel, fates in FATES.items():
        for fate in fates:
            statements.append(
                (
                    f"outbox {channel} {fate.state}",
                    _outbox_sql(d, campaign_id, channel, fate, hashes[channel]),
                )
            )
    for channel, fates in FATES.items():
        for fate in fates:
            for step in fate.steps:
                statements.append(
                    (
                        f"delivery events {channel} {step.before}→{step.after}",
                        _delivery_events_sql(d, campaign_id, channel, fate, step),
                    )
                )
            for report in fate.reports:
                statements.append(
                    (f"events {channel} {report[0]}", _events_sql(d, campaign_id, channel, fate, report))
                )
    statements += [
        (f"customer events {i}", sql) for i, sql in enumerate(_customer_events_sql(d, campaign_id))
    ]
    with store.begin() as conn:
        if not d.pg:
            conn.exec_driver_sql("PRAGMA cache_size = -1000000")  # 1 GB of page cache while the indexes grow
        for what, sql in statements:
            step_began = time.perf_counter()
            inserted = conn.execute(text(sql)).rowcount
            if time.perf_counter() - step_began > 5:
                log(f"  {what}: {inserted} rows in {time.perf_counter() - step_began:.0f} s")
        if d.pg:  # explicit ids: move the sequences past them, as the product's own inserts come next
            for table in ("customers", "manifest", "outbox"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
    if d.pg:  # what autovacuum does on its own a little later; done now so that every run plans alike
        with store.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with store.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds = time.perf_counter() - began
    summary = _summary(store, kind, n, seconds)
    store.dispose()
    return summary


def _cache_key(n: int) -> str:
    """Changes when the migrations or this fixture change: a cached store is never of an older schema."""
    digest = hashlib.sha256(str(n).encode())
    for path in sorted((PROJECT_ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


class BigStores:
    """The big stores of one bench run, built once per (database, size) and shared by the parts that read
    them; PostgreSQL databases are dropped when the run ends. With ``BENCH_STORE_CACHE=DIR`` a SQLite store
    is kept in DIR (keyed by the migrations and this fixture) and copied from there by the next run."""

    def __init__(self, work: Path, stack: ExitStack, log: Callable[[str], None]) -> None:
        self.work, self.stack, self.log = work, stack, log
        self.built: dict[tuple[str, int], BigStore] = {}
        cache = os.environ.get("BENCH_STORE_CACHE")
        self.cache = Path(cache) if cache else None

    def get(self, kind: str, n: int) -> BigStore:
        if (kind, n) not in self.built:
            self.built[(kind, n)] = self._make(kind, n)
        return self.built[(kind, n)]

    def _make(self, kind: str, n: int) -> BigStore:
        cached = self.cache / f"bigstore-{n}-{_cache_key(n)}.db" if self.cache and kind == "sqlite" else None
        if cached is not None and cached.exists():
            target = self.work / f"big-{n}.db"
            shutil.copyfile(cached, target)
            url = f"sqlite:///{target}"
            store = Store(url)
            summary = _summary(store, kind, n, None)
            store.dispose()
            self.log(f"{kind} store with {n:,} customers copied from {cached}")
            return summary
        url = self.stack.enter_context(database(kind, self.work))
        self.log(f"building a {kind} store with {n:,} customers")
        summary = build(url, kind, n, self.log)
        self.log(
            f"{kind} store with {n:,} customers built in {summary.build_seconds:.0f} s: "
            + ", ".join(f"{table} {count:,}" for table, count in summary.rows.items())
            + f"; {summary.no_channel:,} customers with no channel"
        )
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".partial")
            shutil.copyfile(url.removeprefix("sqlite:///"), partial)
            partial.replace(cached)
        return summary
