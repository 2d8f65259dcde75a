"""The ``notifier`` command line: the comms team's, legal's and support's way in.

Every command takes its configuration from options or ``NOTIFIER_*`` environment variables, builds one
Settings object, and calls library functions; errors are printed as one clear line, not a traceback.
The command groups live in their own modules; this one assembles them and holds ``demo`` and ``db``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli import (
    audit,
    campaigns,
    customers,
    evidence,
    incidents,
    serve,
    support,
    templates,
    track,
    users,
)
from notifier.cli.common import (
    DatabaseOption,
    console,
    err_console,
    friendly_errors,
    settings_from,
)
from notifier.store import Store

__all__ = ["app"]

app = typer.Typer(
    help="Tell every customer affected by a data breach what happened, in their language, and prove who "
    "was told.\n\nStart with `notifier demo`. Real use: `db upgrade` → `customers import` → "
    "`incident create` → `campaign plan` (check the counts) → `campaign launch` → `campaign status` / "
    "`campaign report`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(customers.app, name="customers")
app.add_typer(customers.customer_app, name="customer")
app.add_typer(incidents.app, name="incident")
app.add_typer(campaigns.app, name="campaign")
app.add_typer(templates.app, name="templates")
app.add_typer(track.app, name="track")
app.add_typer(support.app, name="support")
app.add_typer(audit.app, name="audit")
app.add_typer(users.app, name="users")
app.command("serve")(serve.serve)
app.command("evidence")(evidence.evidence)


@app.command()
@friendly_errors
def demo(
    customers: Annotated[int, typer.Option(help="How many demo customers to seed.")] = 3000,
    var_dir: Annotated[Path, typer.Option(help="Working directory for the demo's store and files.")] = Path(
        "var"
    ),
) -> None:
    """Run everything end to end on the embedded default: SQLite, local SMTP and Twilio stand-ins."""
    from notifier.demo.run import run_demo

    summary = run_demo(var_dir.resolve(), customers=customers, console=console)
    if summary["second_run"]["accepted"] != 0 or summary["eml_files"] != summary["emails_accepted"]:
        err_console.print("[red]demo check failed: see var/demo-summary.json")
        raise typer.Exit(1)


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Create or migrate the store's tables (Alembic) to the latest version."""
    settings = settings_from(database_url)
    store = Store(settings.database_url)
    store.upgrade(settings.migrations_dir)
    console.print(f"store is up to date: {store!r}")


if __name__ == "__main__":
    app()
