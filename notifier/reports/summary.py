"""Campaign summaries: rows for tables and Prefect table artifacts, Markdown for Prefect markdown
artifacts, and the manifest counts as log lines."""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Any

from notifier.models import OutboxState
from notifier.reports.delivery import OUTCOME_ORDER, DeliveryReport
from notifier.sending.campaigns import CampaignStatus
from notifier.sending.pipeline import BatchResult

__all__ = [
    "STATE_ORDER",
    "chart_data_url",
    "manifest_lines",
    "report_markdown",
    "summary_markdown",
    "summary_rows",
]

STATE_ORDER = tuple(s.value for s in OutboxState)  # the state machine's own order


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
        _table("notice in law by", manifest.get("by_legal_channel", {})),
        _table("no notice the law accepts, because", manifest.get("no_legal_notice", {})),
    ]
    rows = summary_rows(status)
    if rows:
        header = ["channel", *[s for s in STATE_ORDER if any(r[s] for r in rows)], "total"]
        parts.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        parts[-1] += "\n" + "\n".join("| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows)
    if this_run is not None:
        parts.append("This run: " + ", ".join(f"{k} {v}" for k, v in asdict(this_run).items()))
    return "\n\n".join(parts) + "\n"


def manifest_lines(campaign: str, manifest: dict[str, Any]) -> list[str]:
    """The counts to check before anything is sent, as log lines (also shown by `notifier campaign plan`)."""
    lines = [f"manifest of {campaign}: {manifest['total']} customers"]
    for key in (
        "by_channel_plan",
        "by_locale",
        "by_jurisdiction",
        "unreachable",
        "by_legal_channel",
        "no_legal_notice",
    ):
        counts = ", ".join(f"{k} {v}" for k, v in manifest.get(key, {}).items())
        lines.append(f"  {key.replace('_', ' ')}: {counts}")
    return lines


def _cell(value: object) -> str:
    # Markdown table cells: a pipe or a newline in a provider's words must not break the table.
    return str(value).replace("|", "\\|").replace("\n", " ")


def report_markdown(report: DeliveryReport, *, reasons: int = 10, not_reached: int = 20) -> str:
    """The delivery report's summary as a Prefect markdown artifact: headline, outcomes by channel, the
    deadlines, the most frequent failure reasons and the first customers not reached (masked)."""
    h = report.headline
    share = f"{100 * h['reached'] / h['customers']:.1f} %" if h["customers"] else "-"
    parts = [
        f"# `{report.campaign}`: {h['reached']:,} of {h['customers']:,} customers reached ({share})",
        f"Incident `{report.incident}`, notice `{report.notice}`, campaign {report.state}. "
        f"In progress {h['in_progress']:,}, not reached {h['not_reached']:,}, told by an earlier campaign "
        f"{h['already_notified']:,}.",
    ]
    outcomes = [o for o in OUTCOME_ORDER if any(c.get(o) for c in report.by_channel.values())]
    if outcomes:
        lines = ["| channel | " + " | ".join(outcomes) + " |", "|---|" + "---:|" * len(outcomes)]
        lines += [
            f"| {channel} | " + " | ".join(f"{counts.get(o, 0):,}" for o in outcomes) + " |"
            for channel, counts in report.by_channel.items()
        ]
        parts.append("\n".join(lines))
    if report.deadlines:
        lines = ["| obligation | recipient | due (UTC) | remaining | status |", "|---|---|---|---|---|"]
        lines += [
            "| "
            + " | ".join(_cell(d[k]) for k in ("obligation", "recipient", "due", "remaining", "status"))
            + " |"
            for d in report.deadlines
        ]
        parts.append("## Deadlines\n\n" + "\n".join(lines))
    if report.reasons:
        lines = ["| channel | state | reason | messages |", "|---|---|---|---:|"]
        lines += [
            f"| {r['channel']} | {r['state']} | {_cell(r['reason'])} | {r['count']:,} |"
            for r in report.reasons[:reasons]
        ]
        parts.append("## Why messages did not arrive\n\n" + "\n".join(lines))
    if report.not_reached:
        lines = ["| customer | jurisdiction | contact | why |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(n.external_id)} | {n.jurisdiction} | {_cell(n.contact)} | {_cell(n.why)} |"
            for n in report.not_reached[:not_reached]
        ]
        more = report.not_reached_total - min(not_reached, len(report.not_reached))
        tail = f"\n\n… and {more:,} more: `notifier campaign report {report.campaign}`" if more > 0 else ""
        parts.append("## Not reached\n\n" + "\n".join(lines) + tail)
    return "\n\n".join(parts) + "\n"


def chart_data_url(svg: str) -> str:
    """An SVG chart as a ``data:`` URL, for a Prefect image artifact (no file server needed)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
