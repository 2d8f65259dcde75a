"""``notifier incident``: record the facts of an incident."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from notifier.accounts.permissions import Action
from notifier.cli.common import (
    DatabaseOption,
    console,
    err_console,
    friendly_errors,
    settings_from,
    signed_in,
    signed_in_store,
    store_for,
)
from notifier.config import Settings

if TYPE_CHECKING:
    from notifier.notices.deadlines import DeadlineReport

app = typer.Typer(help="Record, revise and look at the facts of incidents.", no_args_is_help=True)
FactsFile = Annotated[
    Path, typer.Argument(help="JSON file of incident facts (see docs/incidents.md).", exists=True)
]


@app.command("create")
@friendly_errors
def incident_create(
    file: FactsFile,
    database_url: DatabaseOption = None,
) -> None:
    """Record an incident, after checking its facts render a complete notice in every language and
    profile. You become the editor of every piece: someone else approves them (templates approve)."""
    from notifier.notices.incidents import load_incident_file
    from notifier.notices.records import create_incident

    settings = settings_from(database_url)
    facts = load_incident_file(file)
    store = store_for(settings)
    user = signed_in(store, Action.INCIDENT_EDIT)
    incident_id = create_incident(store, settings, facts, actor=user.username)
    console.print(f"incident {facts.get('key')!r} recorded (id {incident_id})", markup=False, highlight=False)
    _warn_gaps(settings, facts)


def _warn_gaps(settings: Settings, facts: dict[str, Any]) -> None:
    from notifier.notices.incidents import parse_incident
    from notifier.notices.records import text_gaps

    for gap in text_gaps(settings, parse_incident(facts, settings.templates_dir)):
        err_console.print(gap, style="yellow", markup=False, highlight=False)


@app.command("edit")
@friendly_errors
def incident_edit(
    key: Annotated[str, typer.Argument(help="The incident's key.")],
    file: FactsFile,
    comment: Annotated[str, typer.Option(help="What changed and why (kept with the revision).")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Make FILE the incident's next revision (earlier ones are kept). The approvals of every piece whose
    text changes are void: the campaign cannot send until someone else approves them again."""
    from notifier.notices.incidents import load_incident_file
    from notifier.notices.records import edit_incident

    settings = settings_from(database_url)
    facts = load_incident_file(file)
    store = store_for(settings)
    user = signed_in(store, Action.INCIDENT_EDIT)
    edit = edit_incident(
        store,
        settings,
        key,
        facts,
        actor=user.username,
        comment=comment,
    )
    console.print(f"incident {key!r} is now revision {edit.revision}", markup=False, highlight=False)
    _warn_gaps(settings, facts)
    console.print(f"changed: {', '.join(edit.changed_fields)}", markup=False, highlight=False)
    if edit.changed_pieces:
        console.print(
            f"{len(edit.changed_pieces)} pieces changed and need approval again "
            f"(`notifier templates status --incident {key}`):",
            markup=False,
            highlight=False,
        )
        for piece in edit.changed_pieces:
            console.print(f"  {piece}", markup=False, highlight=False)
    else:
        console.print(
            "no text a customer reads changed: existing approvals stand", markup=False, highlight=False
        )


@app.command("list")
@friendly_errors
def incident_list(database_url: DatabaseOption = None) -> None:
    """The recorded incidents: key, title, current revision, when and by whom recorded."""
    from notifier.cli.output import incidents_table
    from notifier.store import queries as q

    settings = settings_from(database_url)
    with signed_in_store(settings, Action.INCIDENT_VIEW).connect() as conn:
        console.print(incidents_table(q.incidents_list(conn)))


@app.command("history")
@friendly_errors
def incident_history(
    key: Annotated[str, typer.Argument(help="The incident's key.")],
    database_url: DatabaseOption = None,
) -> None:
    """Every revision of an incident's facts: who, when, why, and which facts changed."""
    from notifier.cli.output import revisions_table
    from notifier.notices.records import incident_history as history

    settings = settings_from(database_url)
    console.print(revisions_table(key, history(signed_in_store(settings, Action.INCIDENT_VIEW), key)))


