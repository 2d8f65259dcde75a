"""``notifier support``: the queue of customers' replies (SMS and email), with the notice each answers."""

from __future__ import annotations

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
    signed_in_store,
    store_for,
)
from notifier.cli.output import data_table
from notifier.errors import InputError
from notifier.models import ReplyStatus
from notifier.redact import mask_contact
from notifier.store.rows import ReplyRow
from notifier.support.queue import list_replies, reply, update_reply

app = typer.Typer(
    help="The support queue: customers' replies, with the notice each answers.", no_args_is_help=True
)
ReplyId = Annotated[int, typer.Argument(help="The reply's number (first column of `support list`).")]
NoteOption = Annotated[str | None, typer.Option(help="Internal note (never sent to the customer).")]
STATUSES = ", ".join(s.value for s in ReplyStatus)


def _status(value: str) -> ReplyStatus | None:
    if value == "all":
        return None
    try:
        return ReplyStatus(value)
    except ValueError:
        raise InputError(f"--status {value!r}: use one of {STATUSES}, all") from None


def _excerpt(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@app.command("list")
@friendly_errors
def support_list(
    status: Annotated[str, typer.Option(help=f"{STATUSES}, or all.")] = "open",
    campaign: Annotated[str | None, typer.Option(help="Only replies to this campaign.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest first.")] = 50,
    database_url: DatabaseOption = None,
) -> None:
    """The replies waiting for support (newest first); contacts are masked."""
    store = signed_in_store(settings_from(database_url), Action.SUPPORT_QUEUE)
    rows = list_replies(store, status=_status(status), campaign=campaign, limit=limit)
    console.print(
        data_table(
            f"Replies ({status})",
            (
                "#",
                "received (UTC)",
                "via",
                "from",
                "customer",
                "campaign",
                "lang",
                "status",
                "assignee",
                "text",
            ),
            (
                (
                    r.id,
                    f"{r.received_at:%Y-%m-%d %H:%M}",
                    r.channel,
                    mask_contact(r.contact),
                    r.customer_external_id or "unknown",
                    r.campaign or "-",
                    r.locale or "-",
                    r.status,
                    r.assignee or "-",
                    _excerpt(r.body),
                )
                for r in rows
            ),
        )
    )
    if not rows:
        console.print(f"no {'' if status == 'all' else status + ' '}replies", markup=False)


@app.command("show")
@friendly_errors
def support_show(reply_id: ReplyId, database_url: DatabaseOption = None) -> None:
    """One reply in full, with the customer and the notice it answers."""
    _show(reply(signed_in_store(settings_from(database_url), Action.SUPPORT_QUEUE), reply_id))


def _show(r: ReplyRow) -> None:
    facts = [
        ("reply", str(r.id)),
        ("received", f"{r.received_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("via", r.channel),
        ("from", mask_contact(r.contact)),
        (
            "customer",
            f"{r.customer_external_id} ({r.customer_name})" if r.customer_external_id else "unknown",
        ),
        ("campaign", r.campaign or "-"),
        ("notice", f"{r.notice} in {r.locale}" if r.notice else "-"),
        ("notice status", r.outbox_state or "-"),
        ("approved content", r.content_hash[:16] if r.content_hash else "-"),
        ("status", r.status),
        ("assignee", r.assignee or "-"),
        ("note", r.note or "-"),
        ("last change", f"{r.updated_at:%Y-%m-%d %H:%M} by {r.updated_by}" if r.updated_by else "-"),
    ]
    if r.subject:
        facts.insert(3, ("subject", r.subject))
    console.print(data_table(f"Reply {r.id}", ("", ""), facts))
    console.print(Text("Text:", style="bold"))
    console.print(Text(r.body))  # the customer's words, as text: never markup


def _update(
    reply_id: int,
    database_url: str | None,
    *,
    status: ReplyStatus | None = None,
    assignee: str | None = None,
    note: str | None = None,
) -> None:
    store = store_for(settings_from(database_url))
    user = signed_in(store, Action.SUPPORT_QUEUE)
    changed = update_reply(store, reply_id, actor=user.username, status=status, assignee=assignee, note=note)
    _show(changed)


@app.command("close")
@friendly_errors
def support_close(reply_id: ReplyId, note: NoteOption = None, database_url: DatabaseOption = None) -> None:
    """Close a reply (nothing more to do); audited."""
    _update(reply_id, database_url, status=ReplyStatus.CLOSED, note=note)


@app.command("answer")
@friendly_errors
def support_answer(reply_id: ReplyId, note: NoteOption = None, database_url: DatabaseOption = None) -> None:
    """Mark a reply answered (the customer was answered outside notifier); audited."""
    _update(reply_id, database_url, status=ReplyStatus.ANSWERED, note=note)


@app.command("assign")
@friendly_errors
def support_assign(
    reply_id: ReplyId,
    to: Annotated[str, typer.Option("--to", help="Who works on it.")],
    note: NoteOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Assign a reply to someone (it stays open); audited."""
    _update(reply_id, database_url, assignee=to, note=note)


@app.command("reopen")
@friendly_errors
def support_reopen(reply_id: ReplyId, note: NoteOption = None, database_url: DatabaseOption = None) -> None:
    """Open a closed or answered reply again; audited."""
    _update(reply_id, database_url, status=ReplyStatus.OPEN, note=note)
