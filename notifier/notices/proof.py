"""Proof sheets: every notice exactly as customers will receive it, for legal to review.

One HTML page per notice shows every locale × jurisdiction profile side by side: the email as it
displays (subject, the HTML body in a frame), the plain-text part, and the SMS with its character
count, encoding and segments, plus lint findings and the content hash and approval state of each
piece. Beside it, one ``.eml`` per locale × profile that legal can open in a mail client. Everything
is rendered through the same code path as sending (Renderer.render → NoticeParts.message → build_message)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from notifier.channels.email import build_message
from notifier.errors import RenderError
from notifier.models import Channel
from notifier.notices.approval import PieceStatus
from notifier.notices.incidents import Incident
from notifier.notices.letters import letter_pdf, personalized
from notifier.notices.lint import Finding, Linter, sample_incident
from notifier.notices.render import NOTICES, NoticeParts
from notifier.notices.segments import SegmentInfo, segment_info
from notifier.pages import render_page

__all__ = ["write_proofs"]

SAMPLE_CONTACT = {
    "en": ("jordan.smith@example.com", "+14155550123"),
    "ru": ("anna.ivanova@example.com", "+79161234567"),
    "vi": ("lan.nguyen@example.com", "+84912345678"),
}


# The envelope of the sample reader's letter, per language (as audience/postal.py lays them out).
SAMPLE_ADDRESS = {
    "en": ["1600 Amphitheatre Pkwy", "MOUNTAIN VIEW, CA 94043"],
    "ru": ["УЛ. ТВЕРСКАЯ, Д. 7, КВ. 5", "МОСКВА", "125009", "RUSSIAN FEDERATION"],
    "vi": ["12 Hàng Bạc", "Phường Hàng Bạc", "Quận Hoàn Kiếm", "Thành phố Hà Nội", "VIET NAM"],
}


@dataclass(frozen=True, slots=True)
class _Card:
    locale: str
    parts: NoticeParts
    sms: SegmentInfo
    eml: str  # relative to the page
    approvals: list[PieceStatus]
    findings: list[Finding]
    letter: str | None = None  # the letter's PDF, relative to the page (when letters are proofed)


def _letter(out_dir: Path, parts: NoticeParts, name: str) -> str | None:
    """The sample reader's letter as printed (None when it cannot be laid out: lint says why)."""
    lines = SAMPLE_ADDRESS.get(parts.locale.split("_", maxsplit=1)[0], SAMPLE_ADDRESS["en"])
    try:
        pdf = letter_pdf(personalized(parts.letter, address_lines=lines, reference="SAMPLE-1"))
    except RenderError:
        return None
    path = out_dir / "letters" / f"{name}.pdf"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(pdf)
    return str(path.relative_to(out_dir))


def write_proofs(
    linter: Linter,
    out_dir: Path,
    statuses: list[PieceStatus],
    *,
    which: str = "complete",
    incident: Incident | None = None,
    letters: bool = True,
) -> list[Path]:
    """Write ``<notice>.html`` proof pages, ``eml/*.eml`` files and (with ``letters``) each letter's PDF
    as printed, ``letters/*.pdf``, into ``out_dir``; returns the pages. With ``incident`` (a recorded
    one) its facts are proofed, else the ``which`` sample's."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eml").mkdir(exist_ok=True)
    by_piece = {(s.piece.notice, s.piece.locale, s.piece.channel, s.piece.profile): s for s in statuses}
    findings = linter.run(incident=incident)
    source = f"recorded incident {incident.key}" if incident else f"{which} sample incident"
    incident = incident or sample_incident(linter.templates_dir, which)
    pages = []
    for notice in NOTICES:
        renderer = linter.renderers[notice]
        sections: list[tuple[str, list[_Card]]] = []
        for profile, model in linter.content.profiles.items():
            if not model.applies_to(incident.data_categories):
                continue  # no reader of this incident gets the profile
            cards = []
            for locale in linter.locales:
                sample = linter.policy.sample(locale)
                parts = renderer.render(
                    incident,
                    name=sample["name"],
                    locale=locale,
                    time_zone=sample["time_zone"],
                    profile=profile,
                )
                email, _phone = SAMPLE_CONTACT.get(locale, SAMPLE_CONTACT["en"])
                message = parts.message(Channel.EMAIL, to=email, name=sample["name"])
                mime = build_message(
                    message,
                    sender="Example Shop <notices@example.com>",
                    reply_to="support@example.com",
                    message_id=f"<proof-{notice}-{locale}-{profile}@example.com>",
                    display_name=sample["name"],
                )
                eml = out_dir / "eml" / f"{notice}-{locale}-{profile}.eml"
                eml.write_bytes(mime)
                mine = [
                    f
                    for f in findings
                    if f.notice in (notice, "*")
                    and f.locale in (locale, "*")
                    and f.profile in (profile, None)
                ]
                approvals = [
                    s for c in ("email", "sms", "letter") if (s := by_piece.get((notice, locale, c, profile)))
                ]
                letter = _letter(out_dir, parts, f"{notice}-{locale}-{profile}") if letters else None
                cards.append(
                    _Card(
                        locale,
                        parts,
                        segment_info(parts.sms),
                        str(eml.relative_to(out_dir)),
                        approvals,
                        mine,
                        letter,
                    )
                )
            sections.append((profile, cards))
        page = out_dir / f"{notice}.html"
        page.write_text(
            render_page("proof.html.j2", notice=notice, source=source, sections=sections), encoding="utf-8"
        )
        pages.append(page)
    return pages
