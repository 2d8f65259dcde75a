"""The ``notifier`` command line: the comms team's, legal's and support's way in.

Every command takes its configuration from options or ``NOTIFIER_*`` environment variables, builds one
Settings object, and calls library functions; errors are printed as one clear line, not a traceback.
The command groups live in their own modules; this one assembles them and holds ``demo`` and ``db``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from notifier.cli import (
    audit,
    campaigns,
    customers,
    evidence,
    incidents,
    selections,
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
app.add_typer(selections.app, name="selections")
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
    serve: Annotated[
        bool | None,
        typer.Option(
            "--serve/--no-serve",
            help="Then serve the console until Ctrl-C (default: in a terminal; never in scripts and CI).",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="The console's port when serving.")] = 8089,
) -> None:
    """Run everything end to end on the embedded default: SQLite, local SMTP and Twilio stand-ins; then
    print the console's address and a demo sign-in for each role."""
    from notifier.demo.run import PEOPLE, demo_password, run_demo

    summary = run_demo(var_dir.resolve(), customers=customers, console=console)
    if summary["second_run"]["accepted"] != 0 or summary["eml_files"] != summary["emails_accepted"]:
        err_console.print("[red]demo check failed: see var/demo-summary.json")
        raise typer.Exit(1)
    url = f"http://127.0.0.1:{port}"
    console.print(f"\nThe console: {url} (demo sign-ins, one per role):", markup=False)
    for username, role in PEOPLE.items():
        console.print(f"  {role:<8} {username:<6} password: {demo_password(username)}", markup=False)
    if serve is None:
        serve = sys.stdout.isatty()
    if serve:
        _serve_console(var_dir.resolve(), port)
    else:
        console.print(
            f"(not serving: run `notifier demo --serve`, or `NOTIFIER_DATABASE_URL=sqlite:///"
            f"{var_dir.resolve() / 'notifier.db'} notifier serve --only console`)",
            markup=False,
        )


def _serve_console(var_dir: Path, port: int) -> None:
    import secrets

    import uvicorn

    from notifier.config import Settings
    from notifier.console.app import console_app

    settings = Settings.from_env(var_dir=var_dir, database_url=f"sqlite:///{var_dir / 'notifier.db'}")
    app_ = console_app(
        Store(settings.database_url), settings, secret_key=secrets.token_hex(32), secure_cookies=False
    )
    console.print(f"serving the console on http://127.0.0.1:{port} until Ctrl-C", markup=False)
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="warning")


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
