"""``notifier campaign``: plan, launch, control, watch and report a notification campaign."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from notifier.errors import ConfigurationError, InputError
from notifier.models import Channel, ChannelPolicy, DeliveryPolicy

if TYPE_CHECKING:
    from notifier.audience.selection import FreezeResult, Selection
    from notifier.config import Settings
    from notifier.store import Store

app = typer.Typer(help="Plan, launch and watch a notification campaign.", no_args_is_help=True)


# The options of `campaign plan` that describe how it delivers (each parsed at the edge, in _delivery).
ChannelsOption = Annotated[
    str,
    typer.Option(
        help="Channels this campaign may use: email, sms, letter (a letter goes where it is the notice "
        "the law accepts, or nothing else reaches the person)."
    ),
]
PolicyOption = Annotated[
    str,
    typer.Option(
        help="all: every usable channel; email-first: SMS only without email (or if it fails); "
        "sms-first: email only without SMS (or if it fails)."
    ),
]
QuietHoursOption = Annotated[
    str, typer.Option(help="SMS only between these local hours of the recipient (09-20 or 09:00-20:00).")
]
RetryForOption = Annotated[
    str,
    typer.Option(
        help="Retry transient failures (SMTP 4xx, Twilio 429) this long after a "
        "message's first attempt, e.g. 30m, 12h, 2d."
    ),
]
UncertainEmailOption = Annotated[
    str,
    typer.Option(
        help="After a crash, emails whose fate is unknown: hold (for review) or resend (same Message-ID)."
    ),
]
TrackingWindowOption = Annotated[
    str,
    typer.Option(
        help="Await delivery reports this long after the campaign completes; then SMS with none are "
        "no_receipt (not reached), e.g. 72h."
    ),
]
OnlyOption = Annotated[
    str | None,
    typer.Option(
        help="With --not-reached-in, only these (comma list): bounced, undelivered, no_receipt, no_channel."
    ),
]


@app.command("plan")
@friendly_errors
def campaign_plan(
    name: Annotated[str, typer.Argument(help="A name for the campaign, e.g. 2026-11-leak-first-notice.")],
    incident: Annotated[str, typer.Option(help="The incident key (from `incident create`).")],
    affected_ids: Annotated[
        Path | None,
        typer.Option(help="File of affected external ids, one per line.", exists=True, dir_okay=False),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            help="SQL returning a column external_id (and, with --source-url, the customer columns)."
        ),
    ] = None,
    source_url: Annotated[
        str | None,
        typer.Option(
            envvar="NOTIFIER_SOURCE_URL", help="Read-only database to run --query on instead of the store."
        ),
    ] = None,
    saved: Annotated[
        str | None,
        typer.Option(help="A saved selection query by name (`notifier selections list`), not --query."),
    ] = None,
    not_reached_in: Annotated[
        str | None,
        typer.Option(
            help="A follow-up: the customers this (finished) campaign did not reach on any channel."
        ),
    ] = None,
    only: OnlyOption = None,
    channels: ChannelsOption = "email,sms",
    policy: PolicyOption = "all",
    notice: Annotated[
        str, typer.Option(help="breach_notice (first notice) or breach_update (follow-up).")
    ] = "breach_notice",
    quiet_hours: QuietHoursOption = "09-20",
    urgent: Annotated[str | None, typer.Option(help="Override SMS quiet hours; state why (audited).")] = None,
    retry_for: RetryForOption = "12h",
    uncertain_email: UncertainEmailOption = "hold",
    tracking_window: TrackingWindowOption = "72h",
    database_url: DatabaseOption = None,
) -> None:
    """Select the affected customers and freeze the manifest; prints the counts to check before launch."""
    from notifier.audience.selection import Selection
    from notifier.cli.output import progress_bar
    from notifier.notices.render import renderer_for
    from notifier.sending.campaigns import plan_campaign

    settings = settings_from(database_url)
    channel_set, channel_policy, delivery = _delivery(
        channels, policy, quiet_hours, urgent, uncertain_email, retry_for, tracking_window
    )
    store = store_for(settings)
    user = signed_in(store, Action.CAMPAIGN_PLAN)
    selection = Selection(
        ids_file=affected_ids,
        query=query,
        source_url=source_url,
        not_reached_in=not_reached_in,
        not_reached_kinds=frozenset(k.strip() for k in (only or "").split(",") if k.strip()),
        access=settings.selection,
    )
    if saved is not None:
        selection = _saved_selection(store, settings, selection, saved)
    selected = 0

    def advance_by(n: int) -> None:
        nonlocal selected
        selected += n
        advance(selected)

    with progress_bar(console, "selecting affected customers", total=None) as advance:
        result = plan_campaign(
            store,
            name=name,
            incident_key=incident,
            selection=selection,
            channels=channel_set,
            policy=channel_policy,
            locales=renderer_for(settings.templates_dir, settings.locales_dir, notice).locales,
            actor=user.username,
            progress=advance_by,
            notice=notice,
            delivery=delivery,
            templates_dir=settings.templates_dir,
        )
    _print_plan(store, settings, name, result)


def _delivery(
    channels: str,
    policy: str,
    quiet_hours: str,
    urgent: str | None,
    uncertain_email: str,
    retry_for: str,
    tracking_window: str,
) -> tuple[frozenset[Channel], ChannelPolicy, DeliveryPolicy]:
    """How the campaign delivers, from the words of the options; one line naming every option if wrong."""
    try:
        return (
            frozenset(Channel(c.strip()) for c in channels.split(",") if c.strip()),
            ChannelPolicy(policy),
            DeliveryPolicy.from_options(
                quiet_hours=quiet_hours,
                urgent=urgent,
                uncertain_email=uncertain_email,
                retry_for=retry_for,
                tracking_window=tracking_window,
            ),
        )
    except ValueError as exc:
        raise ConfigurationError(
            f"{exc}; --channels email,sms,letter; --policy all|email-first|sms-first; --quiet-hours 09-20; "
            "--uncertain-email hold|resend; --retry-for 12h; --tracking-window 72h"
        ) from exc


def _saved_selection(store: Store, settings: Settings, selection: Selection, saved: str) -> Selection:
    """The selection with the saved query ``saved`` in place of --query."""
    from notifier.audience.saved import saved_selection, selection_of

    if selection.query is not None:
        raise InputError("--saved names a saved query: give it or --query, not both")
    chosen = selection_of(
        saved_selection(store, saved), source_url=selection.source_url, access=settings.selection
    )
    return replace(selection, query=chosen.query, source_url=chosen.source_url, saved_as=chosen.saved_as)


def _print_plan(store: Store, settings: Settings, name: str, result: FreezeResult) -> None:
    """What to check before launch: problems, the manifest's counts, and what stands in the way."""
    from notifier.cli.output import manifest_tables
    from notifier.sending.campaigns import campaign_status, legal_notice_gaps, translation_gaps

    for problem in result.problems[:50]:
        console.print(problem, style="yellow", markup=False, highlight=False)
    manifest = campaign_status(store, name).manifest
    for table in manifest_tables(manifest):
        console.print(table)
    if result.already_notified:
        console.print(
            f"{result.already_notified} customers already got this notice of the incident in an earlier "
            "campaign: not sent again (already_notified)",
            markup=False,
            highlight=False,
        )
    for line in [
        *translation_gaps(store, settings, name),
        *legal_notice_gaps(manifest, settings.templates_dir),
    ]:
        err_console.print(line, style="red", markup=False, highlight=False)


