"""The delivery report support reads, summary first: headline numbers, status by channel, language and
jurisdiction, failure reasons ranked, the timeline and breakdown charts, the customers not reached with
what was tried, fallbacks, opt-outs and replies waiting, and the notification deadlines.

Everything the HTML and JSON show is aggregated by the database, so a million-recipient campaign costs
the same memory as a small one; the per-message detail is the CSV, streamed row by row. Contacts are
masked unless a reveal is asked for, with a reason, and audited."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import InputError
from notifier.models import OutboxState
from notifier.notices.deadlines import incident_deadlines
from notifier.notices.legal_channels import legal_notice_word
from notifier.pages import render_page
from notifier.redact import mask_email, mask_envelope, mask_phone, mask_text
from notifier.reports import charts
from notifier.reports.spreadsheet import spreadsheet_safe
from notifier.sending.campaigns import get_campaign
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.queries.reports import FAILED_STATES
from notifier.store.rows import MessageRow

__all__ = [
    "FORMATS",
    "MESSAGE_COLUMNS",
    "NOT_REACHED_COLUMNS",
    "DeliveryReport",
    "NotReachedLine",
    "Reveal",
    "build_report",
    "not_reached_csv",
    "not_reached_page",
    "report_html",
    "write_delivery_report",
]

FORMATS = ("html", "csv", "json")
NOT_REACHED_IN_HTML = 500  # the rest is in the CSV (filter on reached = no)
MESSAGE_COLUMNS = (
    "external_id",
    "name",
    "jurisdiction",
    "notice_locale",
    "channel_plan",
    "channel",
    "contact",
    "legal_notice",
    "state",
    "reached",
    "attempts",
    "sent_at",
    "delivered_at",
    "fallback",
    "provider_message_id",
    "content_hash",
    "last_error",
    "not_used_reason",
    "updated_at",
)
# How a message's state reads in the summary (one colour each in the charts).
OUTCOME = {
    OutboxState.DELIVERED: "delivered",
    OutboxState.ACCEPTED: "accepted, no report yet",
    OutboxState.NO_RECEIPT: "no receipt",
    OutboxState.UNCERTAIN: "uncertain",
    OutboxState.SUPPRESSED: "suppressed or skipped",
    OutboxState.SKIPPED: "suppressed or skipped",
    **dict.fromkeys(FAILED_STATES, "failed"),
    **dict.fromkeys(OutboxState.remaining(), "in progress"),
    OutboxState.WAITING: "waiting (fallback)",
}
OUTCOME_ORDER = (
    "delivered",
    "accepted, no report yet",
    "in progress",
    "uncertain",
    "no receipt",
    "failed",
    "suppressed or skipped",
    "waiting (fallback)",
)
CUSTOMER_OUTCOMES = ("reached", "in progress", "not reached", "already notified")


@dataclass(frozen=True, slots=True)
class Reveal:
    """Contacts shown in full: who asked and why (both go to the audit log)."""

    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class NotReachedLine:
    external_id: str
    name: str
    jurisdiction: str
    locale: str
    contact: str
    why: str  # no usable channel: the reasons; else what each channel tried ended in
    tried: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    campaign: str
    incident: str
    notice: str
    state: str
    planned_at: datetime | None
    completed_at: datetime | None
    generated_at: datetime
    revealed: bool
    headline: dict[str, int]
    reached_by_channel: dict[str, int]
    by_channel: dict[str, dict[str, int]]  # channel → outcome → messages
    by_jurisdiction: dict[str, dict[str, int]]  # jurisdiction → customer outcome → customers
    breakdown: list[dict[str, Any]]  # channel, state, locale, jurisdiction, count
    reasons: list[dict[str, Any]]
    not_reached: list[NotReachedLine]
    not_reached_total: int
    came_back: dict[str, int]
    timeline: dict[str, dict[datetime, int]]
    bucket_seconds: int
    deadlines: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["timeline"] = {
            name: {f"{moment:%Y-%m-%dT%H:%M:%S}Z": n for moment, n in sorted(points.items())}
            for name, points in self.timeline.items()
        }
        return data


def _contact(row: MessageRow, reveal: bool, *, channel: str | None = "") -> str:
    """Where the message went (a letter: its envelope), masked unless revealed; ``channel`` None: every
    contact the person has."""
    email, phone = row.email, row.phone
    channel = row.channel if channel == "" else channel
    if channel == "letter":
        return (
            " / ".join((row.postal_address or "").splitlines())
            if reveal
            else mask_envelope(row.postal_address)
        )
    if reveal:
        chosen = email if channel == "email" else phone if channel == "sms" else (email or phone)
        return chosen or ""
    if channel == "email":
        return mask_email(email)
    if channel == "sms":
        return mask_phone(phone)
    envelope = mask_envelope(row.postal_address) if row.postal_address else ""
    return " / ".join(c for c in (mask_email(email), mask_phone(phone), envelope) if c)


def _text(value: str | None, reveal: bool) -> str:
    return (value or "") if reveal else mask_text(value)


def _not_reached_line(rows: list[MessageRow], reveal: bool) -> NotReachedLine:
    """One customer not reached, from their rows (one per channel tried, or one with no channel)."""
    first = rows[0]
    tried = tuple(
        f"{r.channel}: {r.state}" + (f" ({_text(r.last_error, reveal)[:160]})" if r.last_error else "")
        for r in rows
        if r.channel is not None
    )
    reasons = " / ".join(
        dict.fromkeys(r for r in (first.email_reason, first.sms_reason, first.letter_reason) if r)
    )
    return NotReachedLine(
        external_id=first.external_id,
        name=first.name,
        jurisdiction=first.jurisdiction or "unknown",
        locale=first.notice_locale,
        contact=_contact(first, reveal, channel=None),
        why=reasons if not tried else "; ".join(t.split(" (")[0] for t in tried),
        tried=tried,
    )


def _not_reached_lines(rows: Iterable[MessageRow], reveal: bool) -> Iterator[NotReachedLine]:
    """The customers not reached, one line each, from rows in customer order (one customer in memory)."""
    for _customer, group in itertools.groupby(rows, key=lambda r: r.external_id):
        yield _not_reached_line(list(group), reveal)


def _timeline(conn: Connection, campaign_id: int) -> tuple[dict[str, dict[datetime, int]], int]:
    series: dict[str, dict[datetime, int]] = {"sent": {}, "delivered": {}, "failed": {}}
    span = q.timeline_span(conn, campaign_id)
    if span is None:
        return series, 60
    bucket = charts.bucket_seconds(*span)
    rows = q.timeline_rows(conn, campaign_id, bucket)
    name_of = {OutboxState.ACCEPTED.value: "sent", OutboxState.DELIVERED.value: "delivered"}
    for row in rows:
        points = series[name_of.get(row.state, "failed")]
        points[row.bucket] = points.get(row.bucket, 0) + row.count
    return series, bucket


def deadline_rows(store: Store, settings: Settings, incident_key: str) -> list[dict[str, Any]]:
    """The incident's notification obligations that apply, due first, as the report shows them."""
    rows = []
    for o in incident_deadlines(store, settings, incident_key, utcnow()):
        if not o.applies:
            continue
        rows.append(
            {
                "obligation": f"{o.regime} ({o.rule_id})" + (" [verify]" if o.verify else ""),
                "recipient": o.recipient,
                "clock": f"{o.clock} {o.clock_start:%Y-%m-%d %H:%M}" if o.clock_start else o.clock,
                "due": f"{o.due:%Y-%m-%d %H:%M}" if o.due else o.duration,
                "remaining": o.countdown,
                "overdue": o.status.value == "overdue",
                "threshold": o.threshold,
                "status": o.status.value,
                "done": f"{o.done_at:%Y-%m-%d %H:%M}" if o.done_at else "",
                "individuals": o.individuals,
            }
        )
    return rows


