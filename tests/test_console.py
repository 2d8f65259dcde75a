"""The web console in a real browser (Debian's Chromium driven by Playwright) against a real console on
loopback with a real store: each role's main journey, what a role may not do (the button absent and a
crafted POST refused), cross-site posts refused, every page audited with axe-core (WCAG 2.1 A and AA: no
violation) and usable by keyboard."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import playwright.sync_api as playwright_api
import pytest
from helpers import customer, planned_campaign
from sqlalchemy import select
from test_tracking import serving_at

from notifier.accounts.users import add_user
from notifier.audience.saved import save_selection
from notifier.config import PROJECT_ROOT, Settings
from notifier.console.app import console_app
from notifier.models import Channel, SelectionSource
from notifier.notices.incidents import load_incident_file
from notifier.notices.records import edit_incident
from notifier.store import Store
from notifier.store.schema import audit_log
from notifier.testing.smtp import free_port
from notifier.tracking.inbound import take_inbound_sms
from notifier.tracking.keywords import KeywordTable

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = PROJECT_ROOT / "tests" / "data" / "axe" / "axe.min.js"
PASSWORD = "console test passphrase"
PEOPLE = {"ada": "admin", "casey": "comms", "lee": "legal", "sam": "support", "val": "viewer"}
KEY = "2026-11-credential-leak"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def console(store: Store, settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A campaign planned for 6 customers (not launched), the people of every role, the console served."""
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 7)], channels=frozenset({Channel.EMAIL})
    )
    for name, role in PEOPLE.items():
        add_user(store, name, display_name=name.title(), roles=[role], password=PASSWORD, actor="tests")
    port = free_port()
    app = console_app(store, settings, secret_key=secrets.token_hex(32), secure_cookies=False)
    with serving_at(app, port):
        yield f"http://127.0.0.1:{port}"