@app.command("test-send")
@friendly_errors
def campaign_test_send(
    name: Annotated[str, typer.Argument(help="The planned campaign.")],
    to: Annotated[
        list[str],
        typer.Option(
            help="A seed address or E.164 phone number (repeatable): gets every version of its channel."
        ),
    ],
    database_url: DatabaseOption = None,
) -> None:
    """Send every version the campaign sends (each notice language × jurisdiction profile, per channel) to a
    seed list through the real channels. Marked as a test and audited; never counted as notifying anyone."""
    from notifier.sending.preview import send_to_seeds

    settings = settings_from(database_url)
    store = store_for(settings)
    user = signed_in(store, Action.CAMPAIGN_TEST_SEND)
    sends = send_to_seeds(store, settings, name, to, actor=user.username)
    failed = sum(not s.sent for s in sends)
    for send in sends:
        (console if send.sent else err_console).print(str(send), markup=False, highlight=False)
    console.print(f"{len(sends) - failed} test messages sent, {failed} failed", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("launch")
@friendly_errors
def campaign_launch(
    name: Annotated[str, typer.Argument(help="The planned campaign.")],
    direct: Annotated[bool, typer.Option("--direct", help="Send in this process without Prefect.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Send everything due (through the notify-customers Prefect flow). Safe to repeat: nothing goes twice."""
    from dataclasses import asdict

    from notifier import stopping
    from notifier.cli.output import delivery_progress, outbox_table
    from notifier.sending.campaigns import campaign_status, get_campaign, legal_notice_gaps
    from notifier.sending.pipeline import BatchResult
    from notifier.sending.runner import launch, rows_by_state

    settings = settings_from(database_url)
    store = store_for(settings)
    user = signed_in(store, Action.CAMPAIGN_CONTROL)

    def say(line: str) -> None:
        err_console.print(line, markup=False, highlight=False)

    for line in legal_notice_gaps(campaign_status(store, name).manifest, settings.templates_dir):
        err_console.print(line, style="red", markup=False, highlight=False)

    # SIGTERM or Ctrl-C: drain (no new claims, what is in the provider's hands recorded, the rest given
    # back), say so in one line and exit 0; a second signal stops at once (notifier.stopping).
    with stopping.on_signals(settings.stop_seconds, say=say):
        if direct:
            with delivery_progress(console, rows_by_state(store, get_campaign(store, name).id)) as progress:
                totals = launch(
                    store, settings, name, actor=user.username, progress=progress, on_record=progress.add
                )
            this_run = asdict(totals)
        else:
            from notifier.orchestration import run_flow

            this_run = run_flow("notify-customers", settings, campaign=name, actor=user.username)["this_run"]
    if stopping.requested():
        say(f"{BatchResult(**this_run).stopped_line()}; `notifier campaign launch {name}` goes on")
        return
    console.print(f"this run: {BatchResult(**this_run)}")
    console.print(outbox_table(campaign_status(store, name)))


@app.command("reconcile")
@friendly_errors
def campaign_reconcile(
    name: Annotated[str | None, typer.Argument(help="The campaign; leave out with --all.")] = None,
    every_campaign: Annotated[
        bool, typer.Option("--all", help="Every launched campaign with something left to settle.")
    ] = False,
    silent_after: Annotated[
        str, typer.Option(help="Ask Twilio about SMS accepted this long ago with no final status, e.g. 30m.")
    ] = "30m",
    database_url: DatabaseOption = None,
) -> None:
    """Settle what tracking left open, without a relaunch: uncertain rows by policy, silent SMS asked of
    Twilio, released fallbacks sent, and after the tracking window SMS with no report as no_receipt."""
    from notifier.cli.output import data_table
    from notifier.models import parse_duration
    from notifier.reports.integrity import seal_all
    from notifier.tracking.reconcile import campaigns_to_reconcile, reconcile

    if (name is None) == (not every_campaign):
        raise ConfigurationError("name one campaign, or give --all (not both)")
    try:
        silent = parse_duration(silent_after, what="--silent-after")
    except ValueError as exc:
        raise ConfigurationError(f"{exc} (e.g. 30m, 2h)") from None
    settings = settings_from(database_url)
    store = store_for(settings)
    user = signed_in(store, Action.CAMPAIGN_CONTROL)
    names = campaigns_to_reconcile(store) if every_campaign else [name or ""]
    rows = []
    for campaign in names:
        done = reconcile(store, settings, campaign, actor=user.username, silent_after=silent)
        rows.append(
            (
                campaign,
                ", ".join(f"{k} {v}" for k, v in done.uncertain_settled.items()) or "-",
                f"{done.silent_settled}/{done.silent_asked}"
                + (f" ({done.ask_failed} failed)" if done.ask_failed else ""),
                done.sent.accepted,
                done.send_refused or "-",
                done.no_receipt,
                f"{done.window_closes:%Y-%m-%d %H:%M} UTC" if done.window_closes else "not completed",
            )
        )
    console.print(
        data_table(
            "Reconciliation",
            (
                "campaign",
                "uncertain settled",
                "silent SMS settled/asked",
                "sent",
                "not sent because",
                "no_receipt",
                "tracking window closes",
            ),
            rows,
        )
    )
    if not names:
        console.print("nothing to reconcile", markup=False)
    sealed = seal_all(store)
    console.print(
        "sealed in the hash chains: " + ", ".join(f"{c} {n:,}" for c, n in sealed.items()), markup=False
    )


def _control(name: str, action: str, reason: str, database_url: str | None) -> None:
    from notifier.sending.campaigns import control

    store = store_for(settings_from(database_url))
    user = signed_in(store, Action.CAMPAIGN_CONTROL)
    state = control(store, name, action, actor=user.username, reason=reason)
    console.print(f"campaign {name!r} is now {state}", markup=False, highlight=False)


@app.command("pause")
@friendly_errors
def campaign_pause(name: str, reason: ReasonOption = "", database_url: DatabaseOption = None) -> None:
    """Stop sending after the current batch; `campaign resume` continues where it stopped."""
    _control(name, "pause", reason, database_url)


@app.command("resume")
@friendly_errors
def campaign_resume(name: str, reason: ReasonOption = "", database_url: DatabaseOption = None) -> None:
    """Make a paused campaign launchable again (then run `campaign launch`)."""
    _control(name, "resume", reason, database_url)


@app.command("cancel")
@friendly_errors
def campaign_cancel(name: str, reason: ReasonOption = "", database_url: DatabaseOption = None) -> None:
    """Stop for good: every row not yet handed to a provider becomes skipped."""
    _control(name, "cancel", reason, database_url)


@app.command("status")
@friendly_errors
def campaign_status_cmd(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Manifest counts and outbox states of a campaign, with the countdown to each notification deadline
    of its incident that is still open."""
    from notifier.cli.output import manifest_tables, outbox_table
    from notifier.clock import utcnow
    from notifier.notices.deadlines import earliest_per_recipient, incident_deadlines
    from notifier.sending.campaigns import campaign_status, get_campaign

    settings = settings_from(database_url)
    store = store_for(settings)
    signed_in(store, Action.CAMPAIGN_VIEW)
    status = campaign_status(store, name)
    key = str(get_campaign(store, name).facts["key"])
    obligations = [o for o in incident_deadlines(store, settings, key, utcnow()) if o.applies]
    if as_json:
        data = {**status.as_dict(), "deadlines": [o.as_dict() for o in obligations]}
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    for table in manifest_tables(status.manifest):
        console.print(table)
    console.print(outbox_table(status))
    for o in earliest_per_recipient(obligations):
        due = f"due {o.due:%Y-%m-%d %H:%M} UTC" if o.due else o.duration
        console.print(
            f"deadline: {o.recipient} ({o.rule_id}): {o.countdown}, {due}",
            style="red" if o.status.value == "overdue" else None,
            markup=False,
            highlight=False,
        )
    for line in status.providers_down:
        console.print(
            f"paused: {line}; its messages wait and are sent once it answers", style="yellow", markup=False
        )


@app.command("report")
@friendly_errors
def campaign_report(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    out: Annotated[Path, typer.Option(help="Directory for the report files.")] = Path("var/reports"),
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format", help="html (summary, charts, not reached), csv (every message), json; repeat."
        ),
    ] = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show emails and phones in full (audited; needs --reason).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why the contacts must be shown (for the audit log).")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Write the delivery report: summary first (reached, not reached, by channel, language and
    jurisdiction, failure reasons, timeline and charts, deadlines) in HTML, every message in CSV."""
    from notifier.reports.delivery import Reveal, write_delivery_report

    settings = settings_from(database_url)
    store = store_for(settings)
    who = signed_in(store, Action.CONTACTS_REVEAL if reveal else Action.CAMPAIGN_VIEW).username
    paths = write_delivery_report(
        store,
        name,
        out,
        formats=formats or ("html", "csv"),
        reveal=Reveal(who, reason) if reveal else None,
        actor=who,
        settings=settings,
    )
    for kind, path in paths.items():
        console.print(f"{kind}: {path}", markup=False, highlight=False)
    if reveal:
        err_console.print(
            "contacts are shown in full in these files; the reveal is in the audit log", style="yellow"
        )


@app.command("held")
@friendly_errors
def campaign_held(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    database_url: DatabaseOption = None,
) -> None:
    """List the rows a crash left uncertain and that wait for review (contacts masked)."""
    from notifier.cli.output import data_table
    from notifier.redact import mask_contact
    from notifier.sending.campaigns import get_campaign
    from notifier.store import queries as q

    store = store_for(settings_from(database_url))
    signed_in(store, Action.CAMPAIGN_VIEW)
    campaign = get_campaign(store, name)
    with store.connect() as conn:
        rows = q.uncertain_rows(conn, campaign.id)
    table = data_table(
        f"Held for review in {name}: {len(rows)} rows whose fate a crash left unknown",
        ("row", "channel", "contact", "attempts", "handed over at"),
        [
            (r.id, r.channel, mask_contact(r.email or r.phone), r.attempts, r.handed_over_at or "-")
            for r in rows
        ],
    )
    console.print(table)
    if rows:
        console.print(
            "after checking: `notifier campaign release NAME --resend|--mark-sent --reason …`", markup=False
        )


@app.command("release")
@friendly_errors
def campaign_release(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    resend: Annotated[bool, typer.Option("--resend", help="Not received: send them again.")] = False,
    mark_sent: Annotated[bool, typer.Option("--mark-sent", help="Received: count them as accepted.")] = False,
    rows: Annotated[
        str | None, typer.Option(help="Only these row numbers (from `campaign held`), e.g. 12,40.")
    ] = None,
    reason: ReasonOption = "",
    database_url: DatabaseOption = None,
) -> None:
    """Release rows held for review after a crash: resend them, or mark them sent. Audited with why."""
    from notifier.sending.campaigns import get_campaign
    from notifier.sending.uncertain import Release, release_uncertain

    if resend == mark_sent:
        raise ConfigurationError("say either --resend or --mark-sent")
    try:
        row_ids = {int(r) for r in rows.split(",") if r.strip()} if rows else None
    except ValueError:
        raise ConfigurationError(
            f"--rows {rows!r}: give row numbers separated by commas, e.g. 12,40"
        ) from None
    store = store_for(settings_from(database_url))
    user = signed_in(store, Action.CAMPAIGN_CONTROL)
    decision = Release.RESEND if resend else Release.MARK_SENT
    settled = release_uncertain(
        store,
        get_campaign(store, name),
        decision,
        actor=user.username,
        reason=reason,
        row_ids=row_ids,
    )
    done = ", ".join(f"{n} {state}" for state, n in settled.items()) or "nothing was held"
    console.print(
        f"released: {done}; run `notifier campaign launch {name}` to send what is pending", markup=False
    )
