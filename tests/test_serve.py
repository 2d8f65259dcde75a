"""``notifier serve``: the webhooks and the console in one process or apart (``--only``), and the console's
session cookie Secure behind https."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
from helpers import customer, planned_campaign

from notifier.accounts.users import add_user
from notifier.config import Settings
from notifier.console.app import console_app
from notifier.console.dispatch import by_path
from notifier.models import Channel
from notifier.sending.campaigns import campaign_status
from notifier.store import Store
from notifier.testing.smtp import free_port
from notifier.tracking.app import tracking_app

PASSWORD = "console test passphrase"
BASE = "https://h.example"


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)  # type: ignore[arg-type]


async def test_hooks_and_console_share_a_process_or_run_apart(store: Store, settings: Settings) -> None:
    console = console_app(store, settings, secret_key="k" * 64, secure_cookies=True)
    hooks = tracking_app(
        store, auth_token="t" * 32, public_base_url=BASE, templates_dir=settings.templates_dir
    )
    for app, hook_status, page_status in (
        (by_path(hooks, console, store=store), 415, 200),
        (by_path(hooks, None, store=store), 415, 404),
        (by_path(None, console, store=store), 404, 200),
    ):
        async with _client(app) as client:
            assert (await client.post("/twilio/status")).status_code == hook_status  # unsigned: refused
            assert (await client.get("/login")).status_code == page_status
            health = await client.get("/healthz")  # every part has one, and it tells nothing else
            assert health.status_code == 200 and health.json() == {"status": "up"}


async def test_behind_https_the_session_cookie_is_secure_http_only_and_same_site(
    store: Store, settings: Settings
) -> None:
    add_user(store, "ada", display_name="Ada", roles=["admin"], password=PASSWORD, actor="tests")
    console = console_app(store, settings, secret_key="k" * 64, secure_cookies=True)
    async with _client(console) as client:
        answer = await client.post(
            "/login", data={"username": "ada", "password": PASSWORD}, headers={"Origin": BASE}
        )
    assert answer.status_code == 303
    assert {"Secure", "HttpOnly", "SameSite=lax"} <= {
        p.strip() for p in answer.headers["set-cookie"].split(";")
    }


async def test_a_launch_the_prefect_server_does_not_take_says_so_and_sends_nothing(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.EMAIL}))
    add_user(store, "casey", display_name="Casey", roles=["comms"], password=PASSWORD, actor="tests")
    nobody_there = f"http://127.0.0.1:{free_port()}/api"
    console = console_app(
        store, settings, secret_key="k" * 64, secure_cookies=True, prefect_api_url=nobody_there
    )
    async with _client(console) as client:
        await client.post(
            "/login", data={"username": "casey", "password": PASSWORD}, headers={"Origin": BASE}
        )
        answer = await client.post(
            "/campaigns/test-campaign/control", data={"action": "launch"}, headers={"Origin": BASE}
        )
    assert answer.status_code == 503, answer.text
    assert "did not start the notify-customers run" in answer.text
    assert "nothing was sent" in answer.text
    assert campaign_status(store, "test-campaign").state == "planned"


async def test_a_console_without_the_campaigns_channel_refuses_to_launch_it_in_its_own_process(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.EMAIL}))
    add_user(store, "casey", display_name="Casey", roles=["comms"], password=PASSWORD, actor="tests")
    no_email = replace(settings, email_url=None)
    console = console_app(store, no_email, secret_key="k" * 64, secure_cookies=True)
    async with _client(console) as client:
        signed_in = {"username": "casey", "password": PASSWORD}
        await client.post("/login", data=signed_in, headers={"Origin": BASE})
        answer = await client.post(
            "/campaigns/test-campaign/control", data={"action": "launch"}, headers={"Origin": BASE}
        )
    assert answer.status_code == 503 and "set NOTIFIER_EMAIL_URL where it runs" in answer.text
    assert campaign_status(store, "test-campaign").state == "planned"  # not left running, unsent
    async with _client(console) as client:
        await client.post("/login", data=signed_in, headers={"Origin": BASE})
        for action in ("pause", "resume"):
            answer = await client.post(
                "/campaigns/test-campaign/control", data={"action": action}, headers={"Origin": BASE}
            )
    assert answer.status_code == 503 and "resumed (the campaign is planned again" in answer.text
    assert campaign_status(store, "test-campaign").state == "planned"