@app.command("show")
@friendly_errors
def incident_show(
    key: Annotated[str, typer.Argument(help="The incident's key.")],
    revision: Annotated[
        int | None, typer.Option(help="An earlier revision (default: the current one).")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Print an incident's facts as JSON (the current revision, or an earlier one): edit and re-import."""
    import json

    from notifier.errors import InputError
    from notifier.notices.records import incident_history as history

    settings = settings_from(database_url)
    revisions = history(signed_in_store(settings, Action.INCIDENT_VIEW), key)
    chosen = (
        revisions[-1] if revision is None else next((r for r in revisions if r.revision == revision), None)
    )
    if chosen is None:
        raise InputError(f"incident {key!r} has revisions 1 to {revisions[-1].revision}, not {revision}")
    typer.echo(json.dumps(chosen.facts, ensure_ascii=False, indent=2))


STATUS_STYLES = {
    "overdue": "bold red",
    "done late": "yellow",
    "due": "yellow",
    "on hold": "magenta",
    "not started": "white",
    "done": "green",
    "not applicable": "dim",
}


@app.command("deadlines")
@friendly_errors
def incident_deadlines(
    key: Annotated[str, typer.Argument(help="The incident's key.")],
    output: Annotated[
        str, typer.Option("--format", help="table, or json (every obligation, times in UTC).")
    ] = "table",
    database_url: DatabaseOption = None,
) -> None:
    """Every notification obligation of the incident (templates/deadlines.toml): whether it applies and
    why, when its clock started, when it is due (UTC and the rule's local time), the time left or overdue,
    the threshold with the count, and whether it is done (docs/incidents.md "Deadlines")."""
    import json

    from notifier.clock import utcnow
    from notifier.errors import InputError
    from notifier.notices.deadlines import deadline_report

    if output not in ("table", "json"):
        raise InputError(f"--format {output!r}: expected table or json")
    settings = settings_from(database_url)
    report = deadline_report(signed_in_store(settings, Action.INCIDENT_VIEW), settings, key, utcnow())
    if output == "json":
        typer.echo(json.dumps([o.as_dict() for o in report.obligations], ensure_ascii=False, indent=2))
        return
    for table in _deadlines_tables(report):
        console.print(table)
    for line in _deadline_notes(report):
        console.print(line, markup=False, highlight=False)


def _deadlines_tables(report: DeadlineReport) -> list[Table]:
    """The obligations that apply, one row each, then those that do not and why; every cell plain text
    (rich ``Text``), never markup."""
    title = f"Deadlines of incident {report.key} at {report.now:%Y-%m-%d %H:%M} UTC"
    table = Table(title=Text(title), title_justify="left")
    for column in ("obligation", "recipient", "clock starts (UTC)", "due (UTC / local)", "remaining",
                   "threshold", "status", "done at (UTC)"):  # fmt: skip
        table.add_column(column, no_wrap=column in ("clock starts (UTC)", "due (UTC / local)", "remaining"))
    for o in (o for o in report.obligations if o.applies):
        local = o.due_local
        start = f"{o.clock}\n{o.clock_start:%Y-%m-%d %H:%M}" if o.clock_start else f"{o.clock}\n(not yet)"
        due = f"{o.due:%Y-%m-%d %H:%M}\n{local:%Y-%m-%d %H:%M %Z}" if o.due and local else o.duration
        done = (f"{o.done_at:%Y-%m-%d %H:%M}" if o.done_at else "") + (
            f"\n{o.reference}" if o.reference else ""
        )
        cells = [
            f"{o.rule_id}{' [verify]' if o.verify else ''}\n{o.regime}",
            o.recipient,
            start,
            due,
            o.countdown,
            o.threshold,
            f"{o.status}\n{o.reason}" if o.reason else str(o.status),
            done,
        ]
        table.add_row(*(Text(cell) for cell in cells), style=STATUS_STYLES.get(o.status, ""))
    others = Table(title=Text("Not applicable"), title_justify="left", style="dim")
    for column in ("obligation", "recipient", "why not"):
        others.add_column(column)
    for o in (o for o in report.obligations if not o.applies):
        others.add_row(Text(o.rule_id), Text(o.recipient), Text(o.reason))
    return [table, others]


def _deadline_notes(report: DeadlineReport) -> list[str]:
    from notifier.notices.deadlines import earliest_per_recipient

    first = earliest_per_recipient(report.obligations)
    lines: list[str] = []
    if first:
        firsts = "; ".join(f"{o.recipient}: {o.rule_id}, {o.countdown}" for o in first)
        lines.append(f"first due per recipient: {firsts}")
    if report.residents:
        lines.append(
            "affected customers: " + ", ".join(f"{j} {n}" for j, n in sorted(report.residents.items()))
        )
    else:
        lines.append(
            "no campaign of this incident lists affected customers yet: no residence-based rule applies"
        )
    if report.no_jurisdiction:
        lines.append(f"{report.no_jurisdiction} affected customers have no jurisdiction: no rule counts them")
    if report.verify:
        lines.append(f"[verify] before relying on it (legal confirms): {', '.join(report.verify)}")
    return lines
