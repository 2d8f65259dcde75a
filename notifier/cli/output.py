"""Rich tables and progress bars shared by the CLI and the demo."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from notifier.reports.summary import STATE_ORDER, summary_rows
from notifier.sending.pipeline import BatchResult
from notifier.sending.runner import remaining

if TYPE_CHECKING:
    from notifier.audience.importer import ImportReport
    from notifier.notices.approval import PieceStatus
    from notifier.sending.campaigns import CampaignStatus
    from notifier.store.rows import IncidentRevisionRow, IncidentSummary

__all__ = [
    "DeliveryProgress",
    "approval_table",
    "data_table",
    "delivery_progress",
    "import_report_table",
    "incidents_table",
    "manifest_tables",
    "outbox_table",
    "progress_bar",
    "revisions_table",
]


@contextmanager
def progress_bar(console: Console, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yields ``update(done)``: the absolute amount done so far (bytes read, ids selected, ...)."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


class DeliveryProgress:
    """What the live bar shows: the campaign's rows by state after each window of sending (``__call__``,
    as ``launch`` reports them) and, in between, every batch of answers as it is written (``add``)."""

    def __init__(self, progress: Progress, task: TaskID, states: dict[str, int]) -> None:
        self.progress = progress
        self.task = task
        self.started = time.monotonic()
        self.totals = BatchResult()  # this run, as of the last window
        self.live = BatchResult()  # answers written since
        self.states = states
        self._show()

    def __call__(self, totals: BatchResult, states: dict[str, int]) -> None:
        self.totals, self.live, self.states = replace(totals), BatchResult(), states
        self._show()

    def add(self, counts: BatchResult) -> None:
        self.live.add(counts)
        self._show()

    def _show(self) -> None:
        run = replace(self.totals)
        run.add(self.live)
        answered_since = self.live.accepted + self.live.failed + self.live.suppressed
        left = max(0, remaining(self.states) - answered_since)
        done = run.accepted + run.failed + run.suppressed
        self.progress.update(
            self.task,
            completed=done,
            total=done + left,
            rate=done / max(time.monotonic() - self.started, 1e-6),
            description=f"sent {run.accepted} · delivered {self.states.get('delivered', 0)} · "
            f"failed {run.failed} · deferred {run.deferred} · remaining {left}",
        )


@contextmanager
def delivery_progress(console: Console, states: dict[str, int]) -> Iterator[DeliveryProgress]:
    """A live bar for sending: sent / delivered / failed / deferred / remaining, and the rate; ``states``
    are the campaign's rows by state before the run."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]:.0f} msg/s"),
    ]
    with Progress(*columns, console=console) as progress:
        yield DeliveryProgress(progress, progress.add_task("sending", total=None, rate=0.0), states)


def import_report_table(report: ImportReport, limit: int = 20) -> Table:
    table = Table(title=Text(f"Import of {report.path}"), title_justify="left")
    table.add_column("line", justify="right")
    table.add_column("customer")
    table.add_column("result")
    table.add_column("problem")
    for issue in report.issues[:limit]:
        result = Text("rejected", style="red") if issue.rejected else Text("imported", style="yellow")
        table.add_row(str(issue.line), Text(issue.external_id or ""), result, Text(issue.message))
    if len(report.issues) > limit:
        table.add_row("…", "", "", f"{len(report.issues) - limit} more problems")
    table.caption = (
        f"{report.rows} rows: {report.inserted} new, {report.updated} updated, "
        f"{report.rejected} rejected, {len(report.issues)} problems reported"
    )
    return table


def _counts_table(title: str, counts: dict[str, int], total: int) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(title.rsplit(" by ", maxsplit=1)[-1])
    table.add_column("customers", justify="right")
    table.add_column("%", justify="right")
    for key, value in counts.items():
        table.add_row(Text(key), str(value), f"{100 * value / total:.1f}" if total else "-")
    return table


