"""``notifier incident``: record the facts of an incident."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from notifier.cli.common import (
    ActorOption,
    DatabaseOption,
    actor_or_login,
    console,
    err_console,
    friendly_errors,
    settings_from,
    store_for,
)
from notifier.config import Settings

app = typer.Typer(help="Record, revise and look at the facts of incidents.", no_args_is_help=True)
FactsFile = Annotated[
    Path, typer.Argument(help="JSON file of incident facts (see docs/incidents.md).", exists=True)
]


@app.command("create")
@friendly_errors
def incident_create(
    file: FactsFile,
    database_url: DatabaseOption = None,
    actor: ActorOption = "",
) -> None:
    """Record an incident, after checking its facts render a complete notice in every language and
    profile. You become the editor of every piece: someone else approves them (templates approve)."""
    from notifier.notices.incidents import load_incident_file
    from notifier.notices.records import create_incident

    settings = settings_from(database_url)
    facts = load_incident_file(file)
    incident_id = create_incident(store_for(settings), settings, facts, actor=actor_or_login(actor))
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
    actor: ActorOption = "",
) -> None:
    """Make FILE the incident's next revision (earlier ones are kept). The approvals of every piece whose
    text changes are void: the campaign cannot send until someone else approves them again."""
    from notifier.notices.incidents import load_incident_file
    from notifier.notices.records import edit_incident

    settings = settings_from(database_url)
    facts = load_incident_file(file)
    edit = edit_incident(
        store_for(settings),
        settings,
        key,
        facts,
        actor=actor_or_login(actor),
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
    with store_for(settings).connect() as conn:
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
    console.print(revisions_table(key, history(store_for(settings), key)))


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
    revisions = history(store_for(settings), key)
    chosen = (
        revisions[-1] if revision is None else next((r for r in revisions if r.revision == revision), None)
    )
    if chosen is None:
        raise InputError(f"incident {key!r} has revisions 1 to {revisions[-1].revision}, not {revision}")
    typer.echo(json.dumps(chosen.facts, ensure_ascii=False, indent=2))