def _page(browser: object, base: str, who: str) -> object:
    context = browser.new_context(base_url=base, bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill(who)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")
    return page


def _nav(page: object, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def _axe(page: object) -> None:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    problems = [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in result["violations"]]
    assert problems == [], f"{page.url}: {problems}"


def test_legal_approves_a_piece_and_sees_it_voided_after_an_edit(
    browser: object, console: str, store: Store, settings: Settings
) -> None:
    page = _page(browser, console, "lee")
    _axe(page)
    _nav(page, "Incidents")
    _axe(page)
    page.get_by_role("link", name=KEY).click()
    _axe(page)
    page.get_by_role("link", name="Notices and their approvals").click()
    _axe(page)
    piece = f"/incidents/{KEY}/pieces/breach_notice/en/email/us_ny"
    page.goto(piece)
    _axe(page)
    assert page.frame_locator("iframe.preview").locator("body").inner_text()  # the email, as displayed
    page.get_by_label("Show it as this customer would get it (customer id)").fill("C00003")
    page.get_by_role("button", name="Show", exact=True).click()
    assert "Rendered for customer C00003" in page.content() and "C00003" not in page.url
    assert "Customer 3" in page.frame_locator("iframe.preview").locator("body").inner_text()
    _axe(page)
    page.get_by_label("Comment (kept with the decision)").fill("checked against the NY rules")
    page.get_by_role("button", name="Approve this version").click()
    assert "Recorded: approved." in page.get_by_role("status").inner_text()
    assert page.locator("strong.ok").inner_text() == "approved"

    facts = load_incident_file(PROJECT_ROOT / "notifier" / "demo" / "incident.json")
    facts["contact"]["phone"] = "+1 800 555 0199"  # every language shows it: every piece changes
    edit_incident(store, settings, KEY, facts, actor="casey", comment="new hotline")
    page.reload()
    assert page.locator("strong.warn").inner_text() == "changed since approval"
    assert page.get_by_role("heading", name=re.compile(r"^What changed since lee approved it")).is_visible()
    assert (
        page.locator("pre.diff ins", has_text="0199").count() >= 1
    )  # the new number, rendered and in the facts
    assert page.locator("pre.diff del", has_text="0100").count() >= 1  # and the old one
    _axe(page)


def test_comms_launches_the_campaign_and_watches_progress_reach_100(browser: object, console: str) -> None:
    page = _page(browser, console, "casey")
    _nav(page, "Campaigns")
    _axe(page)
    page.get_by_role("link", name="test-campaign").click()
    _axe(page)
    assert page.get_by_text("0.0 % handled").is_visible()
    # Customers 2 and 5 read the US notice and have neither e-sign consent nor a postal address.
    warning = page.get_by_role("alert").inner_text()
    assert "2 of 6 people would get no notice the law accepts" in warning and "us_other readers" in warning
    page.get_by_label(re.compile(r"^Seed addresses and phone numbers")).fill("seed@example.com\n+15005550006")
    page.get_by_role("button", name="Send the test messages").click()
    tested = page.get_by_role("status").inner_text()
    assert re.fullmatch(r"[1-9]\d* sent, 0 failed\.", tested), tested  # every version, to each seed
    _axe(page)
    page.go_back()
    page.get_by_role("button", name="Launch").click()
    page.get_by_text("100.0 % handled").wait_for(timeout=30_000)  # polled by htmx every 3 s
    assert "Done: launch." in page.get_by_role("status").inner_text()
    _axe(page)
    odd = page.request.post(
        console + "/campaigns/test-campaign/control", form={"action": "explode"}, headers={"Origin": console}
    )
    assert odd.status == 400 and "unknown action" in odd.text()
    page.get_by_role("link", name="Delivery report (charts, not reached)").click()
    assert page.locator("svg[role=img]").count() == 3  # the report, served as the console's page
    _axe(page)


def test_support_finds_a_customer_opens_a_reply_and_closes_it(
    browser: object, console: str, store: Store, settings: Settings
) -> None:
    keywords = KeywordTable.load(settings.templates_dir)
    take_inbound_sms(
        store,
        keywords,
        settings.templates_dir,
        {"From": "+79160000003", "Body": "<b>Кто вы?</b>", "MessageSid": "SM" + "3" * 32},
    )
    page = _page(browser, console, "sam")
    _nav(page, "Customer look-up")
    _axe(page)
    page.get_by_label("Customer id, email address or phone number (with + and country code)").fill("C00003")
    page.get_by_role("button", name="Look up").click()
    assert "C00003" in page.get_by_role("heading", level=2).first.inner_text()
    assert "c3@example.com" not in page.content() and "c***@example.com" in page.content()  # masked
    assert "C00003" not in page.url  # personal data never in a URL
    _axe(page)
    _nav(page, "Replies")
    _axe(page)
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    assert page.locator("pre").first.inner_text() == "<b>Кто вы?</b>"  # text, never markup
    _axe(page)
    page.get_by_label("Internal note (never sent to the customer)").fill("called back, explained")
    page.get_by_label("Assign to (someone in support)").select_option("sam")
    page.get_by_role("button", name="Close").click()
    assert page.get_by_role("heading", level=1).inner_text().endswith("closed")
    assert (
        page.get_by_label("Assign to (someone in support)").locator("option").first.inner_text()
        == "(keep sam)"
    )


def test_legal_sees_a_letter_as_printed_for_a_sample_reader_and_a_chosen_customer(
    browser: object, console: str, tmp_path: Path
) -> None:
    page = _page(browser, console, "lee")
    page.goto(f"/incidents/{KEY}/pieces/breach_notice/en/letter/us_ca")
    _axe(page)
    assert "(a sample address)" in page.get_by_role("main").inner_text()
    for who in ("sample", "C00002"):
        if who != "sample":
            page.get_by_label("Show it as this customer would get it (customer id)").fill(who)
            page.get_by_role("button", name="Show").click()
            assert "Rendered for customer C00002" in page.get_by_role("main").inner_text()
        href = page.get_by_role("link", name="Open the PDF").get_attribute("href") or ""
        answer = page.request.get(console + href)
        assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
        pdf = tmp_path / f"{who}.pdf"
        pdf.write_bytes(answer.body())
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        assert "Notice of Data Breach" in text and "Reference number: PROOF" in text
        assert ("Customer 2" in text) == (who == "C00002")


def test_a_viewer_cannot_approve_the_button_is_absent_and_a_crafted_post_is_refused(
    browser: object, console: str
) -> None:
    page = _page(browser, console, "val")
    piece = f"/incidents/{KEY}/pieces/breach_notice/en/email/us_ny"
    page.goto(piece)
    assert page.get_by_role("button", name="Approve this version").count() == 0
    _axe(page)
    crafted = page.request.post(
        piece + "/decide", form={"decision": "approve", "comment": "x"}, headers={"Origin": console}
    )
    assert crafted.status == 403 and "may not notice.decide" in crafted.text()
    for path in ("/customers", "/admin/users", "/support"):
        assert page.goto(path).status == 403
    _axe(page)  # the refusal page too


def test_cross_site_posts_are_refused_and_pages_carry_a_strict_policy(browser: object, console: str) -> None:
    page = _page(browser, console, "lee")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    piece = f"{console}/incidents/{KEY}/pieces/breach_notice/en/email/us_ny/decide"
    form = {"decision": "approve"}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {}):
        answer = httpx.post(piece, data=form, headers=headers, cookies=cookies)
        assert answer.status_code == 403, headers
    unknown = httpx.post(piece, data={"decision": "maybe"}, headers={"Origin": console}, cookies=cookies)
    assert unknown.status_code == 400 and "Approve or Reject" in unknown.text  # never read as approval
    control = f"{console}/campaigns/test-campaign/control"
    assert (
        httpx.post(
            control, data={"action": "explode"}, headers={"Origin": console}, cookies=cookies
        ).status_code
        == 403
    )
    same = httpx.post(piece, data=form, headers={"Origin": console}, cookies=cookies, follow_redirects=False)
    assert same.status_code == 303  # the same request from the console itself goes through
    home = httpx.get(console + "/login")
    policy = home.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    )
    assert home.headers["x-frame-options"] == "DENY" and home.headers["cache-control"] == "no-store"
    signed_in = httpx.get(console + "/", cookies=cookies)
    cookie_line = httpx.post(
        console + "/login", data={"username": "lee", "password": PASSWORD}, headers={"Origin": console}
    ).headers["set-cookie"]
    assert "HttpOnly" in cookie_line and "SameSite=lax" in cookie_line and signed_in.status_code == 200


