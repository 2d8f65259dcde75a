"""Mail that comes back, as real servers and people write it: delivery status notifications (RFC 3464),
a customer's reply to a notice and an out-of-office answer (RFC 3834). For the tests and the demo."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from notifier.clock import utcnow
from notifier.testing.smtp import ReceivedMail

__all__ = ["dsn", "reply", "vacation_reply"]


def dsn(mail: ReceivedMail, *, status: str, diagnostic: str, action: str = "failed") -> bytes:
    """A Postfix-style RFC 3464 report about ``mail``, quoting its headers as real servers do."""
    headers = mail.data.split(b"\r\n\r\n", 1)[0].decode()
    recipient = mail.recipients[0]
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {mail.envelope_from}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.example.net')}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BND"\r\n\r\n'
        "--BND\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system at host mx.example.net.\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"<{recipient}>: host mx.example.net said: {diagnostic}\r\n\r\n"
        "--BND\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        f"--BND\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n"
        "--BND--\r\n"
    ).encode()


def _answer(
    mail: ReceivedMail, subject_prefix: str, text: str, headers: dict[str, str] | None = None
) -> bytes:
    notice = mail.message
    answer = EmailMessage()
    answer["From"] = mail.recipients[0]
    answer["To"] = str(notice["Reply-To"] or notice["From"])
    answer["Subject"] = subject_prefix + str(notice["Subject"])
    answer["Date"] = format_datetime(utcnow())
    answer["Message-ID"] = make_msgid(domain="customer.example")
    answer["In-Reply-To"] = answer["References"] = str(notice["Message-ID"])
    for name, value in (headers or {}).items():
        answer[name] = value
    answer.set_content(text)
    return answer.as_bytes(policy=policy.SMTP)


def reply(mail: ReceivedMail, text: str) -> bytes:
    """The customer answers the notice ``mail`` with ``text``, quoting it below as mail clients do."""
    body = mail.message.get_body(("plain",))
    lines = body.get_content().splitlines()[:5] if body is not None else []
    quoted = "\n".join("> " + line for line in lines)
    return _answer(mail, "Re: ", f"{text}\n\nOn {format_datetime(utcnow())}, security wrote:\n{quoted}")


def vacation_reply(mail: ReceivedMail) -> bytes:
    """An out-of-office answer to ``mail`` (RFC 3834)."""
    return _answer(
        mail,
        "Automatic reply: ",
        "I am out of the office until Monday and will read your message when I am back.",
        {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
    )
