"""``notifier templates``: check, proof and approve notice templates (legal's four-eyes review)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.common import (
    ChannelOption,
    DatabaseOption,
    LocaleOption,
    NoticeOption,
    console,
    err_console,
    friendly_errors,
    settings_from,
    store_for,
)
from notifier.store import Store

app = typer.Typer(
    help="Check, proof and approve notice templates (legal's four-eyes review).", no_args_is_help=True
)
ApproverOption = Annotated[str, typer.Option(help="Who decides (must not be the last editor).")]
RoleOption = Annotated[str, typer.Option(help="The approver's role, e.g. legal.")]


@app.command("lint")
@friendly_errors
def templates_lint(notice: NoticeOption = None, locale: LocaleOption = None) -> None:
    """Check every notice × locale × channel × jurisdiction profile; exit 1 on any error."""
    from notifier.notices.approval import pieces
    from notifier.notices.lint import Linter

    settings = settings_from(None)
    pieces(settings, notice=notice, locale=locale)  # the same check of --notice and --locale as approve's
    findings = Linter(settings.templates_dir, settings.locales_dir).run(notice=notice, locale=locale)
    for finding in findings:
        style = "red" if finding.severity == "error" else "yellow"
        console.print(str(finding), style=style, markup=False, highlight=False, soft_wrap=True)
    errors = sum(f.severity == "error" for f in findings)
    console.print(f"{errors} errors, {len(findings) - errors} warnings")
    if errors:
        raise typer.Exit(1)


@app.command("proof")
@friendly_errors
def templates_proof(
    out: Annotated[Path, typer.Option(help="Directory for the proof pages and .eml files.")] = Path(
        "var/proof"
    ),
    facts: Annotated[str, typer.Option(help="Sample incident: complete or minimal.")] = "complete",
    database_url: DatabaseOption = None,
) -> None:
    """Write proof sheets (one HTML page per notice, every locale × channel × profile) and .eml files."""
    from notifier.notices.approval import statuses
    from notifier.notices.lint import Linter
    from notifier.notices.proof import write_proofs

    settings = settings_from(database_url)
    store = Store(settings.database_url)  # proof sheets need no store; with one, they show approvals
    status = statuses(store, settings, with_lint=False) if _has_store(store) else []
    pages = write_proofs(Linter(settings.templates_dir, settings.locales_dir), out, status, which=facts)
    for page in pages:
        console.print(f"wrote {page}", markup=False, highlight=False)
    console.print(f".eml files in {out / 'eml'}", markup=False, highlight=False)


def _has_store(store: Store) -> bool:
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    try:
        return bool(inspect(store.engine).has_table("approvals"))
    except OperationalError:
        console.print("no store reachable: the proof sheets show no approvals", style="yellow")
        return False


@app.command("submit")
@friendly_errors
def templates_submit(
    author: Annotated[str, typer.Option(help="Who edited the templates or catalogs (the last editor).")],
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    comment: Annotated[str, typer.Option(help="What changed.")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Record who edited the current version of each selected piece, so that someone else can approve it."""
    from notifier.notices.approval import pieces, submit

    settings = settings_from(database_url)
    selected = pieces(settings, notice=notice, locale=locale, channel=channel)
    for line in submit(store_for(settings), settings, selected, author=author, comment=comment):
        console.print(line, markup=False, highlight=False)


def _decide(
    decision: str,
    approver: str,
    role: str,
    comment: str,
    notice: str | None,
    locale: str | None,
    channel: str | None,
    database_url: str | None,
) -> None:
    from notifier.notices.approval import approve, pieces

    settings = settings_from(database_url)
    selected = pieces(settings, notice=notice, locale=locale, channel=channel)
    recorded, refused = approve(
        store_for(settings),
        settings,
        selected,
        approver=approver,
        role=role,
        comment=comment,
        decision=decision,
    )
    for line in recorded:
        console.print(line, style="green", markup=False, highlight=False)
    for line in refused:
        err_console.print(line, style="red", markup=False, highlight=False)
    if refused:
        raise typer.Exit(1)


@app.command("approve")
@friendly_errors
def templates_approve(
    approver: ApproverOption,
    role: RoleOption = "legal",
    comment: Annotated[str, typer.Option(help="Recorded with the approval.")] = "",
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Approve the current version (content hash) of each selected piece. Refused if it fails lint."""
    _decide("approved", approver, role, comment, notice, locale, channel, database_url)


@app.command("reject")
@friendly_errors
def templates_reject(
    approver: ApproverOption,
    role: RoleOption = "legal",
    comment: Annotated[str, typer.Option(help="Why it is rejected.")] = "",
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Reject the current version of each selected piece (recorded and audited)."""
    _decide("rejected", approver, role, comment, notice, locale, channel, database_url)


@app.command("status")
@friendly_errors
def templates_status(database_url: DatabaseOption = None) -> None:
    """The approval matrix: approved / changed since approval / rejected / never approved / failing lint."""
    from notifier.cli.output import approval_table
    from notifier.notices.approval import statuses

    settings = settings_from(database_url)
    console.print(approval_table(statuses(store_for(settings), settings)))