def test_sign_in_by_keyboard_alone_and_refusals_say_nothing_about_which_part(
    browser: object, console: str
) -> None:
    context = browser.new_context(base_url=console, bypass_csp=True)
    page = context.new_page()
    page.goto("/login")
    _axe(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.get_by_label("User name").focus()
    page.keyboard.type("ada")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password, surely")
    page.keyboard.press("Enter")
    refused = page.get_by_role("alert").inner_text()
    page.get_by_label("User name").fill("nobody-at-all")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    assert page.get_by_role("alert").inner_text() == refused
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(console + "/")
    _nav(page, "Users")
    _axe(page)
    _nav(page, "Audit log")
    page.get_by_role("button", name="Verify the hash chains").click()
    _axe(page)
    assert page.get_by_text("verified").first.is_visible()
    assert json.dumps(page.get_by_role("table").last.inner_text()).count("user.sign_in_refused") >= 2


def test_support_reads_who_was_not_reached_and_exports_them_as_csv(
    browser: object, console: str, store: Store
) -> None:
    page = _page(browser, console, "sam")
    _nav(page, "Campaigns")
    page.get_by_role("link", name="test-campaign").click()
    page.get_by_role("link", name="Customers not reached").click()
    _axe(page)
    assert page.get_by_role("heading", level=1).inner_text().endswith(": 6")  # planned, nothing sent yet
    assert page.locator("tbody tr").count() == 6 and "c1@example.com" not in page.content()
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    elsewhere = httpx.get(
        console + "/campaigns/test-campaign/not-reached.csv",
        cookies=cookies,
        headers={"Sec-Fetch-Site": "cross-site"},  # a link on another site: no export, no audit entry
    )
    assert elsewhere.status_code == 403
    export = page.request.get(console + "/campaigns/test-campaign/not-reached.csv")
    rows = list(csv.reader(io.StringIO(export.text())))
    assert export.status == 200 and rows[0][0] == "external_id" and len(rows) == 7
    assert all("***" in row[4] for row in rows[1:])
    with store.connect() as conn:
        exported = conn.execute(select(audit_log).where(audit_log.c.action == "report.exported")).one()
    assert exported.actor == "sam"


def test_an_admin_gives_a_role_and_the_user_gets_its_pages(browser: object, console: str) -> None:
    page = _page(browser, console, "ada")
    _nav(page, "Users")
    page.get_by_text("Roles or password of val").click()
    page.get_by_role("group", name="Roles of val").get_by_label("support").check()
    page.get_by_role("group", name="Roles of val").locator("xpath=..").get_by_role(
        "button", name="Save roles"
    ).click()
    assert "Done: roles." in page.get_by_role("status").inner_text()
    assert page.get_by_role("row", name=re.compile(r"^val ")).get_by_text("support, viewer").is_visible()
    _axe(page)
    val = _page(browser, console, "val")
    assert val.goto("/customers").status == 200  # support's look-up, now hers

    _nav(page, "Audit log")
    page.get_by_label("Incident (with its notices and campaigns)").select_option(KEY)
    page.get_by_role("button", name="Filter").click()
    subjects = page.locator("tbody tr td:nth-child(5)").all_inner_texts()
    assert subjects and all(
        s == f"incident:{KEY}" or s.startswith(f"piece:{KEY}/") or s == "campaign:test-campaign"
        for s in subjects
    )
    assert not any(s.startswith("user:") for s in subjects)  # the role change is not about the incident
    _axe(page)


def test_an_admin_issues_a_token_shown_once_and_revokes_it(
    browser: object, console: str, store: Store
) -> None:
    from notifier.accounts.users import identity_for_token
    from notifier.errors import AccessDeniedError

    page = _page(browser, console, "ada")
    _nav(page, "Users")
    page.get_by_text("API tokens of casey").click()
    page.get_by_label("Label of a new token for casey (what it is for)").fill("laptop")
    page.get_by_label("Days the new token of casey is valid").fill("30")
    page.get_by_role("button", name="Issue a token").first.click()
    token = page.locator("code.token").inner_text()
    assert identity_for_token(store, token).username == "casey" and token not in page.url
    _axe(page)
    page.goto("/admin/users")
    assert token not in page.content()  # shown on that one answer only
    page.get_by_text("API tokens of casey").click()
    row = page.get_by_role("row", name=re.compile(r"laptop"))
    assert "live" in row.inner_text()
    row.get_by_role("button", name=re.compile("Revoke token")).click()
    assert "Done: revoke token." in page.get_by_role("status").inner_text()
    with pytest.raises(AccessDeniedError, match="revoked"):
        identity_for_token(store, token)


def test_comms_revises_the_facts_and_plans_campaigns_from_a_file_and_a_saved_query(
    browser: object, console: str, store: Store, tmp_path: Path
) -> None:
    page = _page(browser, console, "casey")
    _nav(page, "Incidents")
    page.get_by_role("link", name=KEY).click()
    page.get_by_role("link", name="Revise the facts").click()
    _axe(page)
    page.get_by_label("Phone", exact=True).fill("+1 800 555 0142")
    page.get_by_label("What changed and why (kept with the revision)").fill("new hotline number")
    page.get_by_role("button", name="Record the revision").click()
    assert re.search(r"revision 2, \d+ pieces need approval again", page.get_by_role("status").inner_text())
    newest = page.get_by_role("table", name="Revisions of the facts, newest first").locator("tbody tr").first
    assert re.fullmatch(r"2\t.*\tcasey\tcontact\.phone\tnew hotline number", newest.inner_text())

    page.get_by_role("link", name="Revise the facts").click()
    measures = page.get_by_role("group", name="What the company has done")
    measures.get_by_label("Tiếng Việt (vi)").fill("")
    page.get_by_label("Discovered at (required)").fill("yesterday")
    page.get_by_role("group", name="Opening hours").get_by_label("English (en)").fill("<b>9–17</b>")
    page.get_by_label("What changed and why (kept with the revision)").fill("broken on purpose")
    page.get_by_role("button", name="Record the revision").click()
    summary = page.get_by_role("alert")
    assert summary.get_by_role("heading").inner_text() == "Nothing was recorded: 1 problem"
    summary.get_by_role("link", name=re.compile(r"^discovered_at 'yesterday' is not")).click()
    assert page.evaluate("document.activeElement.id") == "fact-discovered-at"  # the link leads to it
    assert page.get_by_label("Discovered at (required)").input_value() == "yesterday"  # nothing typed lost
    assert (
        page.get_by_role("group", name="Opening hours").get_by_label("English (en)").input_value()
        == "<b>9–17</b>"
    )
    assert measures.get_by_text("Missing translation: vi.").is_visible()  # flagged beside en and ru
    _axe(page)
    page.get_by_label("Discovered at (required)").fill("2026-11-12T08:00:00+00:00")
    page.get_by_role("button", name="Record the revision").click()
    assert "revision 3" in page.get_by_role("status").inner_text()
    assert page.get_by_text("no vi text for measures").is_visible()  # listed on the incident's page

    _nav(page, "Incidents")
    page.get_by_role("link", name="Record an incident").click()
    _axe(page)
    page.get_by_label("Incident key (letters, digits, dashes; never changes) (required)").fill(
        "2026-12-lost-laptop"
    )
    page.get_by_label("Title (internal: customers never read it) (required)").fill("Lost laptop")
    page.get_by_label("Company: legal name (required)").fill("Example Shop Holdings, Inc.")
    page.get_by_label("Company: the brand customers know (required)").fill("Example Shop")
    page.get_by_label("Web page about the incident (https://) (required)").fill("https://example.com/laptop")
    page.get_by_role("group", name="What happened (required)").get_by_label("English (en)").fill(
        "A laptop holding a copy of our customer list was stolen from a car."
    )
    page.get_by_label("Discovered at (required)").fill("2026-12-01T10:00:00+00:00")
    page.get_by_label("email: Your email address").check()
    page.get_by_label("Email address", exact=True).fill("privacy@example.com")
    page.get_by_role("button", name="Record the incident").click()
    assert "Done: recorded." in page.get_by_role("status").inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "Lost laptop"
    assert page.get_by_text("no ru text for what_happened").is_visible()  # said before anyone plans
    _axe(page)

    ids = tmp_path / "ids.txt"
    ids.write_text("C00001\nC00002\nC00003\nNOBODY-9\n", encoding="utf-8")
    _nav(page, "Campaigns")
    page.get_by_role("link", name="Plan a campaign").click()
    _axe(page)
    page.get_by_label("Campaign name (letters, digits, dashes)").fill("from-the-console")
    page.get_by_label(
        "Affected customers: a file of external ids (one per line, or a CSV with an external_id column)"
    ).set_input_files(str(ids))
    page.get_by_label("Channel policy").select_option("all")
    page.get_by_role("button", name="Plan the campaign").click()
    assert "Done: planned." in page.get_by_role("status").inner_text()
    assert "Who the campaign is for (4 customers)" in page.content()
    assert (
        page.get_by_role("table", name="cannot be reached, because")
        .get_by_text("unknown_customer")
        .is_visible()
    )
    _axe(page)

    save_selection(
        store,
        name="vietnamese-readers",
        query="SELECT external_id FROM customers WHERE locale LIKE 'vi%'",
        description="everyone who reads Vietnamese <b>only</b>",
        source=SelectionSource.STORE,
        actor="casey",
    )
    _nav(page, "Campaigns")
    page.get_by_role("link", name="Plan a campaign").click()
    page.get_by_text("What each saved selection runs").click()
    assert page.get_by_text("WHERE locale LIKE 'vi%'").is_visible()  # the SQL is shown, never typed here
    _axe(page)
    page.get_by_label("Campaign name (letters, digits, dashes)").fill("from-a-saved-query")
    page.get_by_label(re.compile(r"^Or a saved selection query")).select_option("vietnamese-readers")
    page.get_by_role("button", name="Plan the campaign").click()
    assert "Done: planned." in page.get_by_role("status").inner_text()
    assert "Who the campaign is for (2 customers)" in page.content()  # customers 1 and 4


def _tab_to(page: object, matches: str, limit: int = 80) -> None:
    """Press Tab until the focused element is the one ``matches`` (a JS expression on ``el``) finds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return {matches}; }})()"):
            return
    raise AssertionError(f"Tab never reached {matches}")


def test_legal_reviews_and_approves_by_keyboard_alone(browser: object, console: str) -> None:
    page = _page(browser, console, "lee")
    page.goto(f"/incidents/{KEY}/approvals")
    _tab_to(page, "el.tagName === 'A' && el.href.endsWith('/pieces/breach_notice/vi/sms/vn')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/pieces/breach_notice/vi/sms/vn$"))
    _tab_to(page, "el.id === 'comment'")
    page.keyboard.type("read by keyboard")
    _tab_to(page, "el.tagName === 'BUTTON' && el.textContent.trim() === 'Approve this version'")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*\?done=approved$"))
    assert "Recorded: approved." in page.get_by_role("status").inner_text()
