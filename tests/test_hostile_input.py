"""Hostile or broken input never crashes a command or turns into commands: markup, NUL bytes, over-long
values, unclosed quotes, other CSV dialects, ids that look like something else, spreadsheet formulas,
encoded words in names, internationalized addresses. Each fails on its own line, the same way on SQLite
and PostgreSQL, and loses nothing else."""

from __future__ import annotations

import csv
import email
from email import policy
from pathlib import Path

import pytest
from helpers import LOCALES, customer, import_rows, incident_facts, planned_campaign, sign_in, write_csv
from sqlalchemy import select
from typer.testing import CliRunner

from notifier.audience.importer import import_customers
from notifier.audience.selection import Selection
from notifier.channels.email import SmtpChannel
from notifier.cli.app import app
from notifier.config import Settings
from notifier.errors import InputError, PermanentDeliveryError
from notifier.models import Channel, ChannelPolicy, RenderedMessage
from notifier.notices.records import create_incident
from notifier.reports.delivery import write_delivery_report
from notifier.sending.campaigns import campaign_exists, campaign_status, plan_campaign
from notifier.store import Store
from notifier.store.schema import customers, manifest
from notifier.testing.smtp import SmtpStandin

runner = CliRunner()


def test_customer_data_that_looks_like_console_markup_is_printed_as_text(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    sign_in(Store(db_url), monkeypatch, "comms")
    rows = [
        customer(1, name="[/] [bold red]Boss[/bold red]"),
        customer(2, email="[/link]@", external_id="[/]"),
    ]
    result = runner.invoke(app, ["customers", "import", str(write_csv(tmp_path / "m.csv", rows))])
    assert result.exit_code == 0, result.output
    assert "[/]" in result.output  # shown as written, not read as markup (which would have crashed)


def test_nul_bytes_and_over_long_values_fail_their_line_only_on_every_store(
    store: Store, tmp_path: Path
) -> None:
    rows = [
        customer(1),
        customer(2, external_id="C\x0002"),  # an identity with a NUL: the row cannot be imported
        customer(3, name="Ann\x00 Lee", region="C\x00A", country="US"),  # cleaned or dropped, row kept
        customer(4, region="X" * 300, country="US"),
        customer(5, name="N" * 10_000),
        customer(6, external_id="E" * 129),
        customer(7, email="a\x00b@example.com", phone="+7916\x001234567"),
    ]
    report = import_customers(store, write_csv(tmp_path / "nul.csv", rows))
    assert report.imported == 5 and {i.line for i in report.issues if i.rejected} == {3, 7}
    with store.connect() as conn:
        stored = {r.external_id: r for r in conn.execute(select(customers))}
    assert stored["C00003"].name == "Ann Lee" and stored["C00003"].region is None
    assert stored["C00004"].region is None and len(stored["C00005"].name) == 200
    assert stored["C00007"].email is None


def test_an_unclosed_quote_costs_one_line_not_the_rest_of_the_file(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", [customer(n) for n in range(1, 1001)])
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[5] = lines[5].replace("Customer 5", '"Customer 5')  # line 6 opens a quote it never closes
    path.write_text("".join(lines), encoding="utf-8")
    report = import_customers(store, path)
    assert report.imported == 999 and [i.line for i in report.issues if i.rejected] == [6]
    assert "unclosed quote" in next(i.message for i in report.issues if i.rejected)


def test_a_name_with_a_line_break_inside_quotes_is_still_one_customer(store: Store, tmp_path: Path) -> None:
    report = import_rows(store, tmp_path, [customer(1, name="Ivan\r\nPetrov"), customer(2)])
    assert report.imported == 2 and not any(i.rejected for i in report.issues)


def test_a_semicolon_file_is_read_and_an_unreadable_header_is_named(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["external_id", "name", "email"])
        writer.writerow(["S1", "Müller, Anna", "anna@example.com"])
    assert import_customers(store, path).imported == 1
    bad = tmp_path / "pipe.csv"
    bad.write_text("id;full name\n1;Ann\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"missing column.*external_id.*semicolon-separated"):
        import_customers(store, bad)


def _plan(store: Store, settings: Settings, ids: Path, name: str = "ids") -> None:
    plan_campaign(
        store,
        name=name,
        incident_key=incident_facts()["key"],
        selection=Selection(ids_file=ids),
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
        policy=ChannelPolicy.ALL,
        locales=LOCALES,
        actor="t",
    )


def test_the_affected_ids_file_has_the_customers_files_grammar_and_refuses_to_guess(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    import_rows(
        store,
        tmp_path,
        [customer(1, external_id="A"), customer(2, external_id="A,7"), customer(3, external_id="#12")],
    )
    create_incident(store, settings, incident_facts(), actor="t")
    unquoted = tmp_path / "unquoted.txt"
    unquoted.write_text("#12\nA,7\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: 2 fields where one id was expected"):
        _plan(store, settings, unquoted)
    assert not campaign_exists(store, "ids")  # refused before anything was made
    quoted = tmp_path / "quoted.txt"
    quoted.write_text('external_id\n"A,7"\n#12\n', encoding="utf-8")
    _plan(store, settings, quoted)
    with store.connect() as conn:
        chosen = set(conn.execute(select(manifest.c.external_id)).scalars())
    assert chosen == {"A,7", "#12"}  # customer "A" (another person) is not selected


@pytest.mark.parametrize("bad_id", ["x" * 129, "C\x001", "C\t2"])
def test_a_bad_unknown_id_is_refused_and_leaves_nothing_behind(
    store: Store, settings: Settings, tmp_path: Path, bad_id: str
) -> None:
    create_incident(store, settings, incident_facts(), actor="t")
    ids = tmp_path / "ids.txt"
    ids.write_bytes(("C00001\n" + bad_id + "\n").encode("utf-8"))
    with pytest.raises(InputError, match=r"line 2: external_id"):
        _plan(store, settings, ids)
    assert not campaign_exists(store, "ids")
    ids.write_text("C00001\n", encoding="utf-8")
    _plan(store, settings, ids)  # the same name plans fine once the file is fixed
    assert campaign_status(store, "ids").manifest["total"] == 1


def test_addresses_that_differ_only_in_case_are_one_mailbox(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = [customer(1, email="Ann.Lee@Example.com"), customer(2, email="ann.lee@example.com", phone="")]
    planned_campaign(store, settings, tmp_path, rows)
    summary = campaign_status(store, "test-campaign").manifest
    assert summary["email_not_used"] == {"duplicate_email": 1}


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralized(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    evil = ['=HYPERLINK("https://evil.example","click")', "+1+2", "-cmd", "@SUM(A1)"]
    rows = [customer(n, name=name) for n, name in enumerate(evil, start=1)]
    planned_campaign(store, settings, tmp_path, rows)
    csv_path = write_delivery_report(store, "test-campaign", tmp_path / "r", formats=("csv",))["csv"]
    with csv_path.open(encoding="utf-8", newline="") as handle:
        names = {row["name"] for row in csv.DictReader(handle)}
    assert names == {"'" + name for name in evil}


@pytest.mark.parametrize(
    "name",
    [
        "=?utf-8?q?Support?= <evil@attacker.example>, =?utf-8?q?x?=",
        "=?utf-8?b?QnVn?=\r\n=?utf-8?q?a=0D=0Ab?=",
    ],
)
async def test_a_name_with_encoded_words_is_shown_as_the_text_it_is(smtp: SmtpStandin, name: str) -> None:
    channel = SmtpChannel.from_url(smtp.url)
    try:
        message = RenderedMessage(
            channel=Channel.EMAIL,
            to="c1@example.com",
            subject="Notice",
            body_text="x",
            body_html="<p>x</p>",
            headers={"display_name": name},
        )
        await channel.send(message, token="c1m1e")
    finally:
        await channel.aclose()
    received = email.message_from_bytes(smtp.received[0].data, policy=policy.default)
    to = received["To"]
    assert [a.addr_spec for a in to.addresses] == ["c1@example.com"]  # no address read out of the name
    assert "=?utf-8?" in to.addresses[0].display_name  # the words themselves, as data


async def test_internationalized_addresses_go_out_as_smtp_allows() -> None:
    with SmtpStandin(smtputf8=True) as utf8_server, SmtpStandin() as plain_server:
        for server in (utf8_server, plain_server):
            channel = SmtpChannel.from_url(server.url)
            try:
                idn = RenderedMessage(
                    channel=Channel.EMAIL, to="anna@bücher.example", subject="s", body_text="x"
                )
                await channel.send(idn, token="c1m1e")  # the domain in its IDNA form: any server
                local = RenderedMessage(
                    channel=Channel.EMAIL, to="jörg@example.com", subject="s", body_text="x"
                )
                if server is utf8_server:
                    await channel.send(local, token="c1m2e")
                else:
                    with pytest.raises(PermanentDeliveryError, match="does not offer SMTPUTF8"):
                        await channel.send(local, token="c1m2e")
            finally:
                await channel.aclose()
        assert [r for m in utf8_server.received for r in m.recipients] == [
            "anna@xn--bcher-kva.example",
            "jörg@example.com",
        ]
        assert [r for m in plain_server.received for r in m.recipients] == ["anna@xn--bcher-kva.example"]


@pytest.mark.parametrize("name", ["../../etc/x", "", "a/b", "what?", "x" * 101])
def test_a_campaign_name_that_would_escape_a_file_or_a_web_address_is_refused(
    store: Store, settings: Settings, tmp_path: Path, name: str
) -> None:
    with pytest.raises(InputError, match="campaign name"):
        planned_campaign(store, settings, tmp_path, [customer(1)], name=name)
    assert not campaign_exists(store, name)
