"""Each role's main journey in the console by keyboard alone, in a real browser (Debian's Chromium driven by
Playwright): comms tests, launches, pauses and resumes a campaign; support looks a customer up and closes a
reply; admin gives a role and reads and verifies the audit log. Only keys are pressed (Tab, Shift+Tab,
Enter, Space, typing): no click, no fill, no check; ``page.goto`` opens the first page only. At each key
control the focused element must be visibly focused (an outline or a ring a sighted keyboard user sees),
and after each page load focus must be where the user can go on from: at the top of the page after
following a link (the first Tab reaches "Skip to the content"), on the outcome after an action (the
confirmation, the result or the error), and never lost when htmx refreshes the campaign's progress.
Every page visited is audited with axe-core (WCAG 2.1 A and AA)."""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_api
import pytest
from helpers import customer, planned_campaign
from test_console import (  # the fixtures are imported to be registered here
    PASSWORD,
    PEOPLE,
    _axe,
    _page,
    _tab_to,
    browser,  # noqa: F401
    console,  # noqa: F401
)
from test_tracking import serving_at

from notifier.accounts.users import add_user
from notifier.config import Settings
from notifier.console.app import console_app
from notifier.models import Channel
from notifier.store import Store
from notifier.testing.smtp import SmtpStandin, free_port
from notifier.tracking.inbound import take_inbound_sms
from notifier.tracking.keywords import KeywordTable

# Keys, focus and accessibility are the browser's and the templates' business, the same on either store;
# test_console.py walks the same journeys by mouse on SQLite and PostgreSQL.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# What the focused element is and whether a sighted keyboard user can see it (an outline at least 2 px wide
# or a box-shadow ring; the element at least partly in the viewport); ``keyboard`` (:focus-visible) is
# reported with it, for the message when an assertion fails.
_FOCUS = """(() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
  return {
    tag: el.tagName, id: el.id, type: el.type || '', text: (el.innerText || '').trim().slice(0, 80),
    ring: outline ? `outline ${s.outlineWidth} ${s.outlineStyle} ${s.outlineColor}`
                  : (s.boxShadow !== 'none' ? `box-shadow ${s.boxShadow}` : ''),
    keyboard: el.matches(':focus-visible'),
    inView: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
            && r.top < innerHeight && r.left < innerWidth,
  };
})()"""


def _focus(page: object) -> dict[str, object]:
    return page.evaluate(_FOCUS)


def _enter_to(page: object, url: str) -> None:
    """Enter on the focused control, and the page it leads to loaded."""
    page.keyboard.press("Enter")
    page.wait_for_url(url)


def _see_focus(page: object, what: str) -> dict[str, object]:
    """The focused element, asserted visibly focused: a keyboard user must see where they are."""
    focus = _focus(page)
    assert focus["ring"], f"{what}: focused but nothing shows it: {focus}"
    assert focus["inView"], f"{what}: focused off screen: {focus}"
    return focus


def _is(page: object, matches: str) -> bool:
    return bool(page.evaluate(f"(() => {{ const el = document.activeElement; return {matches}; }})()"))


def _press(page: object, key: str, then: str, what: str) -> None:
    """Press ``key`` once: the focus must then be on ``then`` (a JS expression on ``el``), visibly."""
    page.keyboard.press(key)
    assert _is(page, then), f"{key} did not lead to {what}: {_focus(page)}"
    _see_focus(page, what)


