"""``notifier serve``: the tracking service (Twilio status callbacks, inbound SMS, health)."""

from __future__ import annotations

from typing import Annotated

import typer

from notifier.cli.common import DatabaseOption, friendly_errors, settings_from, store_for
from notifier.errors import ConfigurationError
from notifier.models import Channel


@friendly_errors
def serve(
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
    """Serve the webhooks providers call: POST /twilio/status (the SMS URL's status_callback is
    PUBLIC_URL/twilio/status), POST /twilio/inbound (your numbers' incoming-message webhook), GET /healthz.

    Requests are verified with the auth token of the SMS channel URL (NOTIFIER_SMS_URL)."""
    import uvicorn

    from notifier.tracking.app import tracking_app

    settings = settings_from(database_url)
    token = settings.channel(Channel.SMS).password
    if not token:
        raise ConfigurationError(
            "NOTIFIER_SMS_URL has no auth token (twilio://ACCOUNT_SID:AUTH_TOKEN@api?...)"
        )
    app_ = tracking_app(
        store_for(settings),
        auth_token=token,
        public_base_url=public_url,
        templates_dir=settings.templates_dir,
    )
    uvicorn.run(app_, host=host, port=port, log_level="info", access_log=False)
