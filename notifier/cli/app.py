"""The ``notifier`` command line: the comms team's and support's way in.

Every command takes its configuration from options or ``NOTIFIER_*`` environment variables, builds one
Settings object, and calls library functions; errors are printed as one clear line, not a traceback."""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from notifier.config import Settings
from notifier.errors import ConfigurationError, NotifierError

app = typer.Typer(
    help="Tell every customer affected by a data breach what happened, in their language, and prove who "
    "was told.\n\nStart with `notifier demo`. Real use: `db upgrade` → `customers import` → `incident create` → "
    "`campaign plan` (check the counts) → `campaign launch` → `campaign status` / `campaign report`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)
customers_app = typer.Typer(help="Load and validate customers.", no_args_is_help=True)
incident_app = typer.Typer(help="Record the facts of an incident.", no_args_is_help=True)
campaign_app = typer.Typer(help="Plan, launch and watch a notification campaign.", no_args_is_help=True)
templates_app = typer.Typer(
    help="Check, proof and approve notice templates (legal's four-eyes review).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(customers_app, name="customers")
app.add_typer(incident_app, name="incident")
app.add_typer(campaign_app, name="campaign")
app.add_typer(templates_app, name="templates")

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


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _settings(database_url: str | None) -> Settings:
    settings = Settings.from_env()
    return replace(settings, database_url=database_url) if database_url else settings


def _store(settings: Settings) -> Any:
    from notifier.store import Store

    return Store(settings.database_url)


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


@app.command()
@friendly_errors
def demo(
    customers: Annotated[int, typer.Option(help="How many demo customers to seed.")] = 3000,
    var_dir: Annotated[Path, typer.Option(help="Working directory for the demo's store and files.")] = Path(
        "var"
    ),
) -> None:
    """Run everything end to end on the embedded default: SQLite, local SMTP and Twilio stand-ins, demo data."""
    from notifier.orchestration import apply_prefect_defaults

    var_dir = var_dir.resolve()
    apply_prefect_defaults(var_dir)
    from notifier.demo.run import run_demo

    summary = run_demo(var_dir, customers=customers, console=console)
    if summary["second_run"]["accepted"] != 0 or summary["eml_files"] != summary["emails_accepted"]:
        err_console.print("[red]demo check failed: see var/demo-summary.json")
        raise typer.Exit(1)


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Create or migrate the store's tables (Alembic) to the latest version."""
    settings = _settings(database_url)
    store = _store(settings)
    store.upgrade(settings.migrations_dir)
    console.print(f"store is up to date: {store!r}")


@customers_app.command("import")
@friendly_errors
def customers_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="UTF-8 CSV with a header: external_id,name,email,phone,locale,"
            "time_zone,country,region,email_opt_out,sms_opt_out",
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

    store = _store(_settings(database_url))
    with progress_bar(console, f"importing {file.name}", total=file.stat().st_size) as advance:
        report = import_customers(store, file, progress=advance)
    console.print(import_report_table(report, limit=show))


@incident_app.command("create")
@friendly_errors
def incident_create(
    file: Annotated[
        Path, typer.Argument(help="JSON file of incident facts (see docs/incidents.md).", exists=True)
    ],
    database_url: DatabaseOption = None,
    actor: ActorOption = "",
) -> None:
    """Record an incident, after checking its facts render a complete notice in every language."""
    from notifier.sending.campaigns import create_incident, load_incident_file

    settings = _settings(database_url)
    facts = load_incident_file(file)
    incident_id = create_incident(_store(settings), settings, facts, actor=actor or _actor())
    console.print(f"incident {facts.get('key')!r} recorded (id {incident_id})")


@campaign_app.command("plan")
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
    channels: Annotated[str, typer.Option(help="Channels this campaign may use.")] = "email,sms",
    policy: Annotated[
        str, typer.Option(help="all: every usable channel; email-first: SMS only without email.")
    ] = "all",
    notice: Annotated[
        str, typer.Option(help="breach_notice (first notice) or breach_update (follow-up).")
    ] = "breach_notice",
    quiet_hours: Annotated[
        str, typer.Option(help="SMS only between these local hours of the recipient.")
    ] = "09-20",
    urgent: Annotated[str | None, typer.Option(help="Override SMS quiet hours; state why (audited).")] = None,
    uncertain_email: Annotated[
        str,
        typer.Option(
            help="After a crash, emails whose fate is unknown: hold (for review) or resend (same Message-ID)."
        ),
    ] = "hold",
    database_url: DatabaseOption = None,
    actor: ActorOption = "",
) -> None:
    """Select the affected customers and freeze the manifest; prints the counts to check before launch."""
    from notifier.audience.selection import Selection
    from notifier.cli.output import manifest_tables, progress_bar
    from notifier.models import Channel, ChannelPolicy, DeliveryPolicy
    from notifier.sending.campaigns import campaign_status, plan_campaign
    from notifier.sending.runner import renderer_for

    settings = _settings(database_url)
    try:
        channel_set = frozenset(Channel(c.strip()) for c in channels.split(",") if c.strip())
        channel_policy = ChannelPolicy(policy)
    except ValueError as exc:
        raise ConfigurationError(f"{exc}; channels are email,sms and policy is all or email-first") from exc
    try:
        start, _, end = quiet_hours.partition("-")
        delivery = DeliveryPolicy(
            quiet_start=int(start.split(":")[0]),
            quiet_end=int(end.split(":")[0]),
            urgent_reason=urgent,
            uncertain_email=uncertain_email,
        )
    except ValueError as exc:
        raise ConfigurationError(f"--quiet-hours 09-20, --uncertain-email hold|resend: {exc}") from exc
    store = _store(settings)
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
            selection=Selection(ids_file=affected_ids, query=query, source_url=source_url),
            channels=channel_set,
            policy=channel_policy,
            locales=renderer_for(settings.templates_dir, settings.locales_dir, notice).locales,
            actor=actor or _actor(),
            progress=advance_by,
            notice=notice,
            delivery=delivery,
        )
    for problem in result.problems[:50]:
        console.print(f"[yellow]{problem}", highlight=False)
    for table in manifest_tables(campaign_status(store, name).manifest):
        console.print(table)


