"""What chosen customers would get, before anyone gets it: customer proofs and test sends.

Both make each message exactly as the sender does (``pipeline.compose`` through the campaign's
``NoticeCache``, and for email the channel's own ``compose``, so headers and MIME are the real ones),
from the incident's current facts. Neither touches the outbox: a proof writes files, a test send goes to
a seed address through the real channel and is recorded in the audit log as a test, so it never counts
as notifying anyone."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from notifier.audience.postal import customer_envelope
from notifier.audience.selection import plan_channels
from notifier.channels import DeliveryChannel, channel_from_settings, channel_from_url
from notifier.channels.email import build_message
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import DeliveryError, InputError, RenderError
from notifier.models import Channel, ChannelPolicy, RenderedMessage
from notifier.notices.approval import Piece, PieceStatus, campaign_incident, statuses
from notifier.notices.content import load_content
from notifier.notices.i18n import resolve_locale
from notifier.notices.incidents import Incident
from notifier.notices.lint import LintPolicy
from notifier.notices.render import NoticeCache, NoticeParts, renderer_for
from notifier.notices.segments import SegmentInfo, segment_info
from notifier.pages import render_page
from notifier.redact import mask_contact
from notifier.sending.campaigns import CampaignRef, get_campaign
from notifier.sending.pipeline import compose
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import ManifestReader

__all__ = [
    "MAX_PROOF_CUSTOMERS",
    "SeedMessage",
    "campaign_readers",
    "send_to_seeds",
    "stored_readers",
    "write_customer_proofs",
]

MAX_PROOF_CUSTOMERS = 200
TEST_SUBJECT_MARK = "[TEST] "


@dataclass(frozen=True, slots=True)
class _Version:
    """One channel's message for one customer, or why there is none."""

    channel: str
    parts: NoticeParts | None
    sms: SegmentInfo | None
    eml: str | None
    status: PieceStatus | None
    problem: str | None  # not planned (and why), or a render error
    pdf: str | None = None  # a letter's PDF, relative to the page


@dataclass(frozen=True, slots=True)
class _CustomerCard:
    external_id: str
    contact: str  # masked
    locale: str
    notice_locale: str
    time_zone: str
    jurisdiction: str
    profile: str
    channel_plan: str
    versions: list[_Version]


def campaign_readers(
    store: Store, campaign_name: str, customers: list[str], sample: int = 0
) -> tuple[CampaignRef, list[ManifestReader]]:
    """The chosen customers of a campaign as its manifest froze them: named, and/or ``sample`` at random."""
    _check_count(customers, sample)
    campaign = get_campaign(store, campaign_name)
    with store.connect() as conn:
        readers = q.manifest_readers(conn, campaign.id, customers) if customers else []
        missing = sorted(set(customers) - {r.external_id for r in readers})
        if sample > 0:
            readers += q.sample_manifest(conn, campaign.id, sample)
    if missing:
        raise InputError(
            f"not in campaign {campaign_name!r}: {', '.join(missing[:20])}; nothing written "
            "(`notifier campaign report` lists who is in it)"
        )
    return campaign, readers


def stored_readers(store: Store, settings: Settings, customers: list[str]) -> list[ManifestReader]:
    """Customers from the store as a campaign on every channel would plan them (before any campaign)."""
    _check_count(customers, 0)
    with store.connect() as conn:
        found = q.customers_by_external_ids(conn, customers)
    missing = sorted(set(customers) - set(found))
    if missing:
        raise InputError(f"no such customers: {', '.join(missing[:20])}; nothing written")
    locales = renderer_for(settings.templates_dir, settings.locales_dir, "breach_notice").locales
    readers = []
    for external_id in dict.fromkeys(customers):
        _id, record = found[external_id]
        choice = plan_channels(record, frozenset(Channel), ChannelPolicy.ALL)
        readers.append(
            ManifestReader(
                external_id=record.external_id,
                name=record.name,
                email=record.email,
                phone=record.phone,
                locale=record.locale,
                notice_locale=resolve_locale(record.locale, locales),
                time_zone=record.time_zone,
                jurisdiction=record.jurisdiction,
                channel_plan=choice.plan.adding(Channel.LETTER).value
                if choice.letter_reason is None
                else choice.plan.value,
                email_reason=choice.email_reason,
                sms_reason=choice.sms_reason,
                letter_reason=choice.letter_reason,
                postal_address="\n".join(customer_envelope(record)) or None,
            )
        )
    return readers


def _check_count(customers: list[str], sample: int) -> None:
    if not customers and sample <= 0:
        raise InputError("name customers (--customer ID) or ask for a random sample (--sample N)")
    if len(customers) + max(sample, 0) > MAX_PROOF_CUSTOMERS:
        raise InputError(f"at most {MAX_PROOF_CUSTOMERS} customers per proof; ask for fewer")


