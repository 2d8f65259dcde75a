"""Campaign summaries: rows for tables and Prefect table artifacts, Markdown for Prefect markdown
artifacts, and the manifest counts as log lines."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from notifier.models import OutboxState
from notifier.sending.campaigns import CampaignStatus
from notifier.sending.pipeline import BatchResult

__all__ = ["STATE_ORDER", "manifest_lines", "summary_markdown", "summary_rows"]

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
    for key in ("by_channel_plan", "by_locale", "by_jurisdiction", "unreachable"):
        counts = ", ".join(f"{k} {v}" for k, v in manifest[key].items())
        lines.append(f"  {key.replace('_', ' ')}: {counts}")
    return lines
