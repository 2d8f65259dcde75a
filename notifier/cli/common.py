"""What every command shares: the consoles, common options, settings and store at the edge, and the rule
that a known error is one line and exit status 1, never a traceback."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from notifier.config import Settings
from notifier.errors import ConfigurationError, NotifierError
from notifier.store import Store

__all__ = [
    "ActorOption",
    "ChannelOption",
    "DatabaseOption",
    "LocaleOption",
    "NoticeOption",
    "ReasonOption",
    "actor_or_login",
    "console",
    "err_console",
    "friendly_errors",
    "settings_from",
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
ActorOption = Annotated[str, typer.Option("--actor", help="Who does this, for the audit log.")]
ReasonOption = Annotated[str, typer.Option(help="Why (recorded in the audit log).")]
NoticeOption = Annotated[str | None, typer.Option(help="Only this notice (breach_notice, breach_update).")]
LocaleOption = Annotated[str | None, typer.Option(help="Only this locale (en, ru, vi).")]
ChannelOption = Annotated[str | None, typer.Option(help="Only this channel (email, sms).")]


def actor_or_login(actor: str) -> str:
    """``--actor``, or the login name of whoever runs the command."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def settings_from(database_url: str | None) -> Settings:
    """The settings of this command: the environment, with the command's own options on top."""
    return Settings.from_env(database_url=database_url)


def store_for(settings: Settings) -> Store:
    """The store of these settings, refused with one clear line if it is unreachable or not migrated."""
    store = Store(settings.database_url)
    store.require_current(settings.migrations_dir)
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

    return wrapper  # type: ignore[return-value]