def write_customer_proofs(
    store: Store,
    settings: Settings,
    out_dir: Path,
    *,
    incident: Incident,
    notice: str,
    readers: list[ManifestReader],
    source: str,
    actor: str,
) -> Path:
    """Write ``customers.html`` (and one ``.eml`` per email) showing exactly what each of ``readers`` would
    get of ``notice`` about ``incident``, with each version's approval state. Viewing is audited."""
    notices = NoticeCache(renderer_for(settings.templates_dir, settings.locales_dir, notice), incident)
    content = load_content(settings.templates_dir)
    (out_dir / "eml").mkdir(parents=True, exist_ok=True)
    unique = list({r.external_id: r for r in readers}.values())
    profiles = {
        r.external_id: content.profile_for(r.jurisdiction, incident.data_categories).name for r in unique
    }
    wanted = {
        Piece(incident.key, notice, r.notice_locale, channel.value, profiles[r.external_id])
        for r in unique
        for channel in Channel
    }
    by_piece = {s.piece: s for s in statuses(store, settings, incident, sorted(wanted), with_lint=False)}
    cards = []
    for reader in unique:
        profile = profiles[reader.external_id]
        versions = [
            _version(
                notices,
                reader,
                channel,
                by_piece.get(Piece(incident.key, notice, reader.notice_locale, channel.value, profile)),
                out_dir,
                settings.email_url,
            )
            for channel in Channel
        ]
        cards.append(
            _CustomerCard(
                external_id=reader.external_id,
                contact=" · ".join(mask_contact(c) for c in (reader.email, reader.phone) if c),
                locale=reader.locale,
                notice_locale=reader.notice_locale,
                time_zone=reader.time_zone,
                jurisdiction=reader.jurisdiction or "unknown",
                profile=profile,
                channel_plan=reader.channel_plan,
                versions=versions,
            )
        )
    page = out_dir / "customers.html"
    page.write_text(
        render_page(
            "customer_proof.html.j2",
            source=source,
            notice=notice,
            incident=incident.key,
            cards=cards,
            generated=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        ),
        encoding="utf-8",
    )
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="notice.proof_customers",
            subject=f"incident:{incident.key}",
            detail={"customers": [c.external_id for c in cards], "source": source, "notice": notice},
            now=utcnow(),
        )
    return page


def _planned(reader: ManifestReader, channel: Channel) -> str | None:
    """Why the campaign does not send ``channel`` to this customer, or None if it does."""
    reason = {
        Channel.EMAIL: reader.email_reason,
        Channel.SMS: reader.sms_reason,
        Channel.LETTER: reader.letter_reason,
    }[channel]
    return None if reason is None else f"not sent: {reason}"


def _version(
    notices: NoticeCache,
    reader: ManifestReader,
    channel: Channel,
    status: PieceStatus | None,
    out_dir: Path,
    email_url: str | None,
) -> _Version:
    not_planned = _planned(reader, channel)
    if channel is Channel.LETTER and not reader.postal_address:
        return _Version(channel.value, None, None, None, status, not_planned or "not sent: no_address")
    try:
        parts, message = compose(notices, reader, channel, token=f"PROOF-{_safe(reader.external_id)[:50]}")
    except RenderError as exc:
        return _Version(channel.value, None, None, None, status, f"does not render: {exc}")
    if channel is Channel.LETTER and message.document is not None:
        pdf_path = out_dir / "letters" / f"{_safe(reader.external_id)}-letter.pdf"
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        pdf_path.write_bytes(message.document)
        return _Version(
            channel.value, parts, None, None, status, not_planned, str(pdf_path.relative_to(out_dir))
        )
    eml = None
    if channel is Channel.EMAIL and not_planned is None:
        eml_path = out_dir / "eml" / f"{_safe(reader.external_id)}-email.eml"
        # The proof shows what the customer reads, not whom it goes to: the address is the reserved
        # example domain's, so a proof never hands out a contact (reveals are support's, and audited).
        shown = dataclasses.replace(message, to=f"{_safe(reader.external_id)}@proof.example")
        eml_path.write_bytes(_mime(shown, email_url, token=f"proof-{uuid.uuid4().hex[:12]}"))
        eml = str(eml_path.relative_to(out_dir))
    sms = segment_info(parts.sms) if channel is Channel.SMS else None
    return _Version(channel.value, parts, sms, eml, status, not_planned)


def _safe(external_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in external_id)[:80]


def _mime(message: RenderedMessage, email_url: str | None, *, token: str) -> bytes:
    """The bytes the configured email channel would send (its sender, Reply-To and Message-ID domain)."""
    if email_url:
        channel = channel_from_url(email_url, Channel.EMAIL)
        composer = getattr(channel, "compose", None)
        if composer is not None:
            mime: bytes = composer(message, token=token)
            return mime
    return build_message(
        message,
        sender="notices@localhost",
        reply_to=None,
        message_id=f"<{token}@localhost>",
        display_name=message.headers.get("display_name", ""),
    )


