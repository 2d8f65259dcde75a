"""The bounce classifier: hand-built RFC 3464 / ARF / auto-reply cases, and a regression floor on the
shared corpus of 348 real bounces (scored by bench.bounces, the same function the benchmark prints)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from notifier.config import PROJECT_ROOT
from notifier.tracking.bounces.classify import BounceReport, classify

# `python -m pytest` puts the repository root on sys.path, a bare `pytest` does not; the scoring lives
# in bench/ (one function for the benchmark and this test), so make the root importable either way.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.bounces import load_corpus, score

OUR_ID = "<TOKEN@bounces.example.com>"


def _dsn(action: str, status: str, diagnostic: str, recipient: str = "Kijitora@Example.JP") -> bytes:
    return f"""\
Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: bounces+TOKEN@bounces.example.com
Subject: Delivery Status Notification
Message-ID: <dsn-1@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Mon, 2 Mar 2026 10:00:00 +0000

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.jp
Diagnostic-Code: smtp; {diagnostic}

--B
Content-Type: text/rfc822-headers

From: security@notices.example.com
To: {recipient}
Subject: Important information about your account
Message-ID: {OUR_ID}

--B--
""".replace("\n", "\r\n").encode()


def test_user_unknown_dsn_is_hard_with_the_address() -> None:
    report = classify(_dsn("failed", "5.1.1", "550 5.1.1 <kijitora@example.jp>: User unknown"))
    assert report.category == "failure"
    (failure,) = report.failures
    assert failure.address == "kijitora@example.jp"
    assert failure.kind == "hard"
    assert failure.status == "5.1.1"
    assert failure.reply_code == "550"
    assert "User unknown" in failure.diagnostic
    assert report.original_message_ids == (OUR_ID,)  # the DSN's own Message-ID is excluded


def test_mailbox_full_dsn_is_soft() -> None:
    report = classify(_dsn("failed", "5.2.2", "552 5.2.2 Mailbox full, quota exceeded"))
    assert report.category == "failure"
    assert [(f.address, f.kind, f.status, f.reply_code) for f in report.failures] == [
        ("kijitora@example.jp", "soft", "5.2.2", "552")
    ]


def test_delivered_and_delayed_dsns_are_not_failures() -> None:
    delivered = classify(_dsn("delivered", "2.0.0", "250 2.0.0 OK"))
    delayed = classify(_dsn("delayed", "4.4.7", "421 4.4.7 connection timed out"))
    assert (delivered.category, delivered.failures) == ("delivered", ())
    assert (delayed.category, delayed.failures) == ("delayed", ())


def test_arf_report_is_feedback_with_its_type() -> None:
    raw = f"""\
From: feedback@arf.example.net
To: abuse@notices.example.com
Subject: Abuse report
Message-ID: <arf-1@arf.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1

--F
Content-Type: message/rfc822

From: security@notices.example.com
To: someone@example.org
Subject: Important information
Message-ID: {OUR_ID}

Hello.
--F--
""".encode()
    report = classify(raw)
    assert report.category == "feedback"
    assert report.feedback_type == "abuse"
    assert report.failures == ()
    assert OUR_ID in report.original_message_ids


def test_vacation_reply_is_auto_reply() -> None:
    raw = b"""\
From: Neko <neko@example.org>
To: security@notices.example.com
Subject: Out of Office: Important information about your account
Auto-Submitted: auto-replied
Message-ID: <ooo-1@example.org>

I am on vacation until Monday and will read your message when I am back.
"""
    report = classify(raw)
    assert report.category == "auto_reply"
    assert report.failures == ()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x80\x81",
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="X"\n\n--X\n--X--',
        b"Subject: =?bogus-charset?B?!!!?=\nContent-Type: text/plain; charset=x-nonsense\n\n\xff\xfe",
        b"Content-Type: message/delivery-status\n\nAction: failed\nFinal-Recipient: ;;;\nStatus: 9.9",
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    report = classify(raw)
    assert isinstance(report, BounceReport)
    if raw in (b"", b"\x00\xff\xfe garbage \x80\x81"):
        assert (report.category, report.failures) == ("not_a_bounce", ())


def test_plain_text_bounce_quoting_our_headers() -> None:
    raw = f"""\
From: MAILER-DAEMON@mx4.example.jp
To: bounces@bounces.example.com
Subject: failure notice
Message-ID: <qmail-bounce-1@mx4.example.jp>

Hi. This is the qmail-send program at mx4.example.jp.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<Kuroneko@Example.COM>:
192.0.2.32 does not like recipient.
Remote host said: 550 5.1.1 <kuroneko@example.com>: Recipient address rejected: User unknown
Giving up on 192.0.2.32.

--- Below this line is a copy of the message.

Return-Path: <bounces@bounces.example.com>
From: security@notices.example.com
To: kuroneko@example.com
Subject: Important information about your account
Message-ID: {OUR_ID}

Hello.
""".encode()
    report = classify(raw)
    assert report.category == "failure"
    assert [(f.address, f.kind) for f in report.failures] == [("kuroneko@example.com", "hard")]
    assert report.original_message_ids == (OUR_ID,)


# --------------------------------------------------------------------------------------------------
# The shared corpus of real bounces
# --------------------------------------------------------------------------------------------------

# Measured on 2026-11-22: address accuracy 93.1% (325/349), class accuracy 87.6% (325/371).
# The floors sit a few points below so a real regression fails while small rule edits do not.
ADDRESS_FLOOR = 0.90
CLASS_FLOOR = 0.84


@pytest.fixture(scope="module")
def corpus(test_data: Path) -> list[tuple[dict[str, object], bytes]]:
    directory = test_data / "bounces"
    if not (directory / "expected.json").is_file():
        pytest.fail(f"bounce corpus not found at {directory}", pytrace=False)
    return load_corpus(directory)  # type: ignore[return-value]


def test_corpus_never_raises(corpus: list[tuple[dict[str, object], bytes]]) -> None:
    for entry, raw in corpus:
        report = classify(raw)
        for failure in report.failures:
            assert len(failure.diagnostic) <= 300 and "\n" not in failure.diagnostic, entry["file"]
            assert failure.address is None or failure.address == failure.address.lower(), entry["file"]
        if report.category != "failure":
            assert report.failures == (), entry["file"]


def test_corpus_accuracy_floor(corpus: list[tuple[dict[str, object], bytes]]) -> None:
    result = score(corpus)  # type: ignore[arg-type]
    assert result.address_accuracy >= ADDRESS_FLOOR, f"address accuracy {result.address_accuracy:.1%}"
    assert result.class_accuracy >= CLASS_FLOOR, f"class accuracy {result.class_accuracy:.1%}"