def _shift_tab_to(page: object, matches: str, limit: int = 80) -> None:
    """Press Shift+Tab until the focused element is the one ``matches`` finds (back up the page)."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab")
        if _is(page, matches):
            return
    raise AssertionError(f"Shift+Tab never reached {matches}")


def _at_top(page: object) -> None:
    """Just loaded by following a link: nothing focused yet, so the first Tab is the skip link, shown."""
    assert _is(page, "el === document.body"), _focus(page)
    _press(page, "Tab", "el.classList.contains('skip')", "the skip link")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"


def _skip_to_content(page: object) -> None:
    """From the top: the skip link, then Enter: focus moves to <main>, the next Tab is inside it."""
    _at_top(page)
    page.keyboard.press("Enter")
    assert _is(page, "el.tagName === 'MAIN'"), _focus(page)


def _nav_link(name: str) -> str:
    return f"el.tagName === 'A' && !!el.closest('nav[aria-label=Main]') && el.textContent.trim() === '{name}'"


def _button(name: str) -> str:
    return f"el.tagName === 'BUTTON' && el.textContent.trim() === '{name}'"


def _lands_on(page: object, matches: str) -> None:
    """After a page load, focus goes to what ``matches`` finds (``autofocus``: the browser moves it at its
    next rendering step after the load, so it is waited for, up to 5 s)."""
    try:
        page.wait_for_function(
            f"(() => {{ const el = document.activeElement; return {matches}; }})()", timeout=5_000
        )
    except playwright_api.TimeoutError:
        raise AssertionError(f"focus never reached {matches}: {_focus(page)}") from None


def _status_focused(page: object, text: str) -> None:
    """After an action the outcome has focus: the status message is read out and the user goes on from it."""
    _lands_on(page, "el.getAttribute('role') === 'status'")
    assert text in page.get_by_role("status").inner_text()
    _see_focus(page, f"the status {text!r}")


# Resolves once htmx has next replaced the campaign's progress region (it polls every 3 s); fails after 10 s.
_REFRESHED = """() => new Promise((done, fail) => {
  document.body.addEventListener('htmx:afterSettle', done, {once: true});
  setTimeout(() => fail(new Error('htmx did not refresh the progress within 10 s')), 10000);
})"""


def _heading(page: object) -> str:
    return str(page.get_by_role("heading", level=1).inner_text())


def test_comms_tests_and_launches_a_campaign_by_keyboard_alone(browser: object, console: str) -> None:  # noqa: F811
    """Home → Campaigns (main navigation) → skip link → test-campaign → seeds typed, test send → back →
    reason typed, Launch → progress polled to 100 % → the delivery report; focus visible on every control,
    on the outcome after each action, and kept on a link while htmx replaces the progress."""
    page = _page(browser, console, "casey")  # signed in (by keyboard: test_console's sign-in test)
    _axe(page)
    _at_top(page)
    _tab_to(page, _nav_link("Campaigns"))
    _see_focus(page, "Campaigns in the main navigation")
    _enter_to(page, console + "/campaigns")
    assert _heading(page) == "Campaigns"
    _axe(page)
    _skip_to_content(page)
    _tab_to(page, "el.tagName === 'A' && el.textContent === 'test-campaign'")
    _see_focus(page, "the campaign's link in the table")
    _enter_to(page, console + "/campaigns/test-campaign")
    assert _heading(page) == "Campaign test-campaign"
    assert page.get_by_text("0.0 % handled").is_visible()
    _axe(page)

    _at_top(page)
    _tab_to(page, "el.id === 'seeds'")
    _see_focus(page, "the seeds box")
    page.keyboard.type("seed@example.com\n+15005550006")
    _press(page, "Tab", _button("Send the test messages"), "Send the test messages")
    _enter_to(page, console + "/campaigns/test-campaign/test-send")
    _status_focused(page, " sent, 0 failed.")
    tested = page.get_by_role("status").inner_text()
    assert re.fullmatch(r"[1-9]\d* sent, 0 failed\.", tested), tested  # every version, to each seed
    assert page.locator("main li", has_text=": sent").count() == int(tested.split()[0])  # one line each
    _axe(page)
    _shift_tab_to(page, "el.tagName === 'A' && el.textContent === '← campaign test-campaign'")
    _see_focus(page, "the way back to the campaign")
    _enter_to(page, console + "/campaigns/test-campaign")

    _at_top(page)
    _tab_to(page, "el.id === 'reason'")
    page.keyboard.type("tested by keyboard")
    _press(page, "Tab", _button("Launch"), "Launch")
    _enter_to(page, console + "/campaigns/test-campaign?done=launch")
    _status_focused(page, "Done: launch.")
    page.get_by_text("100.0 % handled").wait_for(timeout=30_000)  # polled by htmx every 3 s
    assert page.get_by_role("heading", name="Progress: completed").is_visible()
    _axe(page)

    # htmx keeps replacing the progress region: whatever the keyboard user is on stays focused.
    _tab_to(page, "el.tagName === 'A' && el.textContent === 'Delivery report (charts, not reached)'")
    _see_focus(page, "the delivery report link")
    page.evaluate(_REFRESHED)
    assert _is(page, "el.textContent === 'Delivery report (charts, not reached)'"), _focus(page)
    _see_focus(page, "the delivery report link after htmx refreshed the progress")
    _enter_to(page, console + "/reports/test-campaign")
    assert page.locator("svg[role=img]").count() == 3
    _axe(page)


@pytest.fixture
def paced_console(store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path) -> Iterator[str]:
    """As test_console's ``console``, but the email account paced at one message every two seconds and
    claimed one row at a time, so the campaign is still running while someone reaches Pause, and Pause
    stops it at the next claim."""
    paced = dataclasses.replace(settings, email_url=smtp.url + "&rate=0.5&burst=1", batch_size=1)
    planned_campaign(
        store, paced, tmp_path, [customer(n) for n in range(1, 7)], channels=frozenset({Channel.EMAIL})
    )
    add_user(store, "casey", display_name="Casey", roles=[PEOPLE["casey"]], password=PASSWORD, actor="tests")
    port = free_port()
    app = console_app(store, paced, secret_key=secrets.token_hex(32), secure_cookies=False)
    with serving_at(app, port):
        yield f"http://127.0.0.1:{port}"


def test_comms_pauses_and_resumes_a_running_campaign_by_keyboard_alone(
    browser: object,  # noqa: F811
    paced_console: str,
) -> None:
    """Launch, then, while it is running, Pause (with a reason) and Resume, which sends the rest:
    each button reached by Tab, each outcome focused and said, the pause real (messages left unsent across
    an htmx refresh, focus kept on the confirmation through it)."""
    page = _page(browser, paced_console, "casey")
    _tab_to(page, _nav_link("Campaigns"))
    _enter_to(page, paced_console + "/campaigns")
    _tab_to(page, "el.tagName === 'A' && el.textContent === 'test-campaign'")
    _enter_to(page, paced_console + "/campaigns/test-campaign")
    _tab_to(page, _button("Launch"))
    _enter_to(page, paced_console + "/campaigns/test-campaign?done=launch")
    _status_focused(page, "Done: launch.")
    # The sending thread marks it running a moment after the answer; htmx shows it within 3 s.
    page.get_by_role("heading", name="Progress: running").wait_for(timeout=10_000)

    _tab_to(page, "el.id === 'reason'")
    page.keyboard.type("wrong hotline in the email")
    _press(page, "Tab", _button("Launch"), "Launch")
    _press(page, "Tab", _button("Pause"), "Pause")
    _enter_to(page, paced_console + "/campaigns/test-campaign?done=pause")
    _status_focused(page, "Done: pause.")
    assert page.get_by_role("heading", name="Progress: paused").is_visible()
    page.evaluate(_REFRESHED)  # the progress region, replaced by htmx: still paused, focus still here
    assert page.get_by_role("heading", name="Progress: paused").is_visible()
    remaining = page.get_by_role("row", name=re.compile(r"^remaining ")).get_by_role("cell").inner_text()
    assert int(remaining) > 0, remaining  # sending stopped: the rest waits
    _status_focused(page, "Done: pause.")
    _axe(page)

    _tab_to(page, _button("Resume"))
    _see_focus(page, "Resume")
    _enter_to(page, paced_console + "/campaigns/test-campaign?done=resume%20and%20launch")
    _status_focused(page, "Done: resume and launch.")  # Resume goes on sending, no second Launch
    page.get_by_text("100.0 % handled").wait_for(timeout=60_000)  # the rest, paced: about 10 s
    _axe(page)


def test_support_looks_a_customer_up_and_closes_a_reply_by_keyboard_alone(
    browser: object,  # noqa: F811
    console: str,  # noqa: F811
    store: Store,
    settings: Settings,
) -> None:
    """Customer look-up (main navigation) → skip link → an unknown id: the refusal focused, the id kept →
    corrected to C00003: focus on the customer's story, contacts masked, nothing personal in the URL →
    Replies → the reply opened from the queue → internal note typed → Tab to Close → closed, said, focused."""
    keywords = KeywordTable.load(settings.templates_dir)
    take_inbound_sms(
        store,
        keywords,
        settings.templates_dir,
        {"From": "+79160000003", "Body": "<b>Кто вы?</b>", "MessageSid": "SM" + "3" * 32},
    )
    page = _page(browser, console, "sam")
    _at_top(page)
    _tab_to(page, _nav_link("Customer look-up"))
    _see_focus(page, "Customer look-up in the main navigation")
    _enter_to(page, console + "/customers")
    assert _heading(page) == "Was this customer notified?"
    _axe(page)
    _skip_to_content(page)
    _press(page, "Tab", "el.id === 'query'", "the look-up box")
    page.keyboard.type("C09999")
    with page.expect_navigation():  # posted (a customer's contact never goes in a URL), to the same URL
        page.keyboard.press("Enter")
    _lands_on(page, "el.getAttribute('role') === 'alert'")  # the outcome: nobody found
    assert page.get_by_role("alert").inner_text() == "No customer matches that id, email or phone."
    _see_focus(page, "the no-match message")
    _axe(page)
    _shift_tab_to(page, "el.id === 'query'")
    _see_focus(page, "the look-up box, again")
    assert page.get_by_label(re.compile(r"^Customer id")).input_value() == "C09999"  # kept, to correct
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("C00003")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    _lands_on(page, "el.tagName === 'H2'")  # the outcome: the customer's story
    found = page.evaluate("document.activeElement.textContent")
    assert found.startswith("C00003 · ") and "C00003" not in page.url  # personal data never in a URL
    _see_focus(page, "the customer's heading")
    assert "c***@example.com" in page.content()  # masked
    _axe(page)

    _shift_tab_to(page, _nav_link("Replies"))
    _see_focus(page, "Replies in the main navigation")
    _enter_to(page, console + "/support")
    assert _heading(page) == "Replies from customers"
    _axe(page)
    _at_top(page)
    _tab_to(page, "el.tagName === 'A' && /^\\d+$/.test(el.textContent) && !!el.closest('tbody')")
    _see_focus(page, "the reply's link in the queue")
    reply_id = page.evaluate("document.activeElement.textContent")
    _enter_to(page, f"{console}/support/{reply_id}")
    assert _heading(page) == f"Reply {reply_id}: open"
    assert page.locator("pre").first.inner_text() == "<b>Кто вы?</b>"  # text, never markup
    _axe(page)
    _at_top(page)
    _tab_to(page, "el.id === 'note'")
    _see_focus(page, "the internal note")
    page.keyboard.type("called back, explained")
    _press(page, "Tab", _button("Save"), "Save")
    _press(page, "Tab", _button("Mark answered"), "Mark answered")
    _press(page, "Tab", _button("Close"), "Close")
    _enter_to(page, f"{console}/support/{reply_id}?done=close")
    _status_focused(page, "Done: close.")
    assert _heading(page) == f"Reply {reply_id}: closed"
    assert page.get_by_role("heading", name="Internal note").is_visible()
    assert page.locator("pre").nth(1).inner_text() == "called back, explained"
    _axe(page)


def test_admin_gives_a_role_and_verifies_the_audit_log_by_keyboard_alone(
    browser: object,  # noqa: F811
    console: str,  # noqa: F811
) -> None:
    """Users (main navigation) → the "Roles or password of val" disclosure opened with Enter (Space toggles
    it too) → "support" ticked with Space → Save roles → confirmed, focused, val's roles shown → Audit log →
    filtered to ada from the keyboard → Verify the hash chains → every chain verified, the result focused."""
    page = _page(browser, console, "ada")
    _at_top(page)
    _tab_to(page, _nav_link("Users"))
    _enter_to(page, console + "/admin/users")
    assert _heading(page) == "Users"
    _axe(page)

    val_roles = (
        "el.type === 'checkbox'"
        " && el.closest('fieldset').querySelector('legend').textContent === 'Roles of val'"
    )
    assert page.evaluate(f"[...document.querySelectorAll('input')].filter(el => {val_roles}).length") == 5
    _at_top(page)
    _tab_to(page, "el.tagName === 'SUMMARY' && el.textContent === 'Roles or password of val'")
    _see_focus(page, "the disclosure 'Roles or password of val'")
    assert not page.get_by_role("group", name="Roles of val").is_visible()  # closed: Tab passes it by
    page.keyboard.press("Enter")
    assert page.get_by_role("group", name="Roles of val").is_visible()
    assert _is(page, "el.tagName === 'SUMMARY' && el.parentElement.open")  # still on it, now open
    page.keyboard.press("Space")  # Space toggles it too: shut, then open again
    assert not page.get_by_role("group", name="Roles of val").is_visible()
    page.keyboard.press("Space")
    assert page.get_by_role("group", name="Roles of val").is_visible()
    _axe(page)
    _tab_to(page, f"{val_roles} && el.value === 'support'")
    _see_focus(page, "the support checkbox")
    assert not page.get_by_role("group", name="Roles of val").get_by_label("support").is_checked()
    page.keyboard.press("Space")
    assert page.get_by_role("group", name="Roles of val").get_by_label("support").is_checked()
    _tab_to(page, _button("Save roles"))
    _see_focus(page, "Save roles")
    _enter_to(page, console + "/admin/users?done=roles")
    _status_focused(page, "Done: roles.")
    assert page.get_by_role("row", name=re.compile(r"^val ")).get_by_text("support, viewer").is_visible()
    _axe(page)

    _shift_tab_to(page, _nav_link("Audit log"))
    _see_focus(page, "Audit log in the main navigation")
    _enter_to(page, console + "/admin/audit")
    assert _heading(page) == "Audit log"
    _axe(page)
    _skip_to_content(page)
    _press(page, "Tab", "el.id === 'f-actor'", "the user filter")
    page.keyboard.type("ada")
    _enter_to(page, console + "/admin/audit?actor=ada&action=&subject=&incident=")
    users = page.locator("table tbody tr td:nth-child(3)").all_inner_texts()
    assert users and set(users) == {"ada"}, users  # ada's sign-in and her role change, nobody else's
    assert page.get_by_role("cell", name="user.roles", exact=False).count() >= 1
    assert page.get_by_label("User").input_value() == "ada"  # the filter shown as applied
    _axe(page)
    _at_top(page)  # a GET, like following a link: the page starts at the top
    _tab_to(page, _button("Verify the hash chains"))
    _see_focus(page, "Verify the hash chains")
    _enter_to(page, console + "/admin/audit/verify")
    _status_focused(page, "hash chains verified.")
    assert page.get_by_role("table", name="Hash chains").is_visible()
    results = page.get_by_role("table", name="Hash chains").locator("tbody td:last-child").all_inner_texts()
    assert results and set(results) == {"verified"}, results
    _axe(page)