def build_report(
    store: Store,
    name: str,
    *,
    reveal: bool = False,
    not_reached_limit: int = NOT_REACHED_IN_HTML,
    settings: Settings | None = None,
) -> DeliveryReport:
    """Everything the report shows, read from the store (aggregates; the not-reached list capped), all from
    one snapshot: the numbers add up even while the campaign is still sending."""
    campaign = get_campaign(store, name)
    with store.read_only() as conn:
        headline = q.campaign_headline(conn, campaign.id)
        by_jurisdiction_raw = q.headline_by_jurisdiction(conn, campaign.id)
        outbox = q.outbox_counts(conn, campaign.id)
        breakdown = q.status_breakdown(conn, campaign.id)
        reasons = q.failure_reasons(conn, campaign.id)
        not_reached = list(
            _not_reached_lines(q.not_reached_rows(conn, campaign.id, limit=not_reached_limit), reveal)
        )
        came_back = q.what_came_back(conn, campaign.id)
        incident = q.incident_by_id(conn, campaign.incident_id)
        timeline, bucket = _timeline(conn, campaign.id)
    by_channel: dict[str, dict[str, int]] = {}
    reached_by_channel: dict[str, int] = {}
    reached_states = {s.value for s in OutboxState.reached()}
    for channel, states in sorted(outbox.items()):
        outcomes: dict[str, int] = defaultdict(int)
        for state, n in states.items():
            outcomes[OUTCOME[OutboxState(state)]] += n
        by_channel[channel] = {o: outcomes[o] for o in OUTCOME_ORDER if outcomes.get(o)}
        reached_by_channel[channel] = sum(n for s, n in states.items() if s in reached_states)
    by_jurisdiction = {
        j: {
            "reached": h["reached"],
            "in progress": h["in_progress"],
            "not reached": h["not_reached"],
            "already notified": h["already_notified"],
        }
        for j, h in sorted(by_jurisdiction_raw.items(), key=lambda item: -item[1]["customers"])
    }
    return DeliveryReport(
        campaign=name,
        incident=incident.key,
        notice=campaign.notice,
        state=campaign.state.value,
        planned_at=campaign.planned_at,
        completed_at=campaign.completed_at,
        generated_at=utcnow(),
        revealed=reveal,
        headline=headline,
        reached_by_channel=reached_by_channel,
        by_channel=by_channel,
        by_jurisdiction=by_jurisdiction,
        breakdown=[
            {
                "channel": r.channel or "none",
                "state": r.state or "no usable channel",
                "locale": r.notice_locale,
                "jurisdiction": r.jurisdiction or "unknown",
                "count": r.count,
            }
            for r in sorted(
                breakdown,
                key=lambda r: (r.channel or "~", r.state or "", r.notice_locale, r.jurisdiction or ""),
            )
        ],
        reasons=[
            {
                "channel": r.channel,
                "state": r.state,
                "reason": _text(r.reason, reveal) or "-",
                "count": r.count,
            }
            for r in reasons
        ],
        not_reached=not_reached,
        not_reached_total=headline["not_reached"] + headline["in_progress"],
        came_back=came_back,
        timeline=timeline,
        bucket_seconds=bucket,
        deadlines=deadline_rows(store, settings, incident.key) if settings else [],
    )


