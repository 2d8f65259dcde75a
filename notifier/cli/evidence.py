"""``notifier evidence``: the pack a regulator receives for one incident, and the way back from its
pseudonyms to customers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.accounts.permissions import Action
from notifier.cli.common import (
    DatabaseOption,
    ReasonOption,
    console,
    err_console,
    friendly_errors,
    settings_from,
    signed_in,
    store_for,
)


@friendly_errors
def evidence(
    incident: Annotated[str, typer.Argument(help="The incident's key.")],
    out: Annotated[
        Path | None, typer.Option(help="A new (or empty) directory for the pack.", file_okay=False)
    ] = None,
    resolve: Annotated[
        list[str] | None,
        typer.Option(
            help="Instead of a pack: whom this pseudonym of the incident's evidence names (repeat)."
        ),
    ] = None,
    reason: ReasonOption = "",
    database_url: DatabaseOption = None,
) -> None:
    """Write the incident's evidence pack: timeline, counts per jurisdiction against thresholds, deadlines
    with what was done when, approved notices with their hashes and approvers, the per-recipient ledger
    (pseudonymous), the hash-chain heads and a SHA-256 manifest of every file. With --resolve: the
    customer a pseudonym names (needs --reason; audited)."""
    from notifier.errors import InputError
    from notifier.reports.evidence import resolve_pseudonyms, write_evidence_pack

    settings = settings_from(database_url)
    store = store_for(settings)
    who = signed_in(store, Action.EVIDENCE_RESOLVE if resolve else Action.EVIDENCE_WRITE).username
    if resolve:
        found = resolve_pseudonyms(store, incident, resolve, actor=who, reason=reason)
        for name, external_id in found.items():
            console.print(
                f"{name}: {external_id or 'nobody of this incident'}", markup=False, highlight=False
            )
        if not all(found.values()):
            raise typer.Exit(1)
        return
    if out is None:
        raise InputError("say where the pack goes: --out DIR (a new or empty directory)")
    pack = write_evidence_pack(store, settings, incident, out, actor=who)
    console.print(
        f"evidence pack of {incident}: {len(pack.files) + 1} files in {pack.directory}, ledger "
        f"{pack.ledger_rows:,} lines; open {pack.directory / 'index.html'}; check with "
        f"`cd {pack.directory} && sha256sum -c MANIFEST.sha256`",
        markup=False,
        highlight=False,
        soft_wrap=True,  # paths stay whole, to copy and paste
    )
    for chain in pack.chains:
        if chain.broken is not None:
            err_console.print(f"warning: hash chain broken: {chain.broken}", style="red", markup=False)
