"""What a person may do in the console, and what bad input gets: every page and action, as every role,
is allowed or refused (403) exactly as the one role × action table says; and every route, as every role,
with odd path values, query strings and junk forms, answers 2xx, 3xx or 4xx, never a traceback, never
the markup it was sent."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest
from helpers import customer, planned_campaign
from starlette.routing import Route

from notifier.accounts.permissions import ALLOWED, Action
from notifier.accounts.users import add_user
from notifier.config import Settings
from notifier.console.app import console_app
from notifier.models import Channel, Role
from notifier.store import Store

BASE = "https://console.example"
PASSWORD = "console test passphrase"
PEOPLE = {"ada": "admin", "casey": "comms", "lee": "legal", "sam": "support", "val": "viewer"}
MARKUP = "<b>x</b>"
# Path values: real ones, unknown ones, markup, over-long, traversal, a NUL.
PATH_VALUES = {
    "name": ["test-campaign", "nope", MARKUP, "a" * 300],
    "key": ["2026-11-credential-leak", "nope", "%00"],
    "username": ["val", "nobody"],
    "reply_id": ["1", "999999", "x", "-1", "9" * 21, "9223372036854775808"],
    "notice": ["breach_notice", "x"],
    "locale": ["en", "zz", ".."],
    "channel": ["email", "fax"],
    "profile": ["us_ny", "x"],
}
QUERY = {"page": "9" * 25, "status": "zz", "actor": MARKUP, "incident": "nope", "done": MARKUP}
# Forms a person could post by mistake or on purpose. No launch or resume: those start sending in a
# background thread, which would outlive the test's store.
FORMS = [
    {},
    {"action": "x" * 50},
    {"action": "pause", "reason": MARKUP},
    {"decision": "approve", "comment": MARKUP},
    {"decision": "maybe"},
    {"name": MARKUP, "incident": "x", "policy": "bogus", "channels": "fax", "quiet_hours": "25-99"},
    {"name": "ok-name", "saved": "nope"},
    {"fact.key": "a b", "other_facts": "[", "revision": "x", "comment": "c"},
    {"revision": "1", "comment": "c", "fact.discovered_at": MARKUP, "other_facts": "{}"},
    {"status": "weird", "assignee": "x" * 500, "note": MARKUP},
    {"seeds": "not-an-address\n+1"},
    {"username": "", "password": "", "roles": "boss", "action": "roles"},
    {"query": MARKUP},
    {"customer": "x", "reveal": "yes", "reason": ""},
    {"comment": "a\x00b", "query": "C0\x00", "fact.title": "\x00", "revision": "1"},
    {"revision": "9" * 25, "comment": "c", "other_facts": "{}"},
    {"action": "revoke_token", "token": "9" * 25},
    {"action": "issue_token", "label": MARKUP, "days": "9" * 25},
]


@pytest.fixture
def signed_in_clients(store: Store, settings: Settings, tmp_path: Path) -> dict[str, httpx.AsyncClient]:
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 4)], channels=frozenset({Channel.EMAIL})
    )
    for name, role in PEOPLE.items():
        add_user(store, name, display_name=name.title(), roles=[role], password=PASSWORD, actor="tests")
    app = console_app(store, settings, secret_key="k" * 64, secure_cookies=True)
    transport = httpx.ASGITransport(app=app)
    return {
        name: httpx.AsyncClient(transport=transport, base_url=BASE, headers={"Origin": BASE})
        for name in PEOPLE
    }


def _paths(route: Route) -> list[str]:
    names = list(route.param_convertors)
    paths = []
    for combo in itertools.product(*(PATH_VALUES.get(n, ["x"]) for n in names)):
        path = route.path
        for name, value in zip(names, combo, strict=True):
            path = path.replace("{" + name + "}", value)
        paths.append(path)
    return paths


async def test_no_request_of_any_role_gets_a_5xx_a_traceback_or_its_markup_back(
    signed_in_clients: dict[str, httpx.AsyncClient],
) -> None:
    app = next(iter(signed_in_clients.values()))._transport.app  # type: ignore[attr-defined]
    routes = [r for r in app.routes if isinstance(r, Route) and r.path not in ("/login", "/logout")]
    answers = 0
    for who, client in signed_in_clients.items():
        async with client:
            signed = await client.post("/login", data={"username": who, "password": PASSWORD})
            assert signed.status_code == 303
            for route, method in ((r, m) for r in routes for m in sorted(r.methods or ()) if m != "HEAD"):
                for path in _paths(route):
                    for form in FORMS if method == "POST" else [{}]:
                        if method == "POST":
                            answer = await client.post(path, data=form)
                        else:
                            answer = await client.get(path, params=QUERY)
                        answers += 1
                        where = f"{who} {method} {path} {form}"
                        assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:300]}"
                        assert "Traceback" not in answer.text, where
                        assert MARKUP not in answer.text, where  # escaped wherever it is shown
    assert answers > 1000
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as anyone:
        assert (await anyone.get("/admin/audit", params={"subject": "a\x00b"})).status_code == 400


KEY = "2026-11-credential-leak"
PIECE = f"/incidents/{KEY}/pieces/breach_notice/en/email/us_ny"
CAMPAIGN = "/campaigns/test-campaign"
# Every page and action of the console with the action it takes, and a form that changes nothing when
# allowed (refused as bad input, or a no-op): allowed roles get anything but 403, the others 403.
GUARDED = [
    ("GET", "/incidents", Action.INCIDENT_VIEW, {}),
    ("GET", f"/incidents/{KEY}", Action.INCIDENT_VIEW, {}),
    ("GET", "/incidents/new", Action.INCIDENT_EDIT, {}),
    ("POST", "/incidents/new", Action.INCIDENT_EDIT, {}),
    ("GET", f"/incidents/{KEY}/edit", Action.INCIDENT_EDIT, {}),
    ("POST", f"/incidents/{KEY}/edit", Action.INCIDENT_EDIT, {}),
    ("GET", f"/incidents/{KEY}/approvals", Action.NOTICE_REVIEW, {}),
    ("GET", PIECE, Action.NOTICE_REVIEW, {}),
    ("POST", f"{PIECE}/reader", Action.NOTICE_REVIEW, {}),
    ("POST", f"{PIECE}/decide", Action.NOTICE_DECIDE, {"decision": "maybe"}),
    ("GET", "/campaigns", Action.CAMPAIGN_VIEW, {}),
    ("GET", CAMPAIGN, Action.CAMPAIGN_VIEW, {}),
    ("GET", f"{CAMPAIGN}/progress", Action.CAMPAIGN_VIEW, {}),
    ("GET", "/reports/test-campaign", Action.CAMPAIGN_VIEW, {}),
    ("GET", f"{CAMPAIGN}/not-reached", Action.CAMPAIGN_VIEW, {}),
    ("GET", f"{CAMPAIGN}/not-reached.csv", Action.CAMPAIGN_VIEW, {}),
    ("GET", "/campaigns/new", Action.CAMPAIGN_PLAN, {}),
    ("POST", "/campaigns/new", Action.CAMPAIGN_PLAN, {}),
    ("POST", f"{CAMPAIGN}/control", Action.CAMPAIGN_CONTROL, {"action": "bogus"}),
    ("POST", f"{CAMPAIGN}/test-send", Action.CAMPAIGN_TEST_SEND, {"seeds": ""}),
    ("GET", "/customers", Action.CUSTOMER_LOOK_UP, {}),
    ("POST", "/customers", Action.CUSTOMER_LOOK_UP, {}),
    ("GET", "/support", Action.SUPPORT_QUEUE, {}),
    ("GET", "/support/1", Action.SUPPORT_QUEUE, {}),
    ("POST", "/support/1", Action.SUPPORT_QUEUE, {}),
    ("GET", "/admin/users", Action.USERS_MANAGE, {}),
    ("POST", "/admin/users", Action.USERS_MANAGE, {}),
    ("POST", "/admin/users/val", Action.USERS_MANAGE, {"action": "bogus"}),
    ("GET", "/admin/audit", Action.AUDIT_VIEW, {}),
    ("POST", "/admin/audit/verify", Action.AUDIT_VIEW, {}),
]


async def test_every_page_and_action_is_allowed_or_refused_as_the_role_table_says(
    signed_in_clients: dict[str, httpx.AsyncClient],
) -> None:
    app = next(iter(signed_in_clients.values()))._transport.app  # type: ignore[attr-defined]
    guarded = {(m, p) for m, p, _action, _form in GUARDED}
    # Every route of the console is in the table (or open to anyone signed in, or to no one signed in).
    open_to_all = {("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout")}
    for route in (r for r in app.routes if isinstance(r, Route) and not r.path.startswith("/preview/")):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            assert (method, route.path) in open_to_all or any(
                m == method and _matches(route, p) for m, p in guarded
            ), f"{method} {route.path} is not in the table"
    for who, client in signed_in_clients.items():
        role = Role(PEOPLE[who])
        async with client:
            await client.post("/login", data={"username": who, "password": PASSWORD})
            for method, path, action, form in GUARDED:
                answer = await (client.post(path, data=form) if method == "POST" else client.get(path))
                allowed = role in ALLOWED[action]
                assert (answer.status_code != 403) == allowed, (
                    f"{who} ({role}) {method} {path}: {answer.status_code}"
                )
                assert answer.status_code < 500, f"{who} {method} {path}: {answer.text[:300]}"


def _matches(route: Route, path: str) -> bool:
    return route.path_regex.fullmatch(path) is not None
