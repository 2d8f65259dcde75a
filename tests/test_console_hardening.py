"""The console's doors, as an attacker with and without an account tries them: the session cookie
(``__Host-`` over https, a new one at each sign-in and the old one dead), bodies nobody asked for (refused
before they are read, and a stranger's before anything), ids past any integer, and the client address
behind a proxy (believed only from the proxies named)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from helpers import customer, planned_campaign
from sqlalchemy import select

from notifier.accounts.users import add_user
from notifier.config import Settings
from notifier.console.app import console_app
from notifier.console.security import FORM_LIMIT
from notifier.models import Channel
from notifier.store import Store
from notifier.store.schema import audit_log
from notifier.testing.smtp import free_port

BASE = "https://console.example"
PASSWORD = "console test passphrase"
CHUNK = 256 * 1024


def _app(store: Store, settings: Settings, *, secure: bool = True) -> object:
    return console_app(store, settings, secret_key="k" * 64, secure_cookies=secure)


def _client(app: object, base: str = BASE) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=base, headers={"Origin": base})


async def _sign_in(client: httpx.AsyncClient, who: str) -> httpx.Response:
    answer = await client.post("/login", data={"username": who, "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return answer


@pytest.fixture
def people(store: Store, settings: Settings, tmp_path: Path) -> None:
    planned_campaign(store, settings, tmp_path, [customer(1)], channels=frozenset({Channel.EMAIL}))
    for name, role in {"casey": "comms", "sam": "support", "ada": "admin"}.items():
        add_user(store, name, display_name=name, roles=[role], password=PASSWORD, actor="tests")


async def test_the_cookie_is_host_only_over_https_and_a_new_sign_in_ends_the_old_session(
    store: Store, settings: Settings, people: None
) -> None:
    app = _app(store, settings)
    async with _client(app) as browser:
        first = await _sign_in(browser, "casey")
        cookie = first.headers["set-cookie"]
        name, _, rest = cookie.partition("=")
        attributes = {p.strip().split("=")[0].lower() for p in rest.split(";")[1:]}
        assert name == "__Host-notifier_session"
        assert {"secure", "httponly", "path", "samesite"} <= attributes and "domain" not in attributes
        old = browser.cookies[name]
        await _sign_in(browser, "casey")  # the same browser signs in again: a new secret
        assert browser.cookies[name] != old
        assert (await browser.get("/campaigns")).status_code == 200
    async with _client(app) as stolen:  # whoever kept the old cookie has nothing any more
        stolen.cookies.set(name, old, domain="console.example")
        answer = await stolen.get("/campaigns")
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
    async with _client(_app(store, settings, secure=False), "http://console.example") as plain:
        answer = await _sign_in(plain, "casey")
        assert answer.headers["set-cookie"].startswith("notifier_session=")  # no __Host- without TLS


class _Body:
    """A request body of ``chunks`` pieces that counts how many the server asked for."""

    def __init__(self, chunks: int, head: bytes = b"") -> None:
        self.chunks, self.head, self.read = chunks, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for n in range(self.chunks):
            self.read += 1
            yield (self.head if n == 0 else b"") + b"x" * CHUNK


async def test_bodies_are_refused_before_they_are_read_and_a_strangers_before_anything(
    store: Store, settings: Settings, people: None
) -> None:
    app = _app(store, settings)
    multipart = {"content-type": "multipart/form-data; boundary=b"}
    big = 96 * 2**20 // CHUNK  # the 96 MB of the attack
    async with _client(app) as stranger:
        body = _Body(big, b"--b\r\nContent-Disposition: form-data; name=affected_ids; filename=a.csv\r\n\r\n")
        answer = await stranger.post("/campaigns/new", content=body, headers=multipart)  # type: ignore[arg-type]
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert body.read <= 1  # answered before its body was read
    async with _client(app) as casey:
        await _sign_in(casey, "casey")
        one_chunk = _Body(1)
        declared = await casey.post(
            "/campaigns/new",
            content=one_chunk,  # type: ignore[arg-type]
            headers={**multipart, "content-length": str(96 * 2**20)},
        )
        assert declared.status_code == 413 and "more than 65 MB" in declared.text, declared.text[
            declared.text.find("<main") :
        ][:600]
        assert one_chunk.read == 0  # refused by what it said it would send
        file_head = b"--b\r\nContent-Disposition: form-data; name=f; filename=f.bin\r\n\r\n"
        chunked = _Body(4 * FORM_LIMIT // CHUNK, file_head)  # a file where no page takes one, sent chunked
        streamed = await casey.post(
            "/campaigns/test-campaign/control",
            content=chunked,  # type: ignore[arg-type]
            headers=multipart,
        )
        assert streamed.status_code == 413 and "more than 2 MB" in streamed.text, streamed.text[
            streamed.text.find("<main") :
        ][:600]
        assert chunked.read <= FORM_LIMIT // CHUNK + 1  # stopped at the limit, not read to the end
        not_a_number = await casey.post("/campaigns/new", content=b"", headers={"content-length": "12x"})
        assert not_a_number.status_code == 400
        assert (settings.var_dir / "uploads").exists() is False


async def test_ids_past_any_integer_are_404_or_a_clear_400_never_a_500(
    store: Store, settings: Settings, people: None
) -> None:
    huge = "9" * 21
    app = _app(store, settings)
    async with _client(app) as sam:
        await _sign_in(sam, "sam")
        for path in (f"/support/{huge}", "/support/9223372036854775808", "/support/0", "/support/١٢"):
            assert (await sam.get(path)).status_code == 404, path
        assert (await sam.post(f"/support/{huge}", data={"status": "closed"})).status_code == 404
    async with _client(app) as ada:
        await _sign_in(ada, "ada")
        revoke = await ada.post("/admin/users/casey", data={"action": "revoke_token", "token": huge})
        assert revoke.status_code == 400
        revoke = await ada.post(
            "/admin/users/casey", data={"action": "revoke_token", "token": "9223372036854775807"}
        )
        assert revoke.status_code == 400 and "no live token" in revoke.text
    async with _client(app) as casey:
        await _sign_in(casey, "casey")
        page = await casey.get("/campaigns/test-campaign/not-reached", params={"page": huge})
        assert page.status_code == 200


@pytest.fixture
def served_console(store: Store, people: None, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``notifier serve --only console`` as an operator starts it, in its own process."""
    env = {**os.environ, "NOTIFIER_DATABASE_URL": store.url, "NOTIFIER_SECRET_KEY": "s" * 64}
    env.pop("NOTIFIER_TRUSTED_PROXIES", None)
    yield f"http://127.0.0.1:{free_port()}", env


