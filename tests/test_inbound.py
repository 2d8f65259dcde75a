"""Inbound SMS through the real tracking service: keywords in every language take effect at once and are
answered in the customer's language; everything else reaches the support queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from helpers import customer, incident_facts, planned_campaign, sign_in
from sqlalchemy import select, update
from test_tracking import serving_at
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.cli.common import console
from notifier.config import Settings
from notifier.errors import ConfigurationError
from notifier.models import Channel, ChannelPolicy
from notifier.sending.campaigns import campaign_status
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import audit_log, campaigns, customers, events, manifest, outbox, replies
from notifier.testing.smtp import free_port
from notifier.testing.twilio import TwilioStandin
from notifier.tracking.app import tracking_app
from notifier.tracking.keywords import KeywordAction, KeywordTable

RU, VI, US = customer(3), customer(1), customer(2)  # n % 3: 0 Russian, 1 Vietnamese, 2 US English


@pytest.fixture(scope="module")
def table() -> KeywordTable:
    from notifier.config import PROJECT_ROOT

    return KeywordTable.load(PROJECT_ROOT / "templates")


@pytest.mark.parametrize(
    ("body", "action", "language"),
    [
        ("STOP", "opt_out", "en"),
        ("  stop!  ", "opt_out", "en"),
        ("Stop.", "opt_out", "en"),
        ("stop all", "opt_out", "en"),
        ("Unsubscribe", "opt_out", "en"),
        ("cancel", "opt_out", "en"),
        ("START", "opt_in", "en"),
        ("yes", "opt_in", "en"),
        ("UNSTOP", "opt_in", "en"),
        ("help", "help", "en"),
        ("INFO?", "help", "en"),
        ("СТОП", "opt_out", "ru"),
        ("стоп.", "opt_out", "ru"),
        ("Отписаться!", "opt_out", "ru"),
        ("СТАРТ", "opt_in", "ru"),
        ("Помощь", "help", "ru"),
        ("Dừng", "opt_out", "vi"),
        ("DUNG", "opt_out", "vi"),
        ("huỷ", "opt_out", "vi"),  # the older tone-mark placement
        ("HỦY", "opt_out", "vi"),
        ("Hủy đăng ký", "opt_out", "vi"),
        ("TC", "opt_out", "vi"),
        ("bat dau", "opt_in", "vi"),
        ("Bắt đầu", "opt_in", "vi"),
        ("BATDAU", "opt_in", "vi"),
        ("trợ giúp", "help", "vi"),
        ("TRO GIUP", "help", "vi"),
        ("please stop", None, None),
        ("stop sending me this", None, None),
        ("да", None, None),
        ("có", None, None),
        ("Tôi có cần đổi mật khẩu không?", None, None),
        ("", None, None),
        ("🛑", None, None),
    ],
)
def test_keywords_ignore_case_accents_spaces_and_punctuation_in_every_language(
    table: KeywordTable, body: str, action: str | None, language: str | None
) -> None:
    keyword = table.match(body)
    assert (keyword.action.value if keyword else None, keyword.language if keyword else None) == (
        action,
        language,
    )


def test_a_keyword_table_that_contradicts_itself_is_refused_naming_both(tmp_path: Path) -> None:
    from notifier.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "templates" / "sms_keywords.toml").read_text(encoding="utf-8")
    (tmp_path / "sms_keywords.toml").write_text(
        text.replace('help = ["TRỢ GIÚP"', 'help = ["stọp", "TRỢ GIÚP"'), encoding="utf-8"
    )
    with pytest.raises(
        ConfigurationError, match=r"\[vi\] help keyword 'stọp' reads as \[en\] opt_out keyword 'STOP'"
    ):
        KeywordTable.load(tmp_path)
    (tmp_path / "sms_keywords.toml").write_text(
        text.replace('help = "{brand} data', 'hlp = "{brand} data'), encoding="utf-8"
    )
    with pytest.raises(
        ConfigurationError, match=r"\[en.replies\] must give exactly contact, help, opt_in, opt_out"
    ):
        KeywordTable.load(tmp_path)


@contextmanager
def _service(store: Store, settings: Settings, twilio: TwilioStandin) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = tracking_app(
        store, auth_token=twilio.auth_token, public_base_url=base, templates_dir=settings.templates_dir
    )
    with serving_at(app, port):
        yield base


def _reply_text(response: httpx.Response) -> str | None:
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    import xml.etree.ElementTree as ET

    message = ET.fromstring(response.text).find("Message")
    return message.text if message is not None else None


def _sms_opt_out(store: Store, external_id: str) -> bool:
    with store.connect() as conn:
        return bool(
            conn.execute(
                select(customers.c.sms_opt_out).where(customers.c.external_id == external_id)
            ).scalar_one()
        )


def test_stop_and_start_in_russian_take_effect_at_once_and_are_answered_in_russian(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [RU, VI, US], channels=frozenset({Channel.SMS}))
    launch(store, settings, "test-campaign", actor="t")
    with _service(store, settings, twilio) as base:
        stop = twilio.text_in(f"{base}/twilio/inbound", sender=RU["phone"], body="  Стоп! ")
        stopped = _sms_opt_out(store, RU["external_id"])
        start = twilio.text_in(f"{base}/twilio/inbound", sender=RU["phone"], body="старт")
        help_vi = twilio.text_in(f"{base}/twilio/inbound", sender=VI["phone"], body="tro giup")
    assert _reply_text(stop) == (
        "Example Shop: Вы больше не будете получать от нас SMS. Чтобы снова получать их, отправьте СТАРТ. "
        "Вопросы: +1 800 555 0100"
    )
    assert stopped is True and _sms_opt_out(store, RU["external_id"]) is False
    assert _reply_text(start).startswith("Example Shop: Вы снова будете получать наши SMS.")  # type: ignore[union-attr]
    assert _reply_text(help_vi) == (
        "Example Shop: thông báo về an ninh dữ liệu. Hỗ trợ: +1 800 555 0100 "
        "Để ngừng nhận tin nhắn, gửi DUNG."
    )
    with store.connect() as conn:
        kinds = [
            (e.kind, e.reason, e.contact, e.campaign_id is not None, e.customer_id is not None)
            for e in conn.execute(
                select(events)
                .where(events.c.provider == "twilio", events.c.kind != "queued")
                .where(events.c.kind.in_(["opted_out", "opted_in", "help"]))
                .order_by(events.c.id)
            )
        ]
        payload = json.loads(
            conn.execute(select(events.c.payload).where(events.c.kind == "opted_out")).scalar_one()
        )
        queued = conn.execute(select(replies)).all()
    assert kinds == [
        ("opted_out", "СТОП", RU["phone"], True, True),
        ("opted_in", "СТАРТ", RU["phone"], True, True),
        ("help", "TRỢ GIÚP", VI["phone"], True, True),
    ]
    assert payload["Body"] == "  Стоп! " and payload["From"] == RU["phone"]  # what arrived, kept
    assert queued == []  # keywords are handled, not queued for support


def test_an_opt_out_reaches_later_campaigns_and_unsent_rows_of_running_ones_and_start_restores_them(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    planned_campaign(store, settings, tmp_path, [RU, VI, US], channels=frozenset({Channel.SMS}))
    with store.begin() as conn:  # launched, nothing sent yet; the Vietnamese row is a deferred retry
        conn.execute(update(campaigns).values(state="running"))
        vi_row = conn.execute(
            select(outbox.c.id).join(manifest).where(manifest.c.phone == VI["phone"])
        ).scalar_one()
        conn.execute(update(outbox).where(outbox.c.id == vi_row).values(state="deferred"))
    with _service(store, settings, twilio) as base:
        twilio.text_in(f"{base}/twilio/inbound", sender=RU["phone"], body="STOP")
        twilio.text_in(f"{base}/twilio/inbound", sender=VI["phone"], body="HỦY")
        after_stop = campaign_status(store, "test-campaign").outbox
        twilio.text_in(f"{base}/twilio/inbound", sender=VI["phone"], body="Bắt đầu")
        after_start = campaign_status(store, "test-campaign").outbox
    assert after_stop == {"sms": {"pending": 1, "suppressed": 2}}
    assert after_start == {"sms": {"pending": 1, "deferred": 1, "suppressed": 1}}  # back as it was
    assert _sms_opt_out(store, RU["external_id"]) and not _sms_opt_out(store, VI["external_id"])
    # A later campaign for the same people leaves the Russian number out, for its opt-out.
    from notifier.audience.selection import Selection
    from notifier.sending.campaigns import plan_campaign

    ids = tmp_path / "again.txt"
    ids.write_text("\n".join(r["external_id"] for r in (RU, VI, US)) + "\n", encoding="utf-8")
    plan_campaign(
        store,
        name="later",
        incident_key=incident_facts()["key"],
        selection=Selection(ids_file=ids),
        channels=frozenset({Channel.SMS}),
        policy=ChannelPolicy.ALL,
        actor="t",
        locales=("en", "ru", "vi"),
    )
    with store.connect() as conn:
        reasons = dict(
            conn.execute(
                select(manifest.c.external_id, manifest.c.sms_reason)
                .join(campaigns)
                .where(campaigns.c.name == "later")
            ).all()
        )
    assert reasons[RU["external_id"]] == "sms_opted_out" and reasons[VI["external_id"]] is None


def test_unknown_numbers_get_the_generic_answer_and_questions_reach_the_support_queue(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned_campaign(store, settings, tmp_path, [RU, VI, US], channels=frozenset({Channel.SMS}))
    launch(store, settings, "test-campaign", actor="t")
    question = "Tôi có cần đổi mật khẩu không? <b>[red]x[/red]</b>\x07\u202e"
    with _service(store, settings, twilio) as base:
        stranger = twilio.text_in(f"{base}/twilio/inbound", sender="+447700900123", body="HELP")
        stranger_ru = twilio.text_in(f"{base}/twilio/inbound", sender="+447700900123", body="СТОП")
        asked = twilio.text_in(f"{base}/twilio/inbound", sender=VI["phone"], body=question)
        bad_from = twilio.text_in(f"{base}/twilio/inbound", sender="0911", body="STOP")
    assert _reply_text(stranger) == (
        "Example Shop data security notices. Questions: +1 800 555 0100 Reply STOP to stop text messages."
    )
    assert _reply_text(stranger_ru).startswith("Example Shop: Вы больше не будете получать от нас SMS.")  # type: ignore[union-attr]
    assert _reply_text(asked) is None  # support answers; no automatic text
    assert bad_from.status_code == 400
    with store.connect() as conn:
        (reply,) = conn.execute(select(replies)).all()
        sent_to_vi = conn.execute(
            select(outbox.c.id).join(manifest).where(manifest.c.phone == VI["phone"])
        ).scalar_one()
    assert reply.body == "Tôi có cần đổi mật khẩu không? <b>[red]x[/red]</b>"  # control characters gone
    assert (reply.status, reply.channel, reply.locale, reply.contact) == ("open", "sms", "vi", VI["phone"])
    assert reply.outbox_id == sent_to_vi and reply.customer_id is not None

    runner = CliRunner()
    monkeypatch.setattr(console, "width", 200)  # a wide terminal: whole cells, one row per reply
    env = {"NOTIFIER_DATABASE_URL": settings.database_url}
    sign_in(store, monkeypatch, "support", username="sam")
    listed = runner.invoke(cli, ["support", "list"], env=env)
    shown = runner.invoke(cli, ["support", "show", str(reply.id)], env=env)
    closed = runner.invoke(
        cli,
        ["support", "close", str(reply.id), "--note", "called back"],
        env=env,
        terminal_width=200,
    )
    still_open = runner.invoke(cli, ["support", "list"], env=env)
    missing = runner.invoke(cli, ["support", "close", "999"], env=env)
    nobody = runner.invoke(cli, ["support", "assign", str(reply.id), "--to", "x" * 300], env=env)
    assigned = runner.invoke(cli, ["support", "assign", str(reply.id), "--to", "SAM"], env=env)
    assert nobody.exit_code == 1 and "there is no active user" in nobody.output
    assert assigned.exit_code == 0 and "sam" in assigned.output
    assert listed.exit_code == 0 and VI["external_id"] in listed.output and "test-campaign" in listed.output
    assert VI["phone"] not in listed.output and "+8******0001" in listed.output  # masked
    assert shown.exit_code == 0 and "<b>[red]x[/red]</b>" in shown.output  # shown as text, never markup
    assert "breach_notice in vi" in shown.output and "accepted" in shown.output
    assert closed.exit_code == 0 and "closed" in closed.output and "called back" in closed.output
    assert "no open replies" in still_open.output
    assert missing.exit_code == 1 and "no reply 999 in the support queue" in missing.output
    with store.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.detail).where(
                audit_log.c.action == "support.update"
            )
        ).all()
    assert [tuple(a) for a in audited] == [
        ("sam", "support.update", {"status": "closed", "note": "called back"}),
        ("sam", "support.update", {"assignee": "sam"}),  # the refused one changed nothing
    ]


def test_status_callbacks_and_inbound_messages_are_events_and_forged_ones_are_not(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    from test_tracking import _wait_for

    twilio.callback_outcomes = {"delivered": 0.5, "undelivered": 0.5}
    planned_campaign(
        store, settings, tmp_path, [customer(n) for n in range(1, 7)], channels=frozenset({Channel.SMS})
    )
    with _service(store, settings, twilio) as base:
        sms = replace(settings, sms_url=f"{twilio.url}&status_callback={base}/twilio/status")
        launch(store, sms, "test-campaign", actor="t")
        _wait_for(lambda: len(twilio.callbacks_posted) == 6 * 2)
        forged = httpx.post(
            f"{base}/twilio/inbound",
            data={"From": RU["phone"], "Body": "STOP"},
            headers={"X-Twilio-Signature": "x"},
        )
        health = httpx.get(f"{base}/healthz")
    with store.connect() as conn:
        got = sorted(
            conn.execute(select(events.c.kind, events.c.reason).where(events.c.kind != "sent")).all()
        )
        sent = conn.execute(select(events).where(events.c.kind == "sent")).all()
        linked = conn.execute(select(events).where(events.c.outbox_id.is_(None))).all()
    finals = sorted(
        (c["status"], "30003" if c["status"] == "undelivered" else None)
        for c in twilio.callbacks_posted
        if c["status"] != "sent"
    )
    assert got == finals and len(sent) == 6 and linked == []
    assert forged.status_code == 403 and not _sms_opt_out(store, RU["external_id"])
    assert health.status_code == 200 and health.json() == {"status": "up"}  # no version for the public


def test_health_says_503_when_the_store_does_not_answer(settings: Settings, twilio: TwilioStandin) -> None:
    unreachable = Store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with _service(unreachable, settings, twilio) as base:
        health = httpx.get(f"{base}/healthz")
    assert health.status_code == 503 and health.json() == {"status": "down"}


def test_every_language_answers_every_keyword_within_two_sms_segments(table: KeywordTable) -> None:
    from notifier.notices.segments import segment_info

    for language in table.replies:
        for action in KeywordAction:
            text = table.reply(action, language, brand="Example Shop", contact="+1 800 555 0100")
            assert "{" not in text and segment_info(text).segments <= 2, (language, action, text)


def _count(store: Store, table: object) -> int:
    from sqlalchemy import func

    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_replayed_inbound_message_is_answered_200_and_changes_nothing(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    """The same signed request twice (an attacker's replay, or Twilio retrying one it thinks failed): one
    reply in the support queue, and a replayed STOP after a START leaves the customer opted in."""
    planned_campaign(store, settings, tmp_path, [RU, VI], channels=frozenset({Channel.SMS}))
    launch(store, settings, "test-campaign", actor="t")
    question, stop, start = ("SM" + f"{n:032x}" for n in (1, 2, 3))
    with _service(store, settings, twilio) as base:
        url = f"{base}/twilio/inbound"
        first = twilio.text_in(url, sender=VI["phone"], body="Có cần đổi mật khẩu?", message_sid=question)
        again = twilio.text_in(url, sender=VI["phone"], body="Có cần đổi mật khẩu?", message_sid=question)
        twilio.text_in(url, sender=RU["phone"], body="СТОП", message_sid=stop)
        twilio.text_in(url, sender=RU["phone"], body="СТАРТ", message_sid=start)
        events_before = _count(store, events)
        replayed_stop = twilio.text_in(url, sender=RU["phone"], body="СТОП", message_sid=stop)
        forged_sid = twilio.text_in(url, sender=RU["phone"], body="СТОП", message_sid="SM-not-a-sid")
    assert first.status_code == again.status_code == replayed_stop.status_code == 200
    assert _reply_text(again) is None and _reply_text(replayed_stop) is None
    assert _count(store, replies) == 1
    assert _sms_opt_out(store, RU["external_id"]) is False  # the replayed STOP did not undo the START
    assert _count(store, events) == events_before
    assert forged_sid.status_code == 400 and _sms_opt_out(store, RU["external_id"]) is False


def test_twilios_own_opt_out_is_the_source_of_truth_and_21610_opts_the_number_out(
    store: Store, settings: Settings, twilio: TwilioStandin, tmp_path: Path
) -> None:
    """Under Advanced Opt-Out Twilio matches its own keywords (``ARRET``, ``Stopp``: not in our table) and
    blocks the number itself; the webhook says so with OptOutType, and the store must agree, or every
    later campaign fails with 21610. A 21610 at sending (a STOP we never saw) opts the number out too."""
    twilio.advanced_opt_out = {"ARRET": "STOP", "STOPP": "STOP", "REPRENDRE": "START"}
    other = customer(4, phone=US["phone"], email="shared@example.com")  # the same mobile as US
    planned_campaign(store, settings, tmp_path, [RU, VI, US, other], channels=frozenset({Channel.SMS}))
    with _service(store, settings, twilio) as base:
        arret = twilio.text_in(f"{base}/twilio/inbound", sender=RU["phone"], body="ARRET")
        stopp = twilio.text_in(f"{base}/twilio/inbound", sender=VI["phone"], body="Stopp")
        assert _sms_opt_out(store, RU["external_id"]) and _sms_opt_out(store, VI["external_id"])
        back = twilio.text_in(f"{base}/twilio/inbound", sender=VI["phone"], body="reprendre")
    assert _reply_text(arret) is None and _reply_text(stopp) is None  # Twilio answered; we add nothing
    assert _reply_text(back) is None and not _sms_opt_out(store, VI["external_id"])
    with store.connect() as conn:
        reasons = conn.execute(
            select(events.c.kind, events.c.reason).where(events.c.kind.in_(["opted_out", "opted_in"]))
        ).all()
    assert sorted(reasons) == [
        ("opted_in", "START (Twilio)"),
        ("opted_out", "STOP (Twilio)"),
        ("opted_out", "STOP (Twilio)"),
    ]
    # The US number told Twilio STOP where we never heard it: the send fails with 21610, and the number
    # is opted out for both customers who have it.
    twilio.opted_out.add(US["phone"])
    launch(store, settings, "test-campaign", actor="t")
    # RU (opted out before) and US; the other customer with US's number had no SMS of their own
    # (duplicate_phone) and is opted out all the same: it is the number Twilio blocks.
    assert campaign_status(store, "test-campaign").outbox["sms"] == {"accepted": 1, "suppressed": 2}
    assert _sms_opt_out(store, US["external_id"]) and _sms_opt_out(store, other["external_id"])
    assert [m["to"] for m in twilio.messages] == [VI["phone"]]
