"""Human-readable summaries of a campaign: Markdown for Prefect artifacts, rows for tables, and the
delivery report (CSV + HTML) support reads to see who was told, when, by which channel, and who not."""

from __future__ import annotations

import csv
import html
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifier.redact import mask_email, mask_phone

if TYPE_CHECKING:
    from notifier.sending.campaigns import CampaignStatus
    from notifier.sending.pipeline import BatchResult

__all__ = ["summary_markdown", "summary_rows", "write_delivery_report"]

STATE_ORDER = (
    "pending",
    "sending",
    "deferred",
    "accepted",
    "delivered",
    "bounced",
    "undelivered",
    "failed",
    "suppressed",
    "skipped",
    "uncertain",
)


def summary_rows(status: CampaignStatus) -> list[dict[str, Any]]:
    """One row per channel with a column per outbox state (zeros included, so tables line up)."""
    return [
        {
            "channel": channel,
            **{state: counts.get(state, 0) for state in STATE_ORDER},
            "total": sum(counts.values()),
        }
        for channel, counts in sorted(status.outbox.items())
    ]


def _table(title: str, counts: dict[str, int]) -> str:
    if not counts:
        return f"**{title}:** none\n"
    lines = [f"| {title} | customers |", "|---|---:|"]
    lines += [f"| {key} | {value} |" for key, value in counts.items()]
    return "\n".join(lines) + "\n"


def summary_markdown(status: CampaignStatus, this_run: BatchResult | None = None) -> str:
    manifest = status.manifest
    parts = [
        f"# Campaign `{status.name}`: {status.state}",
        f"Manifest: **{manifest['total']}** affected customers.",
        _table("channel plan", manifest["by_channel_plan"]),
        _table("notice language", manifest["by_locale"]),
        _table("jurisdiction", manifest["by_jurisdiction"]),
        _table("not reachable at all, because", manifest["unreachable"]),
    ]
    rows = summary_rows(status)
    if rows:
        header = ["channel", *[s for s in STATE_ORDER if any(r[s] for r in rows)], "total"]
        parts.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        parts[-1] += "\n" + "\n".join("| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows)
    if this_run is not None:
        parts.append("This run: " + ", ".join(f"{k} {v}" for k, v in asdict(this_run).items()))
    return "\n\n".join(parts) + "\n"


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


def _masked(channel: str | None, row: Any) -> str:
    if channel == "email":
        return mask_email(row.email)
    if channel == "sms":
        return mask_phone(row.phone)
    return ""


def write_delivery_report(rows: Iterable[Any], out_dir: Path, campaign: str) -> tuple[Path, Path]:
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
        writer.writerows(records)
    cells = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in REPORT_COLUMNS) + "</tr>"
        for r in records
    )
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in REPORT_COLUMNS)
    html_path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(campaign)}: delivery report</title>"
        "<style>body{font:14px Arial,sans-serif;margin:24px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f0f0f0}</style></head>"
        f"<body><h1>{html.escape(campaign)}: delivery report</h1><p>{len(records)} lines; contacts masked.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table></body></html>",
        encoding="utf-8",
    )
    return csv_path, html_path