def _serve(base: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    port = base.rsplit(":", 1)[1]
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "notifier"), "serve", "--only", "console", "--port", port],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).json() == {"status": "up"}:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("notifier serve did not start")


def _sources(store: Store) -> list[str]:
    with store.connect() as conn:
        details = conn.execute(
            select(audit_log.c.detail)
            .where(audit_log.c.action == "user.sign_in_refused")
            .order_by(audit_log.c.id)
        ).scalars()
        return [d["from"] for d in details]


def test_forwarded_for_is_believed_only_from_the_proxies_named(
    store: Store, served_console: tuple[str, dict[str, str]]
) -> None:
    base, env = served_console
    process = _serve(base, env)
    try:
        answers = [
            httpx.post(
                f"{base}/login",
                data={"username": "casey", "password": f"guess {n}"},
                headers={"Origin": base, "X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(12)
        ]
        health = httpx.get(f"{base}/healthz")
    finally:
        process.terminate()
        process.wait(10)
    assert answers.count(429) == 2 and answers[:10] == [401] * 10  # one client, whatever it claims
    assert set(_sources(store)) == {"127.0.0.1"}  # the audit log records who connected
    assert health.json() == {"status": "up"}  # a console-only process answers its health check too
    process = _serve(base, {**env, "NOTIFIER_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        behind = httpx.post(
            f"{base}/login",
            data={"username": "casey", "password": "wrong"},
            headers={"Origin": base, "X-Forwarded-For": "198.51.100.7"},
        )
    finally:
        process.terminate()
        process.wait(10)
    assert behind.status_code == 401 and _sources(store)[-1] == "198.51.100.7"
