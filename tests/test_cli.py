"""The command line as a newcomer uses it: help, import, incident, plan, launch --direct, status, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import INCIDENT_FILE, customer, sign_in, write_csv
from typer.testing import CliRunner

from notifier.audience.importer import COLUMNS
from notifier.cli.app import app
from notifier.store import Store
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

runner = CliRunner()


def test_help_explains_the_workflow() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "db", "customers", "incident", "campaign"):
        assert command in result.output
    assert "campaign plan" in result.output.replace("`", "")


def test_the_whole_workflow_from_the_command_line(
    db_url: str, tmp_path: Path, smtp: SmtpStandin, twilio: TwilioStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    monkeypatch.setenv("NOTIFIER_EMAIL_URL", smtp.url)
    monkeypatch.setenv("NOTIFIER_SMS_URL", twilio.url)
    csv_path = write_csv(tmp_path / "c.csv", [customer(1), customer(2, email="nope@"), customer(3)])
    with csv_path.open("a", encoding="utf-8") as handle:
        handle.write("C9,only,three\n")
    ids = tmp_path / "ids.txt"
    ids.write_text("C00001\nC00002\nC00003\nC404\n", encoding="utf-8")

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    # People: the first admin needs no sign-in; then only the admin adds users and issues tokens.
    first = runner.invoke(
        app, ["users", "add", "ada", "--role", "admin", "--password-stdin"], input="correct horse battery\n"
    )
    assert first.exit_code == 0, first.output
    tokens = {"ada": runner.invoke(app, ["users", "token", "ada"]).stdout.strip().splitlines()[-1]}
    again = runner.invoke(app, ["users", "token", "ada"])
    assert again.exit_code == 1 and "NOTIFIER_TOKEN" in again.output  # only the first token is free
    monkeypatch.setenv("NOTIFIER_TOKEN", tokens["ada"])
    for name, roles in (("alice", ["comms", "legal"]), ("bob", ["comms"]), ("carol", ["legal"])):
        added = runner.invoke(
            app, ["users", "add", name, "--token-only", *[a for r in roles for a in ("--role", r)]]
        )
        assert added.exit_code == 0, added.output
        tokens[name] = runner.invoke(app, ["users", "token", name]).stdout.strip().splitlines()[-1]
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0 and "comms, legal" in listed.output

    def as_user(name: str) -> None:
        monkeypatch.setenv("NOTIFIER_TOKEN", tokens[name])

    not_allowed = runner.invoke(app, ["customers", "import", str(csv_path)])
    assert not_allowed.exit_code == 1 and "ada may not customers.import" in " ".join(
        not_allowed.output.split()
    )
    as_user("alice")
    imported = runner.invoke(app, ["customers", "import", str(csv_path)])
    assert imported.exit_code == 0, imported.output
    assert "invalid email" in imported.output and "rejected" in imported.output
    assert f"expected {len(COLUMNS)} fields, found 3" in " ".join(imported.output.split())
    assert runner.invoke(app, ["incident", "create", str(INCIDENT_FILE)]).exit_code == 0
    key = "2026-11-credential-leak"
    planned = runner.invoke(
        app,
        [
            "campaign",
            "plan",
            "cli-test",
            "--incident",
            "2026-11-credential-leak",
            "--affected-ids",
            str(ids),
            "--quiet-hours",
            "0-24",
        ],
    )
    assert planned.exit_code == 0, planned.output
    assert "unknown_customer" in planned.output and "email + SMS" in planned.output
    # C00002 is a US reader with neither a postal address nor e-sign consent; C404 is nobody.
    assert "2 of 4 people would get no notice the law accepts" in " ".join(planned.output.split())
    as_user("bob")
    refused = runner.invoke(app, ["campaign", "launch", "cli-test", "--direct"])
    assert refused.exit_code == 1 and f"{key}/breach_notice/ru/email/ru is never approved" in " ".join(
        refused.output.split()
    )
    chosen = ["--incident", key, "--notice", "breach_notice"]
    not_legal = runner.invoke(app, ["templates", "approve", *chosen])
    assert not_legal.exit_code == 1 and "bob may not notice.decide" in " ".join(not_legal.output.split())
    as_user("alice")
    submitted = runner.invoke(app, ["templates", "submit", *chosen])
    assert submitted.exit_code == 0, submitted.output
    same = runner.invoke(app, ["templates", "approve", *chosen])  # alice is legal too, but edited them
    assert same.exit_code == 1 and "four eyes" in same.output
    as_user("carol")
    approved = runner.invoke(app, ["templates", "approve", *chosen])
    assert approved.exit_code == 0, approved.output
    assert "72 approved, 0 refused" in approved.output  # 3 languages × 3 channels × 8 profiles
    status = runner.invoke(app, ["templates", "status", "--incident", key])
    assert status.exit_code == 0 and "failing lint" in status.output  # the update notice: no update facts yet
    as_user("bob")
    launched = runner.invoke(app, ["campaign", "launch", "cli-test", "--direct"])
    assert launched.exit_code == 0, launched.output
    assert (
        "sent 5 · delivered 0 · failed 0 · deferred 0 · remaining 0" in launched.output
    )  # the live bar's end
    status = runner.invoke(app, ["campaign", "status", "cli-test", "--json"])
    assert json.loads(status.output)["outbox"] == {"email": {"accepted": 2}, "sms": {"accepted": 3}}
    report = runner.invoke(app, ["campaign", "report", "cli-test", "--out", str(tmp_path / "reports")])
    assert report.exit_code == 0
    lines = (tmp_path / "reports" / "cli-test-delivery.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + 5 + 1  # header, 5 sends, the unknown customer
    assert "c1@example.com" not in "\n".join(lines) and "c***@example.com" in lines[1]
    html = (tmp_path / "reports" / "cli-test-delivery.html").read_text(encoding="utf-8")
    assert "<table>" in html and "C404" in html


def test_errors_are_one_clear_line_not_a_traceback(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    bad = tmp_path / "incident.json"
    bad.write_text('{"key": "x",\n "title": }', encoding="utf-8")
    result = runner.invoke(app, ["incident", "create", str(bad)])
    assert result.exit_code == 1
    assert "line 2" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        app, ["campaign", "plan", "x", "--incident", "nope", "--query", "SELECT 1", "--channels", "fax"]
    )
    assert result.exit_code == 1 and "fax" in result.output
    result = runner.invoke(app, ["campaign", "status", "missing"])
    assert result.exit_code == 1 and "sign in first: export NOTIFIER_TOKEN" in " ".join(result.output.split())
    monkeypatch.setenv("NOTIFIER_TOKEN", "ntf_forged")
    result = runner.invoke(app, ["campaign", "status", "missing"])
    assert result.exit_code == 1 and "not a valid token" in result.output
    sign_in(Store(db_url), monkeypatch, "viewer")
    result = runner.invoke(app, ["campaign", "status", "missing"])
    assert result.exit_code == 1 and "no campaign named 'missing'" in result.output


@pytest.mark.parametrize(
    ("env", "args", "says"),
    [
        (
            {"NOTIFIER_BATCH_SIZE": "5k"},
            ["campaign", "status", "x"],
            "NOTIFIER_BATCH_SIZE '5k' is not a whole number",
        ),
        ({}, ["templates", "lint", "--locale", "fr"], "unknown locale 'fr'; known: en, ru, vi"),
        ({}, ["templates", "lint", "--notice", "breach"], "unknown notice 'breach'"),
        (
            {"NOTIFIER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"},
            ["campaign", "status", "x"],
            "cannot reach the store at postgresql+psycopg://nobody@127.0.0.1:1/x",
        ),
        ({"NOTIFIER_DATABASE_URL": "postgres:/nonsense"}, ["campaign", "status", "x"], "store URL"),
        (
            {"NOTIFIER_EMAIL_URL": "smtp://h:25?rate=fast"},
            ["campaign", "status", "x"],
            "rate= 'fast' is not a number",
        ),
    ],
)
def test_bad_configuration_is_one_clear_line_and_a_non_zero_exit(
    env: dict[str, str], args: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert says in " ".join(result.output.split()) and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_store_that_was_never_migrated_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    result = runner.invoke(app, ["campaign", "status", "x"])
    assert result.exit_code == 1 and "has no tables yet: run `notifier db upgrade`" in " ".join(
        result.output.split()
    )
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    sign_in(Store(f"sqlite:///{tmp_path / 'never.db'}"), monkeypatch, "viewer")
    after = runner.invoke(app, ["campaign", "status", "x"])
    assert after.exit_code == 1 and "no campaign named 'x'" in after.output
