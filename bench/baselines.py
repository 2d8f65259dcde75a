"""The baseline a communications team would script by hand: a sequential smtplib loop.

It builds one ``EmailMessage`` per customer (plain text plus an HTML alternative, about
8 KB on the wire, Russian UTF-8) and sends it over a single reused ``smtplib.SMTP``
connection. Nothing is tuned: no threads, no pipelining, no pre-rendered bytes. That
is the point: it is the honest "before" number the notifier is compared against.
"""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from html import escape

from bench.ports import LOOPBACK

SENDER = "security@example.test"
_PARAGRAPH = (
    "Уважаемый клиент! Мы обнаружили несанкционированный доступ к части наших систем. "
    "Злоумышленники могли получить ваше имя, адрес электронной почты и номер телефона. "
    "Платёжные данные и пароли не затронуты. Мы рекомендуем сохранять бдительность "
    "и не переходить по ссылкам из подозрительных писем."
)
# Five paragraphs in each part land the encoded message near 8 KB (base64 inflates
# UTF-8 Cyrillic, which is already two bytes per letter).
_PARAGRAPHS = 5


def build_notice(index: int) -> EmailMessage:
    """Build the ``index``-th breach notice, personalised so no two messages are identical."""
    name = f"Клиент №{index}"
    paragraphs = [f"{name}, {_PARAGRAPH}" for _ in range(_PARAGRAPHS)]
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = f"customer{index}@example.test"
    msg["Subject"] = "Важно: инцидент безопасности, затрагивающий ваши данные"
    msg.set_content("\n\n".join(paragraphs) + "\n\nСлужба безопасности\n")
    html_body = "".join(f"<p>{escape(p)}</p>\n" for p in paragraphs)
    msg.add_alternative(
        f'<!doctype html><html lang="ru"><body>\n{html_body}<p>Служба безопасности</p>\n</body></html>\n',
        subtype="html",
    )
    return msg


def naive_smtplib_rate(port: int, messages: int = 2000, host: str = LOOPBACK) -> float:
    """Send ``messages`` notices one after another over one SMTP connection; return messages/s.

    The clock covers connect, every build-and-send, and QUIT, as a script's user would
    experience it.
    """
    start = time.perf_counter()
    # An explicit local_hostname avoids socket.getfqdn(), which can stall on DNS offline.
    with smtplib.SMTP(host, port, local_hostname="localhost", timeout=60) as smtp:
        for index in range(messages):
            smtp.send_message(build_notice(index))
    elapsed = time.perf_counter() - start
    return messages / elapsed