@campaign_app.command("launch")
@friendly_errors
def campaign_launch(
    name: Annotated[str, typer.Argument(help="The planned campaign.")],
    direct: Annotated[bool, typer.Option("--direct", help="Send in this process without Prefect.")] = False,
    database_url: DatabaseOption = None,
    actor: ActorOption = "",
) -> None:
    """Send everything due (through the notify-customers Prefect flow). Safe to repeat: nothing is sent twice."""
    from notifier.cli.output import outbox_table
    from notifier.sending.campaigns import campaign_status, get_campaign
    from notifier.sending.runner import launch, rows_by_state, send_window

    settings = _settings(database_url)
    if direct:
        from notifier.cli.output import delivery_progress

        store = _store(settings)
        with delivery_progress(console, rows_by_state(store, get_campaign(store, name).id)) as progress:
            totals = launch(
                store,
                settings,
                name,
                lambda chs: send_window(settings, name, chs, on_record=progress.add),
                actor=actor or _actor(),
                progress=progress,
            )
        console.print(f"this run: {totals}")
    else:
        from notifier.orchestration import apply_prefect_defaults

        apply_prefect_defaults(settings.var_dir)
        import os

        os.environ.setdefault("NOTIFIER_DATABASE_URL", settings.database_url)
        from flows.notify_customers import notify_customers

        result = notify_customers(campaign=name, actor=actor or _actor())
        console.print(f"this run: {result['this_run']}")
        store = _store(settings)
    console.print(outbox_table(campaign_status(store, name)))


def _control(name: str, action: str, reason: str, database_url: str | None, actor: str) -> None:
    from notifier.sending.campaigns import control

    state = control(_store(_settings(database_url)), name, action, actor=actor or _actor(), reason=reason)
    console.print(f"campaign {name!r} is now {state}")


ReasonOption = Annotated[str, typer.Option(help="Why (recorded in the audit log).")]


@campaign_app.command("pause")
@friendly_errors
def campaign_pause(
    name: str, reason: ReasonOption = "", database_url: DatabaseOption = None, actor: ActorOption = ""
) -> None:
    """Stop sending after the current batch; `campaign resume` continues where it stopped."""
    _control(name, "pause", reason, database_url, actor)


@campaign_app.command("resume")
@friendly_errors
def campaign_resume(
    name: str, reason: ReasonOption = "", database_url: DatabaseOption = None, actor: ActorOption = ""
) -> None:
    """Make a paused campaign launchable again (then run `campaign launch`)."""
    _control(name, "resume", reason, database_url, actor)


@campaign_app.command("cancel")
@friendly_errors
def campaign_cancel(
    name: str, reason: ReasonOption = "", database_url: DatabaseOption = None, actor: ActorOption = ""
) -> None:
    """Stop for good: every row not yet handed to a provider becomes skipped."""
    _control(name, "cancel", reason, database_url, actor)