def _message_record(row: MessageRow, reveal: bool, reached_states: set[str]) -> dict[str, Any]:
    reason = (
        " / ".join(r for r in (row.email_reason, row.sms_reason, row.letter_reason) if r)
        if row.channel is None
        else ""
    )
    return {
        "external_id": row.external_id,
        "name": row.name,
        "jurisdiction": row.jurisdiction or "",
        "notice_locale": row.notice_locale,
        "channel_plan": row.channel_plan,
        "channel": row.channel or "",
        "contact": _contact(row, reveal),
        "legal_notice": legal_notice_word(row.channel, row.legal_channel, row.legal_gap),
        "state": row.state or "not reached",
        "reached": "yes" if row.state in reached_states else "no",
        "attempts": row.attempts or 0,
        "sent_at": _iso(row.sent_at),
        "delivered_at": _iso(row.delivered_at),
        "fallback": "yes" if row.fallback else "",
        "provider_message_id": row.provider_message_id or "",
        "content_hash": row.content_hash or "",
        "last_error": _text(row.last_error, reveal),
        "not_used_reason": reason,
        "updated_at": _iso(row.updated_at),
    }


def _iso(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z" if moment else ""


def write_messages_csv(store: Store, campaign_id: int, path: Path, *, reveal: bool) -> int:
    """Every (customer, channel) line, streamed from the store to the file: constant memory."""
    reached_states = {s.value for s in OutboxState.reached()}
    written = 0
    with store.connect() as conn, path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MESSAGE_COLUMNS)
        writer.writeheader()
        for row in q.message_rows(conn, campaign_id):
            record = _message_record(row, reveal, reached_states)
            writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
            written += 1
    return written


