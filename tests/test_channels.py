"""The real aiosmtplib and twilio clients against the local SMTP server and Twilio stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import tls_files

from notifier.channels import channel_from_url
from notifier.errors import (
    ConfigurationError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from notifier.models import Channel, RenderedMessage
from notifier.testing.smtp import SmtpStandin
from notifier.testing.twilio import TwilioStandin

EMAIL = RenderedMessage(
    channel=Channel.EMAIL,
    to="ivan@example.com",
    subject="Важно: инцидент",
    body_text="Текст",
    body_html="<p>Текст</p>",
    locale="ru",
    headers={"display_name": "Ivan\r\nBcc: evil@example.net"},
)
SMS = RenderedMessage(channel=Channel.SMS, to="+79161234567", body_text="Example Shop: инцидент", locale="ru")


async def test_email_arrives_complete_with_stable_ids_and_no_injected_headers(smtp: SmtpStandin) -> None:
    channel = channel_from_url(smtp.url)
    try:
        receipt = await channel.send(EMAIL, token="c1m7e")
        again = await channel.send(EMAIL, token="c1m7e")
    finally:
        await channel.aclose()
    assert receipt.provider_message_id == again.provider_message_id == "<c1m7e@bounces.example.com>"
    mail = smtp.received[0]
    assert mail.envelope_from == "bounce+c1m7e@bounces.example.com"  # VERP: which row bounced
    assert mail.recipients == ("ivan@example.com",)
    msg = mail.message
    assert msg["Message-ID"] == "<c1m7e@bounces.example.com>"
    assert msg["Reply-To"] == "support@example.com" and msg["Subject"] == "Важно: инцидент"
    assert msg["Bcc"] is None and "evil@example.net" not in (msg["Bcc"] or "")
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Content-Language"] == "ru"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (421, TransientDeliveryError),
        (451, TransientDeliveryError),
        (452, TransientDeliveryError),
        (550, PermanentDeliveryError),
    ],
)
async def test_smtp_replies_map_to_transient_or_permanent(smtp: SmtpStandin, code: int, error: type) -> None:
    channel = channel_from_url(smtp.url)
    smtp.fail_next(code)
    try:
        with pytest.raises(error) as caught:
            await channel.send(EMAIL, token="t1")
        assert caught.value.code == code
        assert "ivan@example.com" not in str(caught.value)  # masked
        await channel.send(EMAIL, token="t2")  # the pool recovers
    finally:
        await channel.aclose()
    assert len(smtp.received) == 1


async def test_a_dropped_connection_is_transient_and_the_next_send_reconnects(smtp: SmtpStandin) -> None:
    channel = channel_from_url(smtp.url)
    try:
        await channel.send(EMAIL, token="t0")
        smtp.drop_next()
        with pytest.raises(TransientDeliveryError):
            await channel.send(EMAIL, token="t1")
        await channel.send(EMAIL, token="t2")
    finally:
        await channel.aclose()
    assert len(smtp.received) == 2


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
async def test_email_over_tls_with_login(tmp_path: Path, implicit_tls: bool) -> None:
    ca, cert, key = tls_files(tmp_path)
    with SmtpStandin(tls=(cert, key), implicit_tls=implicit_tls, logins={"notifier": "s3cr3t/+pw"}) as server:
        scheme, tls = ("smtps", "") if implicit_tls else ("smtp", "&starttls=1")
        url = f"{scheme}://notifier:s3cr3t%2F%2Bpw@localhost:{server.port}?cafile={ca}{tls}&bounce_domain=b.example"
        channel = channel_from_url(url)
        try:
            await channel.send(EMAIL, token="tls1")
        finally:
            await channel.aclose()
        assert "s3cr3t" not in repr(channel)
        [mail] = server.received
        assert mail.encrypted and mail.login == "notifier" and mail.recipients == ("ivan@example.com",)


@pytest.mark.parametrize(
    ("password", "cafile", "expected"),
    [
        ("wrong", True, "refused our login: 535"),
        ("s3cr3t", False, "certificate is not trusted"),  # a private CA the URL does not name
    ],
    ids=["bad-password", "untrusted-certificate"],
)
async def test_our_own_smtp_setup_faults_stop_the_run_instead_of_failing_recipients(
    tmp_path: Path, password: str, cafile: bool, expected: str
) -> None:
    ca, cert, key = tls_files(tmp_path)
    with SmtpStandin(tls=(cert, key), logins={"notifier": "s3cr3t"}) as server:
        url = f"smtp://notifier:{password}@localhost:{server.port}?starttls=1" + (
            f"&cafile={ca}" if cafile else ""
        )
        channel = channel_from_url(url)
        try:
            with pytest.raises(ConfigurationError, match=expected) as caught:
                await channel.send(EMAIL, token="tls2")
        finally:
            await channel.aclose()
        assert password not in str(caught.value) and server.received == []


async def test_sms_goes_through_the_real_twilio_client(twilio: TwilioStandin) -> None:
    url = twilio.url + "&status_callback=https://hooks.example.com/twilio?x=1&validity=3600"
    channel = channel_from_url(url)
    try:
        receipt = await channel.send(SMS, token="c1m7s")
    finally:
        await channel.aclose()
    assert receipt.provider_message_id.startswith("SM") and len(receipt.provider_message_id) == 34
    sent = twilio.messages[0]
    assert (sent["to"], sent["from"], sent["body"]) == ("+79161234567", "+15005550006", SMS.body_text)
    assert sent["num_segments"] == "1"
    assert sent["status_callback"] == "https://hooks.example.com/twilio?x=1&t=c1m7s"


@pytest.mark.parametrize(
    ("cue", "to", "error", "code"),
    [
        (429, SMS.to, TransientDeliveryError, 20429),
        (500, SMS.to, UncertainDeliveryError, 20500),  # the request went out: it may exist (asked later)
        (None, "+1234", PermanentDeliveryError, 21211),
    ],
)
async def test_twilio_errors_map_by_status_and_code(
    twilio: TwilioStandin, cue: int | None, to: str, error: type, code: int
) -> None:
    if cue:
        twilio.fail_next(cue)
    channel = channel_from_url(twilio.url)
    message = RenderedMessage(channel=Channel.SMS, to=to, body_text="x")
    try:
        with pytest.raises(error) as caught:
            await channel.send(message, token="t")
    finally:
        await channel.aclose()
    assert caught.value.code == code
    assert twilio.messages == []


async def test_an_opted_out_recipient_is_flagged_for_suppression(twilio: TwilioStandin) -> None:
    twilio.opted_out.add(SMS.to)
    channel = channel_from_url(twilio.url)
    try:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(SMS, token="t")
    finally:
        await channel.aclose()
    assert caught.value.code == 21610 and caught.value.opted_out


async def test_wrong_twilio_credentials_stop_the_run(twilio: TwilioStandin) -> None:
    channel = channel_from_url(twilio.url.replace(twilio.auth_token, "wrong"))
    try:
        with pytest.raises(ConfigurationError, match="credentials"):
            await channel.send(SMS, token="t")
    finally:
        await channel.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "twilio://AC1:tok@api",
        "twilio://api?from=+1500",
        "memory://fax",
        "smtp://:25",
        "twilio://AC1:tok@api?from=+1500&validity=99999",
    ],
)
def test_unusable_channel_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        channel_from_url(url)


async def test_the_twilio_stand_in_filters_and_pages_as_twilio_does(twilio: TwilioStandin) -> None:
    """The real client's list call against the stand-in: To, From, DateSent and paging are honoured, and a
    message not yet sent has no date_sent, so a DateSent filter leaves it out (as Twilio's does)."""
    from datetime import UTC, datetime, timedelta

    from twilio.rest import Client

    from notifier.channels.sms import _BaseUrlHttpClient

    to, other = "+79161234567", "+79161234568"
    queued = twilio.inject(to, "still queued", from_=twilio.from_number, queued=True)
    for n in range(7):
        twilio.inject(to, f"sent {n}", from_=twilio.from_number)
    twilio.inject(to, "someone else", from_="+15550001111")
    twilio.inject(other, "another number", from_=twilio.from_number)
    client = Client(
        twilio.account_sid,
        twilio.auth_token,
        http_client=_BaseUrlHttpClient(f"http://{twilio.host}:{twilio.port}"),
    )
    try:
        messages = client.messages
        everything = await messages.list_async(to=to, page_size=3)  # three pages
        ours = await messages.list_async(to=to, from_=twilio.from_number, page_size=3)
        sent_lately = await messages.list_async(to=to, date_sent_after=datetime.now(UTC) - timedelta(hours=1))
    finally:
        await client.http_client.close()
    assert len(everything) == 9 and {m.to for m in everything} == {to}
    assert len(ours) == 8 and all(m.from_ == twilio.from_number for m in ours)
    assert queued["sid"] not in {m.sid for m in sent_lately} and len(sent_lately) == 8
