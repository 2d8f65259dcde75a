"""``notifier audit``: the audit log, and proof that it and the delivery records were not edited."""

from __future__ import annotations

from typing import Annotated

import typer

from notifier.accounts.permissions import Action
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

app = typer.Typer(help="The audit log and the hash chains that make edits visible.", no_args_is_help=True)


@app.command("verify")
@friendly_errors
def audit_verify(database_url: DatabaseOption = None) -> None:
    """Check the hash chains of the audit log, delivery events and events from the first link to the
    head; name the first broken link and exit 1 if one does not hold."""
    from notifier.reports.integrity import verify_all

    store = store_for(settings_from(database_url))
    signed_in(store, Action.AUDIT_VIEW)
    statuses = verify_all(store)
    console.print(
        data_table(
            "hash chains",
            ["chain", "links verified", "not yet sealed", "head", "head hash", "result"],
            [
                [
                    s.chain,
                    f"{s.verified:,}",
                    f"{s.unsealed:,}",
                    f"{s.head_seq:,}",
                    s.head_hash[:16] + "…",
                    "ok" if s.broken is None else "BROKEN",
                ]
                for s in statuses
            ],
        )
    )
    broken = [s.broken for s in statuses if s.broken is not None]
    for link in broken:
        err_console.print(f"error: broken link: {link}", style="red", markup=False, highlight=False)
    if broken:
        raise typer.Exit(1)


@app.command("seal")
@friendly_errors
def audit_seal(database_url: DatabaseOption = None) -> None:
    """Chain every row written since the last seal (the reconciliation flow does this every 10 minutes)."""
    from notifier.reports.integrity import seal_all

    store = store_for(settings_from(database_url))
    signed_in(store, Action.AUDIT_SEAL)
    sealed = seal_all(store)
    console.print(", ".join(f"{chain}: {n:,} sealed" for chain, n in sealed.items()), markup=False)


@app.command("list")
@friendly_errors
def audit_list(
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only actions starting with this (campaign., template.).")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Only subjects containing this (incident:KEY).")] = None,
    incident: Annotated[
        str | None, typer.Option(help="Only about this incident: itself, its notice pieces, its campaigns.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 50,
    database_url: DatabaseOption = None,
) -> None:
    """The audit log, newest first: who did what to which campaign, incident or notice, and when."""
    from notifier.store import queries as q

    store = store_for(settings_from(database_url))
    signed_in(store, Action.AUDIT_VIEW)
    with store.connect() as conn:
        entries = q.audit_entries(
            conn, actor=actor, action=action, subject=subject, incident=incident, limit=limit
        )
    console.print(
        data_table(
            "audit log",
            ["link", "at (UTC)", "actor", "action", "subject", "detail"],
            [
                [
                    str(e.seq or "-"),
                    e.at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.actor,
                    e.action,
                    e.subject,
                    ", ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))[:120],
                ]
                for e in entries
            ],
        )
    )
