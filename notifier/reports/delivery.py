"""The delivery report support reads to see who was told, when, by which channel, and who not:
CSV and HTML, one line per (customer, channel), contacts masked."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from notifier.pages import render_page
from notifier.redact import mask_email, mask_phone
from notifier.reports.spreadsheet import spreadsheet_safe
from notifier.store.rows import ReportRow

__all__ = ["REPORT_COLUMNS", "write_delivery_report"]

REPORT_COLUMNS = (
    "external_id",
    "name",
    "channel_plan",
    "channel",
    "contact",
    "state",
    "attempts",
    "provider_message_id",
    "last_error",
    "updated_at",
    "not_used_reason",
)


def _masked(channel: str | None, row: ReportRow) -> str:
    if channel == "email":
        return mask_email(row.email)
    if channel == "sms":
        return mask_phone(row.phone)
    return ""


def write_delivery_report(rows: Iterable[ReportRow], out_dir: Path, campaign: str) -> tuple[Path, Path]:
    """Write ``<campaign>-delivery.csv`` and ``.html``: one line per (customer, channel), contacts masked.

    Customers with no usable channel appear once, with the reasons, so "who was not reached" is
    answered from the same file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{campaign}-delivery.csv"
    html_path = out_dir / f"{campaign}-delivery.html"
    records = []
    for row in rows:
        reason = " / ".join(r for r in (row.email_reason, row.sms_reason) if r) if row.channel is None else ""
        records.append(
            {
                "external_id": row.external_id,
                "name": row.name,
                "channel_plan": row.channel_plan,
                "channel": row.channel or "",
                "contact": _masked(row.channel, row),
                "state": row.state or "not reached",
                "attempts": row.attempts or 0,
                "provider_message_id": row.provider_message_id or "",
                "last_error": row.last_error or "",
                "updated_at": row.updated_at or "",
                "not_used_reason": reason,
            }
        )
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=REPORT_COLUMNS)
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in r.items()} for r in records)
    html_path.write_text(
        render_page("delivery.html.j2", campaign=campaign, columns=REPORT_COLUMNS, records=records),
        encoding="utf-8",
    )
    return csv_path, html_path
