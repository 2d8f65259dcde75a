"""``notifier templates``: check, proof and approve notice templates (legal's four-eyes review)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.accounts.permissions import Action
from notifier.cli.common import (
    ChannelOption,
    DatabaseOption,
    LocaleOption,
    NoticeOption,
    console,
    err_console,
    friendly_errors,
    settings_from,
    signed_in,
    signed_in_store,
    store_for,
)
from notifier.errors import InputError
from notifier.store import Store

app = typer.Typer(
    help="Check, proof and approve notice templates (legal's four-eyes review).", no_args_is_help=True
)


IncidentOption = Annotated[
    str, typer.Option("--incident", help="The incident's key: what customers read includes its facts.")
]
ProfileOption = Annotated[
    str | None, typer.Option(help="Only this jurisdiction profile (see templates/content.toml).")
]


@app.command("lint")
@friendly_errors
def templates_lint(
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    incident: Annotated[
        str | None, typer.Option(help="Check with this recorded incident's facts instead of the samples.")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Check every notice × locale × channel × jurisdiction profile; exit 1 on any error."""
    from notifier.notices.lint import Linter
    from notifier.notices.records import incident_by_key

    settings = settings_from(database_url)
    linter = Linter(settings.templates_dir, settings.locales_dir)
    _check_choice(notice, locale, linter.locales)
    facts = (
        incident_by_key(signed_in_store(settings, Action.NOTICE_REVIEW), settings, incident)
        if incident
        else None
    )
    findings = linter.run(notice=notice, locale=locale, incident=facts)
    for finding in findings:
        style = "red" if finding.severity == "error" else "yellow"
        console.print(str(finding), style=style, markup=False, highlight=False, soft_wrap=True)
    errors = sum(f.severity == "error" for f in findings)
    console.print(f"{errors} errors, {len(findings) - errors} warnings")
    if errors:
        raise typer.Exit(1)


def _check_choice(notice: str | None, locale: str | None, locales: tuple[str, ...]) -> None:
    from notifier.errors import InputError
    from notifier.notices.render import NOTICES

    for value, allowed, what in ((notice, NOTICES, "notice"), (locale, locales, "locale")):
        if value is not None and value not in allowed:
            raise InputError(f"unknown {what} {value!r}; known: {', '.join(allowed)}")


@app.command("proof")
@friendly_errors
def templates_proof(
    out: Annotated[Path, typer.Option(help="Directory for the proof pages and .eml files.")] = Path(
        "var/proof"
    ),
    facts: Annotated[str, typer.Option(help="Sample incident: complete or minimal.")] = "complete",
    incident: Annotated[str | None, typer.Option(help="Proof this recorded incident's facts.")] = None,
    campaign: Annotated[
        str | None, typer.Option(help="A planned campaign: --customer/--sample pick from its manifest.")
    ] = None,
    customer: Annotated[
        list[str] | None,
        typer.Option(help="A customer's external id (repeatable): exactly what they would get."),
    ] = None,
    sample: Annotated[int, typer.Option(help="This many random customers of the campaign's manifest.")] = 0,
    database_url: DatabaseOption = None,
    notice: NoticeOption = None,
) -> None:
    """Proof sheets: every locale × channel × profile of a notice (sample or recorded incident), or exactly
    what chosen customers of a campaign would get, rendered through the sending code path."""
    from notifier.notices.approval import campaign_incident, statuses
    from notifier.notices.lint import Linter
    from notifier.notices.proof import write_proofs
    from notifier.notices.records import incident_by_key

    settings = settings_from(database_url)
    if customer or sample:
        from notifier.sending import preview

        store = store_for(settings)
        user = signed_in(store, Action.NOTICE_REVIEW)
        if campaign:
            ref, readers = preview.campaign_readers(store, campaign, list(customer or []), sample)
            about = campaign_incident(store, settings, ref.id)
            notice, source = ref.notice, f"campaign {ref.name} (its manifest)"
        elif incident and not sample:
            readers = preview.stored_readers(store, settings, list(customer or []))
            about = incident_by_key(store, settings, incident)
            notice, source = notice or "breach_notice", "customers as stored, on every channel"
        else:
            raise InputError(
                "--customer needs --incident KEY (customers as stored) or --campaign NAME (as planned); "
                "--sample needs --campaign NAME"
            )
        page = preview.write_customer_proofs(
            store,
            settings,
            out,
            incident=about,
            notice=notice,
            readers=readers,
            source=source,
            actor=user.username,
        )
        console.print(f"wrote {page}", markup=False, highlight=False)
        return
    store = Store(settings.database_url)  # proof sheets need no store; with one, they show approvals
    recorded = (
        incident_by_key(signed_in_store(settings, Action.NOTICE_REVIEW), settings, incident)
        if incident
        else None
    )
    has_store = recorded is not None or _has_store(store)
    linter = Linter(settings.templates_dir, settings.locales_dir)
    status = statuses(store, settings, recorded, with_lint=False) if has_store and recorded else []
    pages = write_proofs(linter, out, status, which=facts, incident=recorded)
    for page in pages:
        console.print(f"wrote {page}", markup=False, highlight=False)
    console.print(f".eml files in {out / 'eml'}", markup=False, highlight=False)


