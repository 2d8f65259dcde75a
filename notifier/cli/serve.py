"""``notifier serve``: the web console and the provider webhooks, in one process or apart."""

from __future__ import annotations

import logging
import os
import secrets
import signal
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from starlette.types import ASGIApp

if TYPE_CHECKING:
    import uvicorn

from notifier.cli.common import DatabaseOption, err_console, friendly_errors, settings_from, store_for
from notifier.config import Settings
from notifier.errors import ConfigurationError
from notifier.models import Channel
from notifier.store import Store

PARTS = ("all", "hooks", "console")


@friendly_errors
def serve(
    public_url: Annotated[
        str,
        typer.Option(
            help="How browsers and Twilio reach this server, e.g. https://notify.example.com (Twilio's "
            "signatures cover it; https also marks the console's cookies Secure)."
        ),
    ] = "http://127.0.0.1:8089",
    only: Annotated[
        str,
        typer.Option(
            help="all, hooks (the webhooks that face the internet) or console (the people's pages)."
        ),
    ] = "all",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8089,
    database_url: DatabaseOption = None,
) -> None:
    """Serve the web console (sign in, legal review, campaigns, support, admin) and the webhooks providers
    call: POST /twilio/status (the SMS URL's status_callback is PUBLIC_URL/twilio/status), POST
    /twilio/inbound (your numbers' incoming-message webhook), GET /healthz. The webhooks face the
    internet and the console should not have to: run them apart with --only hooks and --only console.

    Webhooks are verified with the auth token of the SMS channel URL (NOTIFIER_SMS_URL); console sessions
    are signed with NOTIFIER_SECRET_KEY. With PREFECT_API_URL set, the console's Launch starts a run of
    that server's notify-customers deployment; without, the console's process sends."""
    import uvicorn

    if only not in PARTS:
        raise ConfigurationError(f"--only {only!r}: use one of {', '.join(PARTS)}")
    settings = settings_from(database_url)
    store = store_for(settings)
    hooks = _hooks(store, settings, public_url) if only in ("all", "hooks") else None
    prefect_api_url = os.environ.get("PREFECT_API_URL") or None
    console = _console(store, settings, public_url, prefect_api_url) if only in ("all", "console") else None
    from notifier.console.dispatch import by_path

    logging.basicConfig(level=logging.INFO)
    config = uvicorn.Config(
        by_path(hooks, console, store=store),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        # Forwarded headers only from the proxies named (uvicorn would believe 127.0.0.1 by default: then
        # anyone on the host, or a proxy passing the header through, picks the client address that the
        # sign-in throttle counts and the audit log records).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        # SIGTERM: no new connections; the requests in flight (a status callback waits for its batch's
        # commit) are answered first, for at most this long.
        timeout_graceful_shutdown=int(settings.stop_seconds),
    )
    server = _server(config)
    # uvicorn signals itself again once it has shut down, to die of the signal; what it finds then is
    # this handler, so a drained service exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    if server.should_exit:
        err_console.print("stopped: every request in flight was answered", markup=False, highlight=False)


def _server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, where a second SIGTERM (not only a second Ctrl-C) stops at once."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit:
                self.force_exit = True
            super().handle_exit(sig, frame)

    return Server(config)


def _hooks(store: Store, settings: Settings, public_url: str) -> ASGIApp:
    from notifier.tracking.app import tracking_app

    token = settings.channel(Channel.SMS).password
    if not token:
        raise ConfigurationError(
            "NOTIFIER_SMS_URL has no auth token (twilio://ACCOUNT_SID:AUTH_TOKEN@api?...)"
        )
    return tracking_app(
        store, auth_token=token, public_base_url=public_url, templates_dir=settings.templates_dir
    )


def _console(store: Store, settings: Settings, public_url: str, prefect_api_url: str | None) -> ASGIApp:
    from notifier.console.app import console_app

    key = settings.secret_key
    if not key:
        key = secrets.token_hex(32)
        err_console.print(
            "NOTIFIER_SECRET_KEY is not set: using a random key (every session ends when this stops)",
            style="yellow",
        )
    return console_app(
        store,
        settings,
        secret_key=key,
        secure_cookies=public_url.startswith("https://"),
        prefect_api_url=prefect_api_url,
    )
