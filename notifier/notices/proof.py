"""Proof sheets: every notice exactly as customers will receive it, for legal to review.

One HTML page per notice shows every locale × jurisdiction profile side by side: the email as it
displays (subject, the HTML body in a frame), the plain-text part, and the SMS with its character
count, encoding and segments, plus lint findings and the content hash and approval state of each
piece. Beside it, one ``.eml`` per locale × profile that legal can open in a mail client. Everything
is rendered through the same code path as sending (Renderer.render → message_for → build_message)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.channels.email import build_message
from notifier.models import Channel
from notifier.notices.approval import Piece, PieceStatus
from notifier.notices.content import PROFILES
from notifier.notices.lint import PROFILE_JURISDICTIONS, Finding, Linter, sample_facts
from notifier.notices.render import NOTICES, NoticeParts
from notifier.notices.segments import segment_info
from notifier.sending.pipeline import message_for

__all__ = ["write_proofs"]

SAMPLE_CONTACT = {
    "en": ("jordan.smith@example.com", "+14155550123"),
    "ru": ("anna.ivanova@example.com", "+79161234567"),
    "vi": ("lan.nguyen@example.com", "+84912345678"),
}
CSS = """
body{font:15px/1.45 Arial,Helvetica,sans-serif;margin:24px;color:#1a1a1a;background:#f4f4f4}
h1{margin:0 0 4px 0}h2{margin:32px 0 12px 0;padding-top:12px;border-top:3px solid #333}
.meta{color:#555;margin:0 0 16px 0}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:16px}
.card{background:#fff;border:1px solid #ccc;border-radius:6px;padding:12px}
.card h3{margin:0 0 8px 0;font-size:16px}.label{font-size:12px;color:#666;text-transform:uppercase;margin:10px 0 2px 0}
.subject{font-weight:bold}iframe{width:100%;height:560px;border:1px solid #ddd;background:#fff}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:8px;max-height:320px;overflow:auto;font-size:13px}
.sms{background:#e9f5e9;border-radius:12px;padding:10px;max-width:340px}.ok{color:#17692a}.bad{color:#a00000;font-weight:bold}
.warn{color:#8a5a00}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
"""


@dataclass(frozen=True, slots=True)
class _Proof:
    locale: str
    profile: str
    parts: NoticeParts
    eml: Path
    findings: list[Finding]


def _findings_html(findings: list[Finding]) -> str:
    if not findings:
        return '<p class="ok">lint: no findings</p>'
    items = "".join(
        f'<li class="{"bad" if f.severity == "error" else "warn"}">{html.escape(f.severity)} '
        f"{html.escape(f.rule)}: {html.escape(f.message)}</li>"
        for f in findings
    )
    return f"<ul>{items}</ul>"


def _card(proof: _Proof, statuses: dict[Piece, PieceStatus], notice: str, out_dir: Path) -> str:
    sms = segment_info(proof.parts.sms)
    approvals = "".join(
        f"<tr><td>{c}</td><td>{html.escape(s.state)}</td><td><code>{s.content_hash[:16]}</code></td>"
        f"<td>{html.escape(s.detail)}</td></tr>"
        for c in ("email", "sms")
        if (s := statuses.get(Piece(notice, proof.locale, c)))
    )
    return f"""<div class="card">
<h3>{html.escape(proof.locale)} · {html.escape(proof.profile)} profile</h3>
<div class="label">email subject</div><div class="subject">{html.escape(proof.parts.subject)}</div>
<div class="label">email as displayed (HTML part) · <a href="{html.escape(str(proof.eml.relative_to(out_dir)))}">open the .eml</a></div>
<iframe sandbox="" srcdoc="{html.escape(proof.parts.html, quote=True)}"></iframe>
<div class="label">plain-text part</div><pre>{html.escape(proof.parts.text)}</pre>
<div class="label">SMS · {len(proof.parts.sms)} characters · {sms.encoding} · {sms.units} units · {sms.segments} segment(s)</div>
<div class="sms">{html.escape(proof.parts.sms)}</div>
<div class="label">approval</div><table><tr><th>channel</th><th>state</th><th>content hash</th><th></th></tr>{approvals}</table>
<div class="label">lint</div>{_findings_html(proof.findings)}
</div>"""


def write_proofs(
    linter: Linter, out_dir: Path, statuses: list[PieceStatus], *, which: str = "complete"
) -> list[Path]:
    """Write ``<notice>.html`` proof pages and ``eml/*.eml`` files into ``out_dir``; returns the pages."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eml").mkdir(exist_ok=True)
    by_piece = {s.piece: s for s in statuses}
    findings = linter.run()
    facts = sample_facts(linter.templates_dir, which)
    pages = []
    for notice in NOTICES:
        renderer = linter.renderers[notice]
        sections = []
        for profile in PROFILES:
            cards = []
            for locale in linter.locales:
                sample = linter.policy.sample(locale)
                parts = renderer.render(
                    facts,
                    name=sample["name"],
                    locale=locale,
                    time_zone=sample["time_zone"],
                    jurisdiction=PROFILE_JURISDICTIONS[profile],
                )
                email, phone = SAMPLE_CONTACT.get(locale, SAMPLE_CONTACT["en"])
                row: Any = _SampleRow(name=sample["name"], email=email, phone=phone)
                message = message_for(Channel.EMAIL, row, parts)
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
                cards.append(_card(_Proof(locale, profile, parts, eml, mine), by_piece, notice, out_dir))
            sections.append(
                f'<h2>{html.escape(profile)} profile</h2><div class="grid">{"".join(cards)}</div>'
            )
        page = out_dir / f"{notice}.html"
        page.write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Proof: {notice}</title><style>{CSS}</style>"
            f"</head><body><h1>Proof sheet: {html.escape(notice)}</h1><p class='meta'>Rendered with the "
            f"<b>{which}</b> sample incident (templates/samples/{which}.json) for a sample reader per language, "
            "through the same code as sending. Every locale × channel × jurisdiction profile.</p>"
            + "".join(sections)
            + "</body></html>",
            encoding="utf-8",
        )
        pages.append(page)
    return pages


@dataclass(frozen=True, slots=True)
class _SampleRow:
    name: str
    email: str
    phone: str
