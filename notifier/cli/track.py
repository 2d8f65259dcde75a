"""``notifier track``: receive bounces (SMTP for the bounce domain, or saved files) and read the mailbox
of replies and bounces over IMAP. The webhooks are served by ``notifier serve``."""

from __future__ import annotations

import threading
import time
from pathlib import Path
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
from notifier.config import Settings
from notifier.errors import ConfigurationError
from notifier.store import Store

app = typer.Typer(
    help="Receive bounces and replies: SMTP as the bounce domain's MX, an IMAP mailbox, or saved files.",
    no_args_is_help=True,
)
BounceDomainOption = Annotated[str, typer.Option(help="The bounce_domain of the email channel URL.")]


@app.command("bounces")
@friendly_errors
def track_bounces(
    domain: BounceDomainOption,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (25 as the bounce domain's MX).")] = 2525,
    database_url: DatabaseOption = None,
) -> None:
    """Receive bounces over SMTP for the bounce domain (its MX) and apply each one at once."""
    from notifier.tracking.bounces.intake import BounceReceiver

    with BounceReceiver(store_for(settings_from(database_url)), domain, host=host, port=port) as receiver:
        console.print(f"taking bounces for @{domain} on {host}:{port}; Ctrl-C stops", markup=False)
        seen = 0
        try:
            while True:
                time.sleep(1)
                for outcome in receiver.outcomes[seen:]:
                    console.print(f"{outcome.category}: {outcome.action}", highlight=False, markup=False)
                seen = len(receiver.outcomes)
        except KeyboardInterrupt:
            pass


@app.command("bounce-files")
@friendly_errors
def track_bounce_files(
    files: Annotated[list[Path], typer.Argument(help="Bounce messages (.eml) from a plain mailbox.")],
    domain: BounceDomainOption,
    database_url: DatabaseOption = None,
) -> None:
    """Apply bounces saved from a mailbox: matched to our messages by the Message-ID they quote."""
    from notifier.cli.output import data_table
    from notifier.tracking.bounces.intake import apply_bounce
    from notifier.tracking.mailbox import record_files_applied

    store = store_for(settings_from(database_url))
    user = signed_in(store, Action.TRACKING_APPLY)
    rows, applied = [], []
    try:
        for path in files:
            raw = _read(path)
            if raw is None:
                rows.append((path.name, "-", "-", "cannot read it"))
                continue
            outcome = apply_bounce(store, raw, bounce_domain=domain)
            rows.append((path.name, outcome.category, outcome.token or "-", outcome.action))
            applied.append((raw, f"{outcome.category}: {outcome.action}"))
    finally:  # what was applied is on record even when the run stops part-way
        record_files_applied(store, actor=user.username, command="bounce-files", results=applied)
    console.print(data_table("Bounces", ("file", "kind", "message", "action"), rows))


@app.command("letters")
@friendly_errors
def track_letters(
    file: Annotated[Path, typer.Argument(help="The print vendor's CSV: reference,status,date,reason.")],
    database_url: DatabaseOption = None,
) -> None:
    """Apply the print vendor's file of letters printed, mailed and returned (checked as a whole first:
    one bad line and nothing is applied). A returned letter leaves its person not reached."""
    from notifier.tracking.letters import apply_vendor_file

    store = store_for(settings_from(database_url))
    user = signed_in(store, Action.TRACKING_APPLY)
    result = apply_vendor_file(store, file, actor=user.username)
    console.print(f"{file}: {result.summary()}", markup=False, highlight=False)


@app.command("mail-files")
@friendly_errors
def track_mail_files(
    files: Annotated[
        list[Path], typer.Argument(help="Messages (.eml) saved from the Reply-To or bounce mailbox.")
    ],
    domain: Annotated[
        str | None, typer.Option(help="The bounce_domain (default: the email channel URL's).")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Apply saved messages as the mailbox reader would: bounces applied, auto-replies recorded, customers'
    replies queued for support. A message already on record (its Message-ID) is not applied twice."""
    from notifier.cli.output import data_table
    from notifier.tracking.mailbox import apply_saved_message, record_files_applied

    settings = settings_from(database_url)
    store = store_for(settings)
    user = signed_in(store, Action.TRACKING_APPLY)
    rows, applied = [], []
    try:
        for path in files:
            raw = _read(path)
            if raw is None:
                rows.append((path.name, "cannot read it"))
                continue
            taken = apply_saved_message(store, raw, bounce_domain=domain or settings.bounce_domain)
            rows.append((path.name, taken))
            applied.append((raw, taken))
    finally:  # what was applied is on record even when the run stops part-way
        record_files_applied(store, actor=user.username, command="mail-files", results=applied)
    console.print(data_table("Messages", ("file", "taken as"), rows))


def _read(path: Path) -> bytes | None:
    """A saved message, or None when it cannot be read (said in its row; the other files still apply)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        err_console.print(f"{path}: cannot read: {exc.strerror}", markup=False)
        return None


@app.command("mailbox")
@friendly_errors
def track_mailbox(
    every: Annotated[
        float | None, typer.Option(min=5, help="Keep reading, every this many seconds, until Ctrl-C.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many messages per read.")] = 1000,
    database_url: DatabaseOption = None,
) -> None:
    """Read new messages of the mailbox NOTIFIER_MAILBOX_URL (the Reply-To inbox, a bounce mailbox):
    bounces are applied, auto-replies recorded, customers' replies queued for support. The mailbox is only
    read; a restart goes on after the last message read, never twice."""
    settings = settings_from(database_url)
    if settings.mailbox is None:
        raise ConfigurationError(
            "no mailbox configured: set NOTIFIER_MAILBOX_URL=imaps://user:pass@host/INBOX"
        )
    store = store_for(settings)
    from notifier import stopping

    with stopping.on_signals(settings.stop_seconds):
        _read_until_stopped(store, settings, every, limit)


def _read_until_stopped(store: Store, settings: Settings, every: float | None, limit: int) -> None:
    """A read at a time (each ends with its checkpoint written); SIGTERM or Ctrl-C ends the wait between
    reads, or the loop after the read under way."""
    from notifier import stopping
    from notifier.cli.output import data_table, progress_bar
    from notifier.tracking.mailbox import read_mailbox

    assert settings.mailbox is not None
    while not stopping.requested():
        with progress_bar(console, "reading the mailbox", None) as update:
            run = read_mailbox(
                store,
                settings.mailbox,
                bounce_domain=settings.bounce_domain,
                limit=limit,
                progress=lambda done, _total: update(done),
            )
        rows = [
            ("messages read", run.read),
            ("bounces and complaints", run.bounces),
            ("replies queued for support", run.replies),
            ("auto-replies (recorded, not queued)", run.auto_replies),
            ("other (not ours, too large, unreadable)", run.other),
            ("already recorded (folder renumbered)", run.already_recorded),
            ("read up to UID", run.last_uid),
        ]
        console.print(data_table(f"Mailbox {run.mailbox}", ("", "count"), rows))
        if every is None:
            return
        stopped = threading.Event()
        with stopping.on_request(stopped.set):
            stopped.wait(every)
