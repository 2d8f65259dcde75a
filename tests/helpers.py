"""Small builders shared by tests (real code paths only: these write files and call the library)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from notifier.audience.importer import COLUMNS, ImportReport, import_customers
from notifier.audience.selection import FreezeResult, Selection
from notifier.config import PROJECT_ROOT, Settings
from notifier.models import Channel, ChannelPolicy, DeliveryPolicy, QuietHours, RenderedMessage
from notifier.notices.approval import approve, pieces
from notifier.notices.incidents import Incident, parse_incident
from notifier.notices.records import create_incident, incident_by_key
from notifier.notices.render import NoticeCache, renderer_for
from notifier.sending.campaigns import CampaignRef, plan_campaign
from notifier.store import Store
from notifier.store.rows import ClaimedRow
from notifier.testing.smtp import ReceivedMail, SmtpStandin
from notifier.testing.twilio import TwilioStandin

INCIDENT_FILE = PROJECT_ROOT / "notifier" / "demo" / "incident.json"
LOCALES = ("en", "ru", "vi")
# Tests must not depend on the time of day they run at: SMS allowed around the clock unless a test says so.
ALL_DAY = DeliveryPolicy(quiet_hours=QuietHours(0, 24))


def incident_facts(**changes: Any) -> dict[str, Any]:
    facts = json.loads(INCIDENT_FILE.read_text(encoding="utf-8"))
    facts.update(changes)
    return facts


def incident(**changes: Any) -> Incident:
    """The demo incident (with ``changes`` to its facts), checked as the sending path checks it."""
    return parse_incident(incident_facts(**changes), PROJECT_ROOT / "templates")


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def customer(n: int, **fields: str) -> dict[str, str]:
    """A valid Russian, Vietnamese or US customer (by n % 3) with mobile phone and email."""
    market = [
        ("ru_RU", "Europe/Moscow", "RU", f"+7916{n:07d}"),
        ("vi_VN", "Asia/Ho_Chi_Minh", "VN", f"+8491{n:07d}"),
        ("en_US", "America/New_York", "US", f"+1415{200 + n % 700:03d}{n % 10000:04d}"),
    ][n % 3]
    row = {
        "external_id": f"C{n:05d}",
        "name": f"Customer {n}",
        "email": f"c{n}@example.com",
        "phone": market[3],
        "locale": market[0],
        "time_zone": market[1],
        "country": market[2],
    }
    row.update(fields)
    return row


def import_rows(store: Store, tmp_path: Path, rows: list[dict[str, str]]) -> ImportReport:
    return import_customers(store, write_csv(tmp_path / "customers.csv", rows))


def approve_all(
    store: Store, settings: Settings, incident_key: str | None = None, notice: str = "breach_notice"
) -> None:
    """What legal does before a launch: approve every piece of one notice of the recorded incident
    (whoever recorded it is their editor; legal is someone else: four eyes)."""
    recorded = incident_by_key(store, settings, incident_key or incident_facts()["key"])
    _recorded, refused = approve(
        store,
        settings,
        recorded,
        pieces(settings, recorded, notice=notice),
        approver="legal@example.com",
        role="legal",
        comment="tests",
    )
    assert refused == [], refused


def planned_campaign(
    store: Store,
    settings: Settings,
    tmp_path: Path,
    rows: list[dict[str, str]],
    *,
    name: str = "test-campaign",
    channels: frozenset[Channel] = frozenset({Channel.EMAIL, Channel.SMS}),
    policy: ChannelPolicy = ChannelPolicy.ALL,
    facts: dict[str, Any] | None = None,
    extra_ids: tuple[str, ...] = (),
    approved: bool = True,
    delivery: DeliveryPolicy = ALL_DAY,
) -> FreezeResult:
    """Import ``rows``, record the demo incident, approve the notices, and plan a campaign for all of them."""
    import_rows(store, tmp_path, rows)
    facts = facts or incident_facts()
    create_incident(store, settings, facts, actor="tester")
    if approved:
        approve_all(store, settings, facts["key"])
    ids = tmp_path / "affected.txt"
    ids.write_text("\n".join([r["external_id"] for r in rows] + list(extra_ids)) + "\n", encoding="utf-8")
    return plan_campaign(
        store,
        name=name,
        incident_key=facts["key"],
        selection=Selection(ids_file=ids),
        channels=channels,
        policy=policy,
        locales=LOCALES,
        actor="tester",
        delivery=delivery,
        templates_dir=settings.templates_dir,
    )


def tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate it signed for localhost and 127.0.0.1: (ca, cert, key) PEM."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: str,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("notifier test CA", ca_key, "notifier test CA", ca_key, ca=True)
    server_cert = certificate("localhost", server_key, "notifier test CA", ca_key, ca=False)
    ca, cert, key = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca, cert, key


def sms_for(settings: Settings, campaign: CampaignRef, row: ClaimedRow) -> RenderedMessage:
    """The SMS a sender renders for ``row``, exactly (what a sender that died had sent)."""
    renderer = renderer_for(settings.templates_dir, settings.locales_dir, campaign.notice)
    parts = NoticeCache(renderer, parse_incident(campaign.facts, settings.templates_dir)).render(
        name=row.name, locale=row.locale, time_zone=row.time_zone, jurisdiction=row.jurisdiction
    )
    return parts.message(Channel.SMS, to=row.phone or "", name=row.name)


def dsn(mail: ReceivedMail, *, status: str, diagnostic: str, action: str = "failed") -> bytes:
    """A Postfix-style RFC 3464 report about ``mail`` (``notifier.testing.mail.dsn``)."""
    from notifier.testing.mail import dsn as report

    return report(mail, status=status, diagnostic=diagnostic, action=action)


def sign_in(store: Store, monkeypatch: pytest.MonkeyPatch, *roles: str, username: str = "") -> str:
    """Be a user with these roles for the CLI (NOTIFIER_TOKEN), adding the user the first time; returns
    the user name the audit log will show."""
    from notifier.accounts.users import add_user, issue_token
    from notifier.store import queries as q

    name = username or "-".join(sorted(roles)) + "-user"
    with store.connect() as conn:
        known = q.user_by_name(conn, name) is not None
    if not known:
        add_user(store, name, display_name=name, roles=roles, password=None, actor="tests")
    monkeypatch.setenv("NOTIFIER_TOKEN", issue_token(store, name, label="tests", actor="tests"))
    return name


def sent_and_recorded(
    store: Store, smtp: SmtpStandin, twilio: TwilioStandin
) -> tuple[Counter[str], list[str], list[str]]:
    """The outbox's states, every recipient the SMTP and Twilio stand-ins received, and every recipient
    the store records as accepted (both sorted): after a stop, the two lists must be equal."""
    from sqlalchemy import select

    from notifier.store.schema import manifest, outbox

    with store.connect() as conn:
        states = Counter(conn.execute(select(outbox.c.state)).scalars())
        accepted = conn.execute(
            select(outbox.c.channel, manifest.c.email, manifest.c.phone)
            .join(manifest, manifest.c.id == outbox.c.manifest_id)
            .where(outbox.c.state == "accepted")
        ).all()
    received = [r for mail in smtp.received for r in mail.recipients] + [m["to"] for m in twilio.messages]
    recorded = [email if channel == "email" else phone for channel, email, phone in accepted]
    return states, sorted(received), sorted(recorded)
