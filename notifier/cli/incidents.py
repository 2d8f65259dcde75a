"""``notifier incident``: record the facts of an incident."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.common import (
    ActorOption,
    DatabaseOption,
    actor_or_login,
    console,
    friendly_errors,
    settings_from,
    store_for,
)

app = typer.Typer(help="Record the facts of an incident.", no_args_is_help=True)


@app.command("create")
@friendly_errors
def incident_create(
    file: Annotated[
        Path, typer.Argument(help="JSON file of incident facts (see docs/incidents.md).", exists=True)
    ],
    database_url: DatabaseOption = None,
    actor: ActorOption = "",
) -> None:
    """Record an incident, after checking its facts render a complete notice in every language."""
    from notifier.notices.incidents import load_incident_file
    from notifier.notices.records import create_incident

    settings = settings_from(database_url)
    facts = load_incident_file(file)
    incident_id = create_incident(store_for(settings), settings, facts, actor=actor_or_login(actor))
    console.print(f"incident {facts.get('key')!r} recorded (id {incident_id})", markup=False, highlight=False)