def manifest_tables(manifest: dict[str, Any]) -> list[Table]:
    """Counts by locale, channel coverage, jurisdiction, and why customers cannot be reached."""
    total = manifest["total"]
    coverage_names = {
        "both": "email + SMS",
        "email": "email only",
        "sms": "SMS only",
        "none": "none",
        "letter": "letter only",
        "email+letter": "email + letter",
        "sms+letter": "SMS + letter",
        "email+sms+letter": "email + SMS + letter",
    }
    coverage = {coverage_names.get(k, k): v for k, v in manifest["by_channel_plan"].items()}
    return [
        _counts_table(f"Manifest ({total} customers) by channel coverage", coverage, total),
        _counts_table("Manifest by notice language", manifest["by_locale"], total),
        _counts_table("Manifest by jurisdiction", manifest["by_jurisdiction"], total),
        _counts_table("Not reachable at all, by reason", manifest["unreachable"], total),
        _counts_table("Notice in law, by channel", manifest.get("by_legal_channel", {}), total),
        _counts_table("No notice the law accepts, by reason", manifest.get("no_legal_notice", {}), total),
        _counts_table("Email not used, by reason", manifest["email_not_used"], total),
        _counts_table("SMS not used, by reason", manifest["sms_not_used"], total),
        _counts_table("Letter not used, by reason", manifest.get("letter_not_used", {}), total),
    ]


def outbox_table(status: CampaignStatus) -> Table:
    rows = summary_rows(status)
    states = [s for s in STATE_ORDER if any(r[s] for r in rows)]
    table = Table(title=Text(f"Outbox of {status.name} ({status.state})"), title_justify="left")
    table.add_column("channel")
    for state in [*states, "total"]:
        table.add_column(state, justify="right")
    for row in rows:
        table.add_row(row["channel"], *[str(row[s]) for s in [*states, "total"]])
    return table


def data_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A table of data: every cell is plain text, never read as markup (customer data is data)."""
    table = Table(title=Text(title), title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table


APPROVAL_COLOURS = {
    "approved": "green",
    "changed since approval": "yellow",
    "rejected": "red",
    "never approved": "white",
    "failing lint": "red",
}


def approval_table(statuses: Iterable[PieceStatus]) -> Table:
    """The approval matrix: one row per piece customers read, its state by content hash, and who decided."""
    rows = list(statuses)
    incident = rows[0].piece.incident if rows else ""
    table = Table(title=Text(f"Approvals of what customers read, incident {incident}"), title_justify="left")
    for column in ("notice", "locale", "channel", "profile", "state", "hash"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail")
    for s in rows:
        state = Text(s.state, style=APPROVAL_COLOURS[s.state])
        table.add_row(
            s.piece.notice,
            s.piece.locale,
            s.piece.channel,
            s.piece.profile,
            state,
            s.content_hash[:12],
            Text(s.detail),
        )
    return table


def incidents_table(incidents: Iterable[IncidentSummary]) -> Table:
    return data_table(
        "Incidents",
        ("key", "title", "revision", "recorded", "by"),
        ((i.key, i.title, i.revision, f"{i.created_at:%Y-%m-%d %H:%M}", i.created_by) for i in incidents),
    )


def revisions_table(key: str, revisions: Sequence[IncidentRevisionRow]) -> Table:
    """Every revision, with the facts it changed against the one before."""
    from notifier.notices.records import changed_fields

    rows = []
    for n, revision in enumerate(revisions):
        changed = changed_fields(revisions[n - 1].facts, revision.facts) if n else ["(recorded)"]
        rows.append(
            (
                revision.revision,
                f"{revision.created_at:%Y-%m-%d %H:%M}",
                revision.created_by,
                revision.comment or "",
                ", ".join(changed),
            )
        )
    return data_table(
        f"Revisions of incident {key}", ("revision", "at (UTC)", "by", "comment", "changed"), rows
    )
