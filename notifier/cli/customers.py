"""``notifier customers``: load and validate customers; ``notifier customer show``: look one up."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from notifier.accounts.permissions import Action
from notifier.cli.common import (
    DatabaseOption,
    console,
    friendly_errors,
    settings_from,
    signed_in,
    store_for,
)

if TYPE_CHECKING:
    from notifier.reports.customer import CustomerStory, Notice

app = typer.Typer(help="Load and validate customers.", no_args_is_help=True)


@app.command("import")
@friendly_errors
def customers_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="UTF-8 CSV with a header: external_id,name,email,phone,locale,time_zone,country,"
            "region,email_opt_out,sms_opt_out",
            exists=True,
            dir_okay=False,
        ),
    ],
    database_url: DatabaseOption = None,
    show: Annotated[int, typer.Option(help="How many row problems to list.")] = 50,
) -> None:
    """Import or update customers (by external_id). Bad rows are reported with line numbers and skipped."""
    from notifier.audience.importer import import_customers
    from notifier.cli.output import import_report_table, progress_bar

    store = store_for(settings_from(database_url))
    signed_in(store, Action.CUSTOMERS_IMPORT)
    with progress_bar(console, f"importing {file.name}", total=file.stat().st_size) as advance:
        report = import_customers(store, file, progress=advance)
    console.print(import_report_table(report, limit=show))


customer_app = typer.Typer(help="Look up one customer: was this person notified?", no_args_is_help=True)


@customer_app.command("show")
@friendly_errors
def customer_show(
    query: Annotated[str, typer.Argument(help="External id, email address or phone number (+country code).")],
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show emails and phones in full (audited; needs --reason).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why the contacts must be shown (for the audit log).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Every notice the customer was planned for and sent, per channel, with the full status timeline,
    the approved content each message was rendered from, fallbacks, replies and consent changes.
    Contacts are masked; the look-up is recorded in the audit log."""
    import dataclasses
    import json
    import sys

    from notifier.errors import InputError
    from notifier.reports.customer import look_up

    store = store_for(settings_from(database_url))
    user = signed_in(store, Action.CUSTOMER_LOOK_UP)
    if reveal:
        signed_in(store, Action.CONTACTS_REVEAL)
    stories = look_up(store, query, actor=user.username, reveal_reason=reason if reveal else None)
    if not stories:
        raise InputError("no customer matches that id, email or phone (it is in the audit log as a look-up)")
    if as_json:
        data = [dataclasses.asdict(s) for s in stories]
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        return
    for story in stories:
        _print_story(story)


def _print_story(story: CustomerStory) -> None:
    from notifier.cli.output import data_table

    console.print(
        f"{story.external_id} · {story.name} · reads {story.locale} · "
        f"jurisdiction {story.jurisdiction or 'unknown'}",
        markup=False,
        highlight=False,
        style="bold",
    )
    console.print(
        f"email {story.email or '-'} (opted out: {'yes' if story.email_opt_out else 'no'}"
        + (f"; {story.email_problem}" if story.email_problem else "")
        + f") · phone {story.phone or '-'} (SMS opted out: {'yes' if story.sms_opt_out else 'no'})",
        markup=False,
        highlight=False,
    )
    console.print(
        "address "
        + (" / ".join(story.address) if story.address else f"- ({story.address_problem or 'none given'})")
        + f" · e-consent {story.esign_consent or 'not recorded'}",
        markup=False,
        highlight=False,
    )
    if not story.notices:
        console.print("never planned for any notice", markup=False)
    for notice in story.notices:
        _print_notice(notice)
    if story.replies:
        console.print(
            data_table(
                "replies (notifier support show N)",
                ("reply", "received (UTC)", "channel", "status", "assignee", "text"),
                (
                    (r.id, _when(r.received_at), r.channel, r.status, r.assignee, r.excerpt)
                    for r in story.replies
                ),
            )
        )
    if story.consent:
        console.print(
            data_table(
                "consent changes (UTC)",
                ("at", "by", "what", "keyword"),
                ((_when(t.at), t.source, t.what, t.detail) for t in story.consent),
            )
        )


def _print_notice(notice: Notice) -> None:
    """One notice of a customer's story: reached or not, its messages, and each message's timeline."""
    from notifier.cli.output import data_table

    verdict = "REACHED" if notice.reached else "NOT REACHED"
    console.print(
        f"\n{notice.campaign}: {verdict} · incident {notice.incident} · {notice.notice} in "
        f"{notice.notice_locale} · campaign {notice.campaign_state}"
        + (f" · notice in law: {notice.legal_notice}" if notice.legal_notice else "")
        + (f" · not used: {', '.join(notice.not_used)}" if notice.not_used else ""),
        markup=False,
        highlight=False,
        style="green" if notice.reached else "red",
    )
    if notice.messages:
        console.print(
            data_table(
                "messages",
                (
                    "channel",
                    "state",
                    "attempts",
                    "provider id",
                    "content hash",
                    "approved by",
                    "fallback",
                ),
                (
                    (
                        m.channel,
                        m.state + (f" ({m.last_error})" if m.last_error else ""),
                        m.attempts,
                        m.provider_message_id or "",
                        (m.content_hash or "")[:16],
                        m.approved_by or "-",
                        "yes" if m.fallback else "",
                    )
                    for m in notice.messages
                ),
            )
        )
    for m in notice.messages:
        console.print(
            data_table(
                f"{m.channel} timeline (UTC)",
                ("at", "by", "what", "detail"),
                ((_when(t.at), t.source, t.what, t.detail[:100]) for t in m.timeline),
            )
        )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""