@campaign_app.command("status")
@friendly_errors
def campaign_status_cmd(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Manifest counts and outbox states of a campaign."""
    from notifier.cli.output import manifest_tables, outbox_table
    from notifier.sending.campaigns import campaign_status

    status = campaign_status(_store(_settings(database_url)), name)
    if as_json:
        sys.stdout.write(json.dumps(status.as_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    for table in manifest_tables(status.manifest):
        console.print(table)
    console.print(outbox_table(status))


@campaign_app.command("report")
@friendly_errors
def campaign_report(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    out: Annotated[Path, typer.Option(help="Directory for the CSV and HTML report.")] = Path("var/reports"),
    database_url: DatabaseOption = None,
) -> None:
    """Write the delivery report (CSV + HTML): every customer, every channel, state, and who was not reached."""
    from notifier.reports.delivery import write_delivery_report
    from notifier.sending.campaigns import get_campaign
    from notifier.store import queries as q

    store = _store(_settings(database_url))
    campaign = get_campaign(store, name)
    with store.connect() as conn:
        csv_path, html_path = write_delivery_report(q.delivery_report_rows(conn, campaign.id), out, name)
    console.print(f"wrote {csv_path} and {html_path}")


track_app = typer.Typer(
    help="Receive delivery status from providers: Twilio callbacks, bounces.", no_args_is_help=True
)
app.add_typer(track_app, name="track")


@track_app.command("serve")
@friendly_errors
def track_serve(
    public_url: Annotated[
        str,
        typer.Option(
            help="How Twilio reaches this server, e.g. https://hooks.example.com (signatures cover it)."
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8089,
    database_url: DatabaseOption = None,
) -> None:
    """Serve POST /twilio/status (set the SMS URL's status_callback to PUBLIC_URL/twilio/status)."""
    import os

    import uvicorn

    from notifier.tracking.twilio_status import tracking_app

    token = os.environ.get("NOTIFIER_TWILIO_AUTH_TOKEN", "")
    if not token:
        raise ConfigurationError("set NOTIFIER_TWILIO_AUTH_TOKEN: callbacks are verified with it")
    app_ = tracking_app(_store(_settings(database_url)), auth_token=token, public_base_url=public_url)
    uvicorn.run(app_, host=host, port=port, log_level="info", access_log=False)


BounceDomainOption = Annotated[str, typer.Option(help="The bounce_domain of the email channel URL.")]


@track_app.command("bounces")
@friendly_errors
def track_bounces(
    domain: BounceDomainOption,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (25 as the bounce domain's MX).")] = 2525,
    database_url: DatabaseOption = None,
) -> None:
    """Receive bounces over SMTP for the bounce domain (its MX) and apply each one at once."""
    import time

    from notifier.tracking.bounces.intake import BounceReceiver

    with BounceReceiver(_store(_settings(database_url)), domain, host=host, port=port) as receiver:
        console.print(f"taking bounces for @{domain} on {host}:{port}; Ctrl-C stops")
        seen = 0
        try:
            while True:
                time.sleep(1)
                for outcome in receiver.outcomes[seen:]:
                    console.print(f"{outcome.category}: {outcome.action}", highlight=False, markup=False)
                seen = len(receiver.outcomes)
        except KeyboardInterrupt:
            pass


@track_app.command("bounce-files")
@friendly_errors
def track_bounce_files(
    files: Annotated[list[Path], typer.Argument(help="Bounce messages (.eml) from a plain mailbox.")],
    domain: BounceDomainOption,
    database_url: DatabaseOption = None,
) -> None:
    """Apply bounces saved from a mailbox: matched to our messages by the Message-ID they quote."""
    from rich.table import Table

    from notifier.tracking.bounces.intake import apply_bounce

    store = _store(_settings(database_url))
    table = Table(title="Bounces", title_justify="left")
    for column in ("file", "kind", "message", "action"):
        table.add_column(column)
    for path in files:
        outcome = apply_bounce(store, path.read_bytes(), bounce_domain=domain)
        table.add_row(path.name, outcome.category, outcome.token or "-", outcome.action)
    console.print(table)


NoticeOption = Annotated[str | None, typer.Option(help="Only this notice (breach_notice, breach_update).")]
LocaleOption = Annotated[str | None, typer.Option(help="Only this locale (en, ru, vi).")]
ChannelOption = Annotated[str | None, typer.Option(help="Only this channel (email, sms).")]


@templates_app.command("lint")
@friendly_errors
def templates_lint(notice: NoticeOption = None, locale: LocaleOption = None) -> None:
    """Check every notice × locale × channel × jurisdiction profile; exit 1 on any error."""
    from notifier.notices.lint import Linter

    settings = _settings(None)
    findings = Linter(settings.templates_dir, settings.locales_dir).run(notice=notice, locale=locale)
    for finding in findings:
        style = "red" if finding.severity == "error" else "yellow"
        console.print(f"[{style}]{finding}", highlight=False, soft_wrap=True)
    errors = sum(f.severity == "error" for f in findings)
    console.print(f"{errors} errors, {len(findings) - errors} warnings")
    if errors:
        raise typer.Exit(1)


@templates_app.command("proof")
@friendly_errors
def templates_proof(
    out: Annotated[Path, typer.Option(help="Directory for the proof pages and .eml files.")] = Path(
        "var/proof"
    ),
    facts: Annotated[str, typer.Option(help="Sample incident: complete or minimal.")] = "complete",
    database_url: DatabaseOption = None,
) -> None:
    """Write proof sheets (one HTML page per notice, every locale × channel × profile) and .eml files."""
    from notifier.notices.approval import statuses
    from notifier.notices.lint import Linter
    from notifier.notices.proof import write_proofs

    settings = _settings(database_url)
    store = _store(settings)
    status = statuses(store, settings, with_lint=False) if _has_store(store) else []
    pages = write_proofs(Linter(settings.templates_dir, settings.locales_dir), out, status, which=facts)
    for page in pages:
        console.print(f"wrote {page}")
    console.print(f".eml files in {out / 'eml'}")


def _has_store(store: Any) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(store.engine).has_table("approvals"))


@templates_app.command("submit")
@friendly_errors
def templates_submit(
    author: Annotated[str, typer.Option(help="Who edited the templates or catalogs (the last editor).")],
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    comment: Annotated[str, typer.Option(help="What changed.")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Record who edited the current version of each selected piece, so that someone else can approve it."""
    from notifier.notices.approval import pieces, submit

    settings = _settings(database_url)
    for line in submit(
        _store(settings),
        settings,
        pieces(settings, notice=notice, locale=locale, channel=channel),
        author=author,
        comment=comment,
    ):
        console.print(line)


def _decide(
    decision: str,
    approver: str,
    role: str,
    comment: str,
    notice: str | None,
    locale: str | None,
    channel: str | None,
    database_url: str | None,
) -> None:
    from notifier.notices.approval import approve, pieces

    settings = _settings(database_url)
    selected = pieces(settings, notice=notice, locale=locale, channel=channel)
    recorded, refused = approve(
        _store(settings), settings, selected, approver=approver, role=role, comment=comment, decision=decision
    )
    for line in recorded:
        console.print(f"[green]{line}", highlight=False)
    for line in refused:
        err_console.print(f"[red]{line}", highlight=False)
    if refused:
        raise typer.Exit(1)


ApproverOption = Annotated[str, typer.Option(help="Who decides (must not be the last editor).")]
RoleOption = Annotated[str, typer.Option(help="The approver's role, e.g. legal.")]


@templates_app.command("approve")
@friendly_errors
def templates_approve(
    approver: ApproverOption,
    role: RoleOption = "legal",
    comment: Annotated[str, typer.Option(help="Recorded with the approval.")] = "",
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Approve the current version (content hash) of each selected piece. Refused if it fails lint."""
    _decide("approved", approver, role, comment, notice, locale, channel, database_url)


@templates_app.command("reject")
@friendly_errors
def templates_reject(
    approver: ApproverOption,
    role: RoleOption = "legal",
    comment: Annotated[str, typer.Option(help="Why it is rejected.")] = "",
    notice: NoticeOption = None,
    locale: LocaleOption = None,
    channel: ChannelOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Reject the current version of each selected piece (recorded and audited)."""
    _decide("rejected", approver, role, comment, notice, locale, channel, database_url)


@templates_app.command("status")
@friendly_errors
def templates_status(database_url: DatabaseOption = None) -> None:
    """The approval matrix: approved / changed since approval / rejected / never approved / failing lint."""
    from rich.table import Table

    from notifier.notices.approval import statuses

    settings = _settings(database_url)
    rows = statuses(_store(settings), settings)
    colours = {
        "approved": "green",
        "changed since approval": "yellow",
        "rejected": "red",
        "never approved": "white",
        "failing lint": "red",
    }
    table = Table(title="Notice approvals (by content hash)", title_justify="left")
    for column in ("notice", "locale", "channel", "state", "hash"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail")
    for s in rows:
        table.add_row(
            s.piece.notice,
            s.piece.locale,
            s.piece.channel,
            f"[{colours[s.state]}]{s.state}",
            s.content_hash[:12],
            s.detail,
        )
    console.print(table)


if __name__ == "__main__":
    app()
