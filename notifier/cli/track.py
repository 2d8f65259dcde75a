"""``notifier track``: receive delivery status from providers (Twilio callbacks, bounces)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.common import DatabaseOption, console, friendly_errors, settings_from, store_for
from notifier.errors import ConfigurationError
from notifier.models import Channel

app = typer.Typer(
    help="Receive delivery status from providers: Twilio callbacks, bounces.", no_args_is_help=True
)
BounceDomainOption = Annotated[str, typer.Option(help="The bounce_domain of the email channel URL.")]


@app.command("serve")
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
    """Serve POST /twilio/status (set the SMS URL's status_callback to PUBLIC_URL/twilio/status).

    Callbacks are verified with the auth token of the SMS channel URL (NOTIFIER_SMS_URL)."""
    import uvicorn

    from notifier.tracking.twilio_status import tracking_app

    settings = settings_from(database_url)
    token = settings.channel(Channel.SMS).password
    if not token:
        raise ConfigurationError(
            "NOTIFIER_SMS_URL has no auth token (twilio://ACCOUNT_SID:AUTH_TOKEN@api?...)"
        )
    app_ = tracking_app(store_for(settings), auth_token=token, public_base_url=public_url)
    uvicorn.run(app_, host=host, port=port, log_level="info", access_log=False)


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

    store = store_for(settings_from(database_url))
    rows = []
    for path in files:
        outcome = apply_bounce(store, path.read_bytes(), bounce_domain=domain)
        rows.append((path.name, outcome.category, outcome.token or "-", outcome.action))
    console.print(data_table("Bounces", ("file", "kind", "message", "action"), rows))
