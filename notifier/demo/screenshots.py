"""Screenshots of the console for docs/console.md: ``python -m notifier.demo.screenshots VAR_DIR OUT_DIR``
serves the console over the demo's store (run ``notifier demo`` first) and photographs each role's pages
in Debian's Chromium (Playwright)."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from notifier.config import Settings
from notifier.console.app import console_app
from notifier.demo.run import CAMPAIGN, demo_password
from notifier.store import Store
from notifier.testing.serving import served
from notifier.testing.smtp import free_port

INCIDENT = "2026-11-credential-leak"
LONG = {"legal-approvals", "admin-audit"}
PAGES = {
    "lee": [
        ("legal-approvals", f"/incidents/{INCIDENT}/approvals"),
        ("legal-piece-email", f"/incidents/{INCIDENT}/pieces/breach_notice/ru/email/ru"),
        ("legal-piece-sms", f"/incidents/{INCIDENT}/pieces/breach_notice/vi/sms/vn"),
    ],
    "casey": [
        ("comms-campaigns", "/campaigns"),
        ("comms-campaign", f"/campaigns/{CAMPAIGN}"),
        ("comms-incident", f"/incidents/{INCIDENT}"),
        ("comms-incident-edit", f"/incidents/{INCIDENT}/edit"),
        ("comms-plan", "/campaigns/new"),
    ],
    "sam": [("support-queue", "/support?status=all"), ("support-reply", "/support/1")],
    "ada": [("admin-users", "/admin/users"), ("admin-audit", "/admin/audit")],
    "val": [("viewer-home", "/")],
}


def shoot(var_dir: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    settings = Settings.from_env(var_dir=var_dir, database_url=f"sqlite:///{var_dir / 'notifier.db'}")
    app = console_app(
        Store(settings.database_url), settings, secret_key=secrets.token_hex(32), secure_cookies=False
    )
    out.mkdir(parents=True, exist_ok=True)
    taken = []
    with served(app, free_port()) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 900})
        page.goto("/login")
        page.screenshot(path=str(out / "login.png"))
        taken.append(out / "login.png")
        for who, pages in PAGES.items():
            page.context.clear_cookies()
            page.goto("/login")
            page.get_by_label("User name").fill(who)
            page.get_by_label("Password").fill(demo_password(who))
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(base + "/")
            for name, path in pages:
                page.goto(path)
                # Long tables (every piece, every audit entry): their first screenful is the picture.
                page.screenshot(path=str(out / f"{name}.png"), full_page=name not in LONG)
                taken.append(out / f"{name}.png")
            if who == "sam":
                page.goto("/customers")
                page.get_by_label(
                    "Customer id, email address or phone number (with + and country code)"
                ).fill("CUST-0000005")
                page.get_by_role("button", name="Look up").click()
                page.screenshot(path=str(out / "support-lookup.png"), full_page=True)
                taken.append(out / "support-lookup.png")
        browser.close()
    return taken


if __name__ == "__main__":
    for path in shoot(Path(sys.argv[1]).resolve(), Path(sys.argv[2])):
        sys.stdout.write(f"{path}\n")
