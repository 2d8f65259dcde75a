"""What every command shares: the consoles, common options, settings and store at the edge, and the rule
that a known error is one line and exit status 1, never a traceback."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import DBAPIError

from notifier.accounts.permissions import Action, Identity
from notifier.config import Settings
from notifier.errors import AccessDeniedError, ConfigurationError, NotifierError
from notifier.store import Store
from notifier.store.outage import is_outage

__all__ = [
    "ChannelOption",
    "DatabaseOption",
    "LocaleOption",
    "NoticeOption",
    "ReasonOption",
    "console",
    "err_console",
    "friendly_errors",
    "settings_from",
    "signed_in",
    "signed_in_store",
    "store_for",
]

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="NOTIFIER_DATABASE_URL",
        show_envvar=True,
        help="SQLAlchemy URL of the store (default: sqlite:///var/notifier.db).",
    ),
]
ReasonOption = Annotated[str, typer.Option(help="Why (recorded in the audit log).")]
NoticeOption = Annotated[str | None, typer.Option(help="Only this notice (breach_notice, breach_update).")]
LocaleOption = Annotated[str | None, typer.Option(help="Only this locale (en, ru, vi).")]
ChannelOption = Annotated[str | None, typer.Option(help="Only this channel (email, sms).")]


def signed_in(store: Store, action: Action) -> Identity:
    """The person running the command, signed in by their API token (``NOTIFIER_TOKEN``), if their roles
    allow ``action``; else one clear line and exit 1. Never a typed name: the audit log and the
    four-eyes rule see who really acted."""
    from notifier.accounts.permissions import authorize
    from notifier.accounts.users import identity_for_token

    token = os.environ.get("NOTIFIER_TOKEN", "").strip()
    if not token:
        raise AccessDeniedError(
            "sign in first: export NOTIFIER_TOKEN=<your API token> (an admin issues one with "
            "`notifier users token NAME`)"
        )
    return authorize(identity_for_token(store, token), action)


def settings_from(database_url: str | None) -> Settings:
    """The settings of this command: the environment, with the command's own options on top."""
    return Settings.from_env(database_url=database_url)


def store_for(settings: Settings) -> Store:
    """The store of these settings, refused with one clear line if it is unreachable or not migrated."""
    store = Store(settings.database_url)
    store.require_current(settings.migrations_dir)
    return store


def signed_in_store(settings: Settings, action: Action) -> Store:
    """The settings' store, once the person running the command is signed in and allowed ``action``."""
    store = store_for(settings)
    signed_in(store, action)
    return store


def friendly_errors(func: F) -> F:
    """Known errors become one red line and exit code 1; anything else keeps its traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (NotifierError, ConfigurationError) as exc:
            # One line, never wrapped (paths and positions must stay greppable); the message is not markup.
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except DBAPIError as exc:
            if not is_outage(exc):
                raise
            lines = str(exc.orig or exc).strip().splitlines()
            reason = escape(lines[0] if lines else type(exc).__name__)
            err_console.print(
                f"[red]error:[/red] the store does not answer ({reason}): try again when it is back",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