@dataclass(frozen=True, slots=True)
class SeedMessage:
    """One test message: which version went to which seed (masked), and whether the provider took it."""

    version: str  # notice/locale/channel/profile
    to: str
    sent: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.version} → {self.to}: {'sent' if self.sent else 'failed'}" + (
            f" ({self.detail})" if self.detail else ""
        )


@dataclass(frozen=True, slots=True)
class _Seed:
    """A sample reader standing in for the customers of one (locale, profile) group in a test send."""

    name: str
    email: str | None
    phone: str | None
    locale: str
    time_zone: str
    jurisdiction: str | None
    postal_address: str | None = None  # seeds get email and SMS only: a letter cannot be test-sent


def send_to_seeds(
    store: Store, settings: Settings, campaign_name: str, recipients: list[str], *, actor: str
) -> list[SeedMessage]:
    """Send every version the campaign sends (each notice locale × profile of its manifest, per channel) to
    each seed recipient (an email address or an E.164 phone number) through the real channel. Email
    subjects are marked ``[TEST]``; SMS are sent as customers get them (a mark would change the segments).
    Nothing is written to the outbox; each send is audited as a test."""
    if not recipients:
        raise InputError("say where test messages go: --to ADDRESS or --to +PHONE (repeatable)")
    for to in recipients:
        if "@" not in to and not (to.startswith("+") and to[1:].isdigit()):
            raise InputError(
                f"--to {to!r} is neither an email address nor an E.164 phone number (+15551234567)"
            )
    campaign = get_campaign(store, campaign_name)
    incident = campaign_incident(store, settings, campaign.id)
    content = load_content(settings.templates_dir)
    with store.connect() as conn:
        groups = q.campaign_pieces(conn, campaign.id, unsent_only=False)
    versions = sorted(
        {
            (locale, Channel(channel), content.profile_for(jurisdiction, incident.data_categories).name)
            for locale, channel, jurisdiction in groups
            if channel
            != Channel.LETTER.value  # a letter is proofed as a PDF, never test-sent (no seed address)
        }
    )
    if not versions:
        raise InputError(f"campaign {campaign_name!r} has nothing to send (no planned channel for anyone)")
    notices = NoticeCache(
        renderer_for(settings.templates_dir, settings.locales_dir, campaign.notice), incident
    )
    policy = LintPolicy.load(settings.templates_dir / "policy.toml")
    return asyncio.run(
        _send_to_seeds(store, settings, campaign, notices, versions, recipients, policy, actor)
    )


async def _send_to_seeds(
    store: Store,
    settings: Settings,
    campaign: CampaignRef,
    notices: NoticeCache,
    versions: list[tuple[str, Channel, str]],
    recipients: list[str],
    policy: LintPolicy,
    actor: str,
) -> list[SeedMessage]:
    content = load_content(settings.templates_dir)
    lines: list[SeedMessage] = []
    providers: dict[Channel, DeliveryChannel] = {}
    try:
        for locale, channel, profile in versions:
            seeds = [to for to in recipients if ("@" in to) == (channel is Channel.EMAIL)]
            if not seeds:
                continue
            if channel not in providers:
                providers[channel] = channel_from_settings(settings.channel(channel))
            sample = policy.sample(locale)
            for to in seeds:
                seed = _Seed(
                    name=sample["name"],
                    email=to if channel is Channel.EMAIL else None,
                    phone=to if channel is Channel.SMS else None,
                    locale=locale,
                    time_zone=sample["time_zone"],
                    jurisdiction=content.profiles[profile].sample,
                )
                lines.append(
                    await _send_one(
                        store, campaign, notices, providers[channel], seed, channel, profile, actor
                    )
                )
    finally:
        for provider in providers.values():
            await provider.aclose()
    return lines


async def _send_one(
    store: Store,
    campaign: CampaignRef,
    notices: NoticeCache,
    provider: DeliveryChannel,
    seed: _Seed,
    channel: Channel,
    profile: str,
    actor: str,
) -> SeedMessage:
    to = seed.email or seed.phone or ""
    version = f"{campaign.notice}/{seed.locale}/{channel.value}/{profile}"
    token = f"test-{uuid.uuid4().hex}"
    try:
        _parts, message = compose(notices, seed, channel)
        if channel is Channel.EMAIL:
            message = replace(message, subject=TEST_SUBJECT_MARK + (message.subject or ""))
        receipt = await provider.send(message, token=token)
        sent, detail = True, receipt.provider_message_id or ""
    except (RenderError, DeliveryError) as exc:
        sent, detail = False, str(exc)
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="campaign.test_send",
            subject=f"campaign:{campaign.name}",
            detail={"to": mask_contact(to), "version": version, "sent": sent, "detail": detail},
            now=utcnow(),
        )
    return SeedMessage(version, mask_contact(to), sent, detail)
