"""The IMAP mailbox reader against a real Dovecot on loopback: replies reach the support queue with their
notice, auto-replies do not, bounces are applied, and a restart neither re-reads nor misses a message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import customer, planned_campaign, sign_in, tls_files
from sqlalchemy import select, update
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.config import MailboxSettings, Settings
from notifier.errors import ConfigurationError, MailboxError
from notifier.models import Channel
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import events, mailbox_checkpoints, manifest, outbox, replies
from notifier.testing.dovecot import DovecotServer
from notifier.testing.smtp import ReceivedMail, SmtpStandin
from notifier.tracking.mailbox import read_mailbox

DOMAIN = "bounces.example.com"


@pytest.fixture
def imap(tmp_path: Path) -> Iterator[tuple[DovecotServer, Path]]:
    ca, cert, key = tls_files(tmp_path)
    with DovecotServer(cert=cert, key=key) as server:
        yield server, ca


def _mailbox(server: DovecotServer, ca: Path) -> MailboxSettings:
    return MailboxSettings.parse(server.url(ca))


def _sent(store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path) -> dict[str, ReceivedMail]:
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in (1, 2, 3)], channels=frozenset({Channel.EMAIL})
    )
    launch(store, settings, "test-campaign", actor="t")
    return {m.recipients[0]: m for m in smtp.received}


def _mail(sender: str, subject: str, body: str, *, message_id: str, headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: security@example.com\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{headers}\r\n{body}"
    ).encode()


def test_replies_auto_replies_and_bounces_each_go_where_they_belong(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path, imap: tuple[DovecotServer, Path]
) -> None:
    from helpers import dsn

    server, ca = imap
    sent = _sent(store, settings, smtp, tmp_path)
    ours = sent["c3@example.com"].message["Message-ID"]
    forged = ours.replace("-", "-x", 1)
    server.deliver(
        ca,
        _mail(  # a Russian customer answers our notice, quoting it
            "Customer Three <C3@Example.com>",
            "Re: уведомление",
            "Нужно ли менять пароль?\r\n\r\n"
            "5 ноября 2026 г., Example Shop писал(а):\r\n> Уважаемый клиент!\r\n",
            message_id="<r1@mail.example.ru>",
            headers=f"In-Reply-To: {ours}\r\nReferences: {ours}\r\n",
        ),
        _mail(  # an out-of-office answer (RFC 3834)
            "c1@example.com",
            "Out of Office",
            "I am away.",
            message_id="<a1@x>",
            headers="Auto-Submitted: auto-replied\r\n",
        ),
        _mail("c2@example.com", "Trả lời tự động: thông báo", "Tôi đang nghỉ phép.", message_id="<a2@x>"),
        dsn(sent["c2@example.com"], status="5.1.1", diagnostic="550 5.1.1 user unknown"),
        _mail(  # quotes a forged token of ours: matched by the sender instead
            "c1@example.com",
            "question",
            "<b>Is my card safe?</b>\r\n-- \r\nC1",
            message_id="<r2@x>",
            headers=f"In-Reply-To: {forged}\r\n",
        ),
        _mail("stranger@elsewhere.example", "hello", "Who are you?", message_id="<r3@x>"),
    )
    run = read_mailbox(store, _mailbox(server, ca), bounce_domain=DOMAIN)
    assert (run.read, run.replies, run.auto_replies, run.bounces, run.other) == (6, 3, 2, 1, 0)
    with store.connect() as conn:
        queued = {
            r.contact: r
            for r in conn.execute(
                select(replies, manifest.c.email.label("notice_to")).select_from(
                    replies.outerjoin(outbox, outbox.c.id == replies.c.outbox_id).outerjoin(manifest)
                )
            )
        }
        kinds = sorted(conn.execute(select(events.c.kind).where(events.c.provider == "imap")).scalars())
        bounced = conn.execute(
            select(outbox.c.state).join(manifest).where(manifest.c.email == "c2@example.com")
        ).scalar_one()
    assert set(queued) == {"c3@example.com", "c1@example.com", "stranger@elsewhere.example"}
    russian = queued["c3@example.com"]
    assert (russian.body, russian.subject, russian.locale, russian.notice_to) == (
        "Нужно ли менять пароль?",
        "Re: уведомление",
        "ru",
        "c3@example.com",
    )
    assert (
        queued["c1@example.com"].body == "<b>Is my card safe?</b>"
        and queued["c1@example.com"].notice_to == "c1@example.com"
    )
    assert (
        queued["stranger@elsewhere.example"].customer_id is None
        and queued["stranger@elsewhere.example"].campaign_id is None
    )
    assert kinds == ["auto_replied", "auto_replied", "bounced", "replied", "replied", "replied"]
    assert bounced == "bounced"


def test_a_restart_reads_nothing_twice_and_misses_nothing(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path, imap: tuple[DovecotServer, Path]
) -> None:
    server, ca = imap
    _sent(store, settings, smtp, tmp_path)
    mailbox = _mailbox(server, ca)
    first = [_mail("c1@example.com", f"q{n}", f"question {n}", message_id=f"<q{n}@x>") for n in range(3)]
    server.deliver(ca, *first)
    stopped_early = read_mailbox(store, mailbox, bounce_domain=DOMAIN, limit=2)  # as if stopped after two
    server.deliver(
        ca, *[_mail("c2@example.com", f"q{n}", f"question {n}", message_id=f"<q{n}@y>") for n in (3, 4)]
    )
    resumed = read_mailbox(store, mailbox, bounce_domain=DOMAIN)
    nothing_new = read_mailbox(store, mailbox, bounce_domain=DOMAIN)
    assert (stopped_early.read, resumed.read, nothing_new.read) == (2, 3, 0)
    with store.begin() as conn:  # the server renumbers the folder: everything is read again, nothing doubled
        conn.execute(update(mailbox_checkpoints).values(uid_validity=1))
    renumbered = read_mailbox(store, mailbox, bounce_domain=DOMAIN)
    assert (renumbered.read, renumbered.already_recorded, renumbered.replies) == (5, 5, 0)
    with store.connect() as conn:
        bodies = sorted(conn.execute(select(replies.c.body)).scalars())
    assert bodies == [f"question {n}" for n in range(5)]


def test_starttls_works_and_bad_mailbox_settings_are_one_clear_line(
    store: Store, settings: Settings, tmp_path: Path, imap: tuple[DovecotServer, Path]
) -> None:
    server, ca = imap
    starttls = MailboxSettings.parse(
        f"imap://{server.user}:{server.password}@127.0.0.1:{server.plain_port}/INBOX?starttls=1&cafile={ca}"
    )
    assert read_mailbox(store, starttls, bounce_domain=DOMAIN).read == 0
    with pytest.raises(ConfigurationError, match="imap:// sends the password in the clear"):
        MailboxSettings.parse(f"imap://u:p@127.0.0.1:{server.plain_port}/INBOX")
    wrong_password = MailboxSettings.parse(server.url(ca).replace(server.password, "nope"))
    with pytest.raises(
        MailboxError, match=r"mailbox replies@127\.0\.0\.1:\d+/INBOX: .*check NOTIFIER_MAILBOX_URL"
    ):
        read_mailbox(store, wrong_password, bounce_domain=DOMAIN)
    untrusted = MailboxSettings.parse(server.url())  # the server's private CA not given
    with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED"):
        read_mailbox(store, untrusted, bounce_domain=DOMAIN)
    with pytest.raises(MailboxError, match="cannot open the folder"):
        read_mailbox(store, MailboxSettings.parse(server.url(ca, folder="Nope")), bounce_domain=DOMAIN)

    runner = CliRunner()
    env = {"NOTIFIER_DATABASE_URL": settings.database_url, "NOTIFIER_MAILBOX_URL": wrong_password.url}
    refused = runner.invoke(cli, ["track", "mailbox"], env=env)
    read = runner.invoke(cli, ["track", "mailbox"], env={**env, "NOTIFIER_MAILBOX_URL": server.url(ca)})
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.output
    assert "[AUTHENTICATIONFAILED] Authentication failed." in refused.stderr
    assert "nope" not in refused.output and server.password not in read.output  # no secret printed
    assert read.exit_code == 0 and "messages read" in read.output


@pytest.mark.prefect
def test_the_track_mailbox_flow_reads_and_publishes_what_it_found(
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
    settings: Settings,
    smtp: SmtpStandin,
    tmp_path: Path,
    imap: tuple[DovecotServer, Path],
) -> None:
    server, ca = imap
    _sent(store, settings, smtp, tmp_path)
    server.deliver(ca, _mail("c2@example.com", "question", "Do I need a new card?", message_id="<f1@x>"))
    from flows.track_mailbox import track_mailbox

    monkeypatch.delenv("NOTIFIER_MAILBOX_URL", raising=False)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", settings.database_url)
    skipped = track_mailbox()
    monkeypatch.setenv("NOTIFIER_MAILBOX_URL", server.url(ca))
    monkeypatch.setenv("NOTIFIER_EMAIL_URL", settings.email_url or "")
    first, second = track_mailbox(), track_mailbox()
    assert skipped == {"skipped": "NOTIFIER_MAILBOX_URL is not set"}
    assert (first["read"], first["replies"], second["read"]) == (1, 1, 0)

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["mailbox"]))
        )
    assert artifacts and "replies queued for support" in str(artifacts[0].data)


def test_saved_messages_are_applied_once_from_the_cli(
    store: Store, settings: Settings, smtp: SmtpStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifier.testing import mail

    sent = _sent(store, settings, smtp, tmp_path)
    files = {
        "reply.eml": mail.reply(sent["c1@example.com"], "Is my card safe?"),
        "away.eml": mail.vacation_reply(sent["c2@example.com"]),
        "bounce.eml": mail.dsn(sent["c3@example.com"], status="5.1.1", diagnostic="550 5.1.1 no such user"),
    }
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    args = ["track", "mail-files", *(str(tmp_path / n) for n in files), str(tmp_path / "missing.eml")]
    env = {"NOTIFIER_DATABASE_URL": settings.database_url, "NOTIFIER_EMAIL_URL": settings.email_url or ""}
    sign_in(store, monkeypatch, "support")
    first = CliRunner().invoke(cli, args, env=env)
    again = CliRunner().invoke(cli, args, env=env)
    assert first.exit_code == 0 and again.exit_code == 0
    for taken in ("reply", "auto_reply", "failure", "cannot read"):
        assert taken in first.output
    assert again.output.count("already recorded") == 3  # recognised by their Message-ID
    with store.connect() as conn:
        queued = conn.execute(select(replies.c.body, replies.c.customer_id)).all()
        state = conn.execute(
            select(outbox.c.state).join(manifest).where(manifest.c.email == "c3@example.com")
        ).scalar()
    assert [b for b, _ in queued] == ["Is my card safe?"] and queued[0][1] is not None
    assert state == "bounced"