def _has_store(store: Store) -> bool:
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    try:
        return bool(inspect(store.engine).has_table("approvals"))
    except OperationalError:
        console.print("no store reachable: the proof sheets show no approvals", style="yellow")
        return False


@app.command("submit")
@friendly_errors
def templates_submit(
    incident: IncidentOption,
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    profile: ProfileOption = None,
    comment: Annotated[str, typer.Option(help="What changed.")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Record that you edited the current version of each selected piece (templates, catalogs), so that
    someone else must approve it."""
    from notifier.notices.approval import pieces, submit
    from notifier.notices.records import incident_by_key

    settings = settings_from(database_url)
    store = store_for(settings)
    author = signed_in(store, Action.NOTICE_SUBMIT).username
    facts = incident_by_key(store, settings, incident)
    selected = pieces(settings, facts, notice=notice, locale=locale, channel=channel, profile=profile)
    for line in submit(store, settings, facts, selected, author=author, comment=comment):
        console.print(line, markup=False, highlight=False)


def _decide(
    decision: str,
    comment: str,
    incident: str,
    selection: dict[str, str | None],
    database_url: str | None,
) -> None:
    from notifier.notices.approval import approve, pieces
    from notifier.notices.records import incident_by_key

    settings = settings_from(database_url)
    store = store_for(settings)
    approver = signed_in(store, Action.NOTICE_DECIDE).username
    facts = incident_by_key(store, settings, incident)
    selected = pieces(settings, facts, **selection)
    recorded, refused = approve(
        store, settings, facts, selected, approver=approver, role="legal", comment=comment, decision=decision
    )
    for line in recorded:
        console.print(line, style="green", markup=False, highlight=False)
    for line in refused:
        err_console.print(line, style="red", markup=False, highlight=False)
    console.print(f"{len(recorded)} {decision}, {len(refused)} refused", markup=False, highlight=False)
    if refused:
        raise typer.Exit(1)


@app.command("approve")
@friendly_errors
def templates_approve(
    incident: IncidentOption,
    comment: Annotated[str, typer.Option(help="Recorded with the approval.")] = "",
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    profile: ProfileOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Approve the current version (content hash) of each selected piece. Refused if it fails lint."""
    selection = {"notice": notice, "locale": locale, "channel": channel, "profile": profile}
    _decide("approved", comment, incident, selection, database_url)


@app.command("reject")
@friendly_errors
def templates_reject(
    incident: IncidentOption,
    comment: Annotated[str, typer.Option(help="Why it is rejected.")] = "",
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    profile: ProfileOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Reject the current version of each selected piece (recorded and audited)."""
    selection = {"notice": notice, "locale": locale, "channel": channel, "profile": profile}
    _decide("rejected", comment, incident, selection, database_url)


@app.command("status")
@friendly_errors
def templates_status(incident: IncidentOption, database_url: DatabaseOption = None) -> None:
    """The approval matrix: approved / changed since approval / rejected / never approved / failing lint."""
    from notifier.cli.output import approval_table
    from notifier.notices.approval import statuses
    from notifier.notices.records import incident_by_key

    settings = settings_from(database_url)
    store = signed_in_store(settings, Action.NOTICE_REVIEW)
    console.print(approval_table(statuses(store, settings, incident_by_key(store, settings, incident))))
