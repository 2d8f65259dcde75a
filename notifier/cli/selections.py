"""``notifier selections``: selection queries kept under a name, for planning from the CLI (``campaign plan
--saved NAME``) and from the console, where nobody types SQL."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from notifier.accounts.permissions import Action
from notifier.cli.common import (
    DatabaseOption,
    console,
    friendly_errors,
    settings_from,
    signed_in,
    store_for,
)
from notifier.errors import InputError
from notifier.models import SelectionSource

app = typer.Typer(
    help="Selection queries saved under a name (for planning in the console).", no_args_is_help=True
)


@app.command("save")
@friendly_errors
def selections_save(
    name: Annotated[str, typer.Argument(help="A name comms will choose it by, e.g. leaked-table-2026-11.")],
    description: Annotated[str, typer.Option(help="What it selects, in words (shown with the name).")],
    query: Annotated[str | None, typer.Option(help="The SQL; it returns a column external_id.")] = None,
    query_file: Annotated[
        Path | None, typer.Option(help="Read the SQL from this file ('-': standard input).", dir_okay=False)
    ] = None,
    source: Annotated[
        SelectionSource,
        typer.Option(
            help="store: run on the store (read-only); source: on NOTIFIER_SOURCE_URL, returning the "
            "customer columns too."
        ),
    ] = SelectionSource.STORE,
    database_url: DatabaseOption = None,
) -> None:
    """Check a selection query (it runs, writes nothing, returns the columns it must) and keep it under
    NAME, replacing what NAME held (the audit log keeps every version)."""
    from notifier.audience.saved import save_selection

    if (query is None) == (query_file is None):
        raise InputError("give the SQL with --query or --query-file (one of them)")
    if query_file is not None:
        try:
            sql = sys.stdin.read() if str(query_file) == "-" else query_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{query_file}: cannot read the query: {exc}") from None
    else:
        sql = query or ""
    settings = settings_from(database_url)
    store = store_for(settings)
    user = signed_in(store, Action.SELECTION_SAVE)
    before = save_selection(
        store,
        name=name,
        query=sql,
        description=description,
        source=source,
        actor=user.username,
        source_url=settings.source_url,
        access=settings.selection,
    )
    what = "replaced the earlier query" if before else "new"
    console.print(f"saved selection {name} ({what})", markup=False)


@app.command("list")
@friendly_errors
def selections_list(database_url: DatabaseOption = None) -> None:
    """The saved selections, with what each selects and the SQL it runs."""
    from notifier.audience.saved import saved_selections

    store = store_for(settings_from(database_url))
    signed_in(store, Action.CAMPAIGN_PLAN)
    found = saved_selections(store)
    if not found:
        console.print("no saved selection yet: `notifier selections save NAME --description … --query …`")
    for saved in found:
        where = "the store, read-only" if saved.source == SelectionSource.STORE else "NOTIFIER_SOURCE_URL"
        console.print(
            Text.assemble(
                (saved.name, "bold"),
                f": {saved.description}\n",
                (f"runs on {where}; saved {saved.saved_at:%Y-%m-%d %H:%M} UTC by {saved.saved_by}\n", "dim"),
                saved.query,
                "\n",
            ),
            soft_wrap=True,
        )