def chart_svgs(report: DeliveryReport) -> dict[str, str]:
    """The report's charts as inline SVG, by name."""
    svgs = {
        "timeline": charts.timeline_svg(
            report.timeline, bucket=report.bucket_seconds, title="Sent, delivered and failed over time"
        ),
        "channels": charts.stacked_bars_svg(
            list(report.by_channel.items()),
            segments=OUTCOME_ORDER,
            title="Messages by channel and outcome",
            unit="messages",
        ),
    }
    if report.by_jurisdiction:
        svgs["jurisdictions"] = charts.stacked_bars_svg(
            list(report.by_jurisdiction.items())[:15],
            segments=CUSTOMER_OUTCOMES,
            title="Customers by jurisdiction and outcome",
            unit="customers",
        )
    return svgs


def report_html(report: DeliveryReport, csv_name: str | None) -> str:
    """The report as one self-contained HTML page (``csv_name``: the CSV beside it, to link to)."""
    return render_page(
        "delivery.html.j2",
        report=report,
        charts=chart_svgs(report),
        csv_name=csv_name,
        outcome_order=OUTCOME_ORDER,
        customer_outcomes=CUSTOMER_OUTCOMES,
        bucket=charts.bucket_label(report.bucket_seconds),
    )


def write_delivery_report(
    store: Store,
    name: str,
    out_dir: Path,
    *,
    formats: Sequence[str] = ("html", "csv"),
    reveal: Reveal | None = None,
    actor: str = "unknown",
    settings: Settings | None = None,
) -> dict[str, Path]:
    """Write ``<campaign>-delivery.{html,csv,json}`` (the formats asked for) and record in the audit log
    that it was written, and, with ``reveal``, who saw the contacts unmasked and why."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"--format {unknown[0]!r}: use one of {', '.join(FORMATS)}")
    if reveal is not None and not reveal.reason.strip():
        raise InputError("--reveal shows customers' contacts in full: say why with --reason")
    campaign = get_campaign(store, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    shown = reveal is not None
    if "csv" in formats:
        paths["csv"] = out_dir / f"{name}-delivery.csv"
        write_messages_csv(store, campaign.id, paths["csv"], reveal=shown)
    if "html" in formats or "json" in formats:
        report = build_report(store, name, reveal=shown, settings=settings)
        if "json" in formats:
            paths["json"] = out_dir / f"{name}-delivery.json"
            paths["json"].write_text(
                json.dumps(report.as_json(), indent=2, ensure_ascii=False, default=_iso), encoding="utf-8"
            )
        if "html" in formats:
            paths["html"] = out_dir / f"{name}-delivery.html"
            csv_name = f"{name}-delivery.csv" if "csv" in formats else None
            paths["html"].write_text(report_html(report, csv_name), encoding="utf-8")
    with store.begin() as conn:
        q.audit(
            conn,
            actor=reveal.actor if reveal else actor,
            action="contacts.revealed" if reveal else "report.written",
            subject=f"campaign:{name}",
            detail={
                "report": "delivery",
                "formats": sorted(paths),
                **({"reason": reveal.reason} if reveal else {}),
            },
            now=utcnow(),
        )
    return paths


NOT_REACHED_COLUMNS = (
    "external_id",
    "name",
    "jurisdiction",
    "notice_language",
    "contact",
    "why",
    "what_was_tried",
)


def not_reached_page(
    store: Store, name: str, *, page: int, size: int = 100
) -> tuple[list[NotReachedLine], int]:
    """One page of the customers a campaign did not reach (by customer id), and how many there are."""
    campaign = get_campaign(store, name)
    with store.connect() as conn:
        headline = q.campaign_headline(conn, campaign.id)
        rows = q.not_reached_rows(conn, campaign.id, limit=size, offset=page * size)
        lines = list(_not_reached_lines(rows, False))
    return lines, headline["not_reached"] + headline["in_progress"]


def not_reached_csv(store: Store, name: str, *, actor: str) -> Iterator[str]:
    """Every customer the campaign did not reach, as CSV text streamed in chunks (contacts masked); the
    export is recorded in the audit log."""
    campaign = get_campaign(store, name)
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="report.exported",
            subject=f"campaign:{name}",
            detail={"report": "not reached", "format": "csv"},
            now=utcnow(),
        )

    def chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(NOT_REACHED_COLUMNS)
        with store.connect() as conn:
            lines = _not_reached_lines(q.not_reached_rows(conn, campaign.id), False)
            for n, line in enumerate(lines, start=1):
                cells = (line.external_id, line.name, line.jurisdiction, line.locale, line.contact, line.why)
                writer.writerow([spreadsheet_safe(v) for v in (*cells, " | ".join(line.tried))])
                if n % 500 == 0:  # a chunk to send every 500 customers
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return chunks()
