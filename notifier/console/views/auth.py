"""Signing in and out. Refusals all read the same; five in a row lock the user (accounts.users), and
each client address gets at most 10 attempts a minute whatever the user names."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.sessions import end_session, start_session
from notifier.accounts.users import sign_in
from notifier.console.security import cookie_name, cookie_signer, signed_secret
from notifier.console.web import Console, render, see_other, with_form
from notifier.errors import LoginRefusedError

__all__ = ["routes"]

PER_ADDRESS = 10  # sign-in attempts per client address per minute


class _Throttle:
    def __init__(self) -> None:
        self.seen: defaultdict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()  # handlers run in worker threads

    def allow(self, address: str) -> bool:
        with self.lock:
            return self._allow(address)

    def _allow(self, address: str) -> bool:
        now = time.monotonic()
        recent = self.seen[address]
        while recent and now - recent[0] > 60:
            recent.popleft()
        if len(recent) >= PER_ADDRESS:
            return False
        recent.append(now)
        if len(self.seen) > 10_000:  # forget addresses quiet for a minute
            self.seen = defaultdict(deque, {a: d for a, d in self.seen.items() if d and now - d[-1] <= 60})
        return True


def routes(console: Console, *, secure_cookies: bool, secret_key: str) -> list[BaseRoute]:
    signer = cookie_signer(secret_key)
    cookie = cookie_name(secure_cookies)
    throttle = _Throttle()

    def login_page(request: Request) -> Response:
        if request.state.user is not None:
            return see_other("/")
        return render(request, "login.html.j2", error="")

    def login(request: Request, form: FormData) -> Response:
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        address = request.client.host if request.client else "unknown"
        if not throttle.allow(address):
            return render(
                request, "login.html.j2", status_code=429, error="Too many attempts from here: wait a minute."
            )
        try:
            identity = sign_in(console.store, username, password, source=address)
        except LoginRefusedError as exc:
            return render(request, "login.html.j2", status_code=401, error=str(exc).capitalize() + ".")
        response = see_other("/")
        response.set_cookie(
            cookie,
            signer.dumps(start_session(console.store, identity)),
            httponly=True,
            secure=secure_cookies,
            samesite="lax",
            path="/",
        )
        return response

    def logout(request: Request) -> Response:
        secret = signed_secret(request, signer, cookie)
        if secret:
            end_session(console.store, secret)
        response = see_other("/login")
        response.delete_cookie(cookie, path="/", secure=secure_cookies, httponly=True, samesite="lax")
        return response

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", with_form(login, anonymous=True), methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
