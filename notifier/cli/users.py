"""``notifier users``: people, their roles, passwords and API tokens (admins; the first admin needs no
sign-in while the store has no user at all)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from notifier.accounts.permissions import Action, Identity
from notifier.cli.common import (
    DatabaseOption,
    console,
    err_console,
    friendly_errors,
    settings_from,
    signed_in,
    store_for,
)
from notifier.cli.output import data_table
from notifier.store import Store

app = typer.Typer(help="People, their roles, passwords and API tokens (admins).", no_args_is_help=True)
UserArgument = Annotated[str, typer.Argument(help="The user name (lower-case).")]
RolesOption = Annotated[
    list[str], typer.Option("--role", help="admin, comms, legal, support or viewer; repeat for several.")
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts).")
]


def _admin(store: Store) -> Identity:
    return signed_in(store, Action.USERS_MANAGE)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@app.command("add")
@friendly_errors
def users_add(
    username: UserArgument,
    roles: RolesOption,
    name: Annotated[str, typer.Option(help="The person's name as shown (default: the user name).")] = "",
    token_only: Annotated[
        bool, typer.Option("--token-only", help="No password: signs in only with an API token (automation).")
    ] = False,
    password_stdin: PasswordStdin = False,
    database_url: DatabaseOption = None,
) -> None:
    """Add a user. While the store has no user at all, the first one is added without signing in (give it
    the admin role); after that, only an admin adds users."""
    from notifier.accounts.users import add_user, bootstrap_allowed

    store = store_for(settings_from(database_url))
    first = bootstrap_allowed(store)
    if first and "admin" not in roles:
        raise typer.BadParameter("the first user must be an admin (--role admin)")
    actor = "bootstrap" if first else _admin(store).username
    password = None if token_only else _password(password_stdin)
    added = add_user(store, username, display_name=name, roles=roles, password=password, actor=actor)
    console.print(f"added {added.username} ({', '.join(sorted(added.roles))})", markup=False, highlight=False)


@app.command("list")
@friendly_errors
def users_list(database_url: DatabaseOption = None) -> None:
    """Every user with their roles and state."""
    from notifier.accounts.users import list_users

    store = store_for(settings_from(database_url))
    _admin(store)
    rows = [
        (
            u.username,
            u.display_name,
            ", ".join(sorted(u.roles)),
            "disabled" if u.disabled else ("locked" if u.locked_until else "active"),
            "yes" if u.password_hash else "token only",
            f"{u.created_at:%Y-%m-%d} by {u.created_by}",
        )
        for u in list_users(store)
    ]
    console.print(data_table("users", ("user", "name", "roles", "state", "password", "added"), rows))


@app.command("roles")
@friendly_errors
def users_roles(username: UserArgument, roles: RolesOption, database_url: DatabaseOption = None) -> None:
    """Replace a user's roles (taking a role away ends their sessions and revokes their tokens)."""
    from notifier.accounts.users import set_roles

    store = store_for(settings_from(database_url))
    set_roles(store, username, roles, actor=_admin(store).username)
    console.print(f"{username}: {', '.join(sorted(roles))}", markup=False, highlight=False)


@app.command("disable")
@friendly_errors
def users_disable(username: UserArgument, database_url: DatabaseOption = None) -> None:
    """Disable a user: their sessions end and their tokens stop working at once."""
    from notifier.accounts.users import set_disabled

    store = store_for(settings_from(database_url))
    set_disabled(store, username, True, actor=_admin(store).username)
    console.print(f"{username} disabled", markup=False, highlight=False)


@app.command("enable")
@friendly_errors
def users_enable(username: UserArgument, database_url: DatabaseOption = None) -> None:
    """Enable a disabled user again (they need a new token)."""
    from notifier.accounts.users import set_disabled

    store = store_for(settings_from(database_url))
    set_disabled(store, username, False, actor=_admin(store).username)
    console.print(f"{username} enabled", markup=False, highlight=False)


@app.command("reset")
@friendly_errors
def users_reset(
    username: UserArgument, password_stdin: PasswordStdin = False, database_url: DatabaseOption = None
) -> None:
    """Set a new password (their sessions end and their tokens are revoked; a lock is lifted)."""
    from notifier.accounts.users import reset_password

    store = store_for(settings_from(database_url))
    actor = _admin(store).username
    reset_password(store, username, _password(password_stdin), actor=actor)
    console.print(f"{username}: password reset", markup=False, highlight=False)


@app.command("token")
@friendly_errors
def users_token(
    username: UserArgument,
    label: Annotated[str, typer.Option(help="What the token is for (shown in the audit log).")] = "cli",
    days: Annotated[
        int | None, typer.Option(help="Days it is valid (default NOTIFIER_TOKEN_DAYS, 90).", min=1, max=3650)
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Issue an API token for the user (their NOTIFIER_TOKEN for the CLI). Shown once: only its hash is
    kept. The first admin gets their first token without signing in (nobody has a token yet)."""
    from datetime import timedelta

    from notifier.accounts.users import first_token_allowed, issue_token

    settings = settings_from(database_url)
    store = store_for(settings)
    first = first_token_allowed(store, username)
    actor = username if first else _admin(store).username
    valid_for = timedelta(days=days or settings.token_days)
    token = issue_token(store, username, label=label, actor=actor, valid_for=valid_for)
    err_console.print("the token is shown once; keep it like a password:", style="yellow")
    sys.stdout.write(token + "\n")


@app.command("tokens")
@friendly_errors
def users_tokens(username: UserArgument, database_url: DatabaseOption = None) -> None:
    """A user's API tokens: label, when issued and last used, when they expire, and whether they are live."""
    from notifier.accounts.users import list_tokens
    from notifier.clock import utcnow

    store = store_for(settings_from(database_url))
    _admin(store)
    now = utcnow()
    rows = [
        (
            str(t.id),
            t.label,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "-",
            t.state(now) + (f" by {t.revoked_by}" if t.revoked_by else ""),
        )
        for t in list_tokens(store, username)
    ]
    console.print(
        data_table(f"tokens of {username}", ("#", "label", "issued", "last used", "expires", "state"), rows)
    )


@app.command("revoke-token")
@friendly_errors
def users_revoke_token(
    username: UserArgument,
    token_id: Annotated[int, typer.Argument(help="The token's number (`notifier users tokens USER`).")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke one API token of a user; their other tokens and sessions go on working."""
    from notifier.accounts.users import revoke_token

    store = store_for(settings_from(database_url))
    revoke_token(store, username, token_id, actor=_admin(store).username)
    console.print(f"{username}: token {token_id} revoked", markup=False, highlight=False)
