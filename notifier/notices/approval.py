"""Approval by content hash: nothing goes out that legal did not approve byte for byte.

A *piece* is what one group of customers reads: (incident, notice, locale, channel, jurisdiction
profile). Its content hash covers everything that decides that text: the channel's template files and
every template they import, the blocks the profile can show, the legal content data
(``templates/content.toml`` as parsed, so a comment or re-wrapped line there changes nothing), that
locale's own catalog entries, and the incident's facts as a reader of that locale reads them
(``Incident.as_read_in``: each free text in that language only). Editing any of them voids the approval
of exactly the pieces it feeds: one word of the incident's Russian text, or of the Russian catalog,
changes the Russian hashes and nothing else.

Four eyes: an approver must differ from the last recorded editor of the piece at that hash
(``templates submit``, or the person who recorded or edited the incident). A piece that fails the
linter cannot be approved. Launch, and every batch after it, refuses any piece the campaign needs that
is not approved at its current hash; each outbox row records the hash it was sent at. Every decision
and refusal is audited."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from jinja2 import Environment, meta

from notifier.clock import utcnow
from notifier.config import Settings
from notifier.errors import CampaignStateError, InputError
from notifier.models import Channel
from notifier.notices.content import load_content
from notifier.notices.incidents import Incident, parse_incident
from notifier.notices.letters import LAYOUTS_FILE
from notifier.notices.lint import Finding, Linter
from notifier.notices.render import CHANNEL_PARTS, NOTICES, PARTS
from notifier.store import Store
from notifier.store import queries as q

__all__ = [
    "ApprovedContent",
    "Piece",
    "PieceStatus",
    "approve",
    "campaign_incident",
    "content_hash",
    "pieces",
    "require_approved",
    "statuses",
    "submit",
    "submit_changed",
]


@dataclass(frozen=True, slots=True, order=True)
class Piece:
    incident: str  # the incident's key
    notice: str
    locale: str
    channel: str
    profile: str

    def __str__(self) -> str:
        return f"{self.incident}/{self.notice}/{self.locale}/{self.channel}/{self.profile}"

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.incident, self.notice, self.locale, self.channel, self.profile)


@dataclass(frozen=True, slots=True)
class PieceStatus:
    piece: Piece
    content_hash: str
    state: str  # approved | changed since approval | rejected | never approved | failing lint
    detail: str


@dataclass(frozen=True, slots=True)
class ApprovedContent:
    """What a campaign may send right now: its incident's current facts, and the approved content hash of
    every (notice locale, channel, profile) it still has to send."""

    incident: Incident
    hashes: Mapping[tuple[str, str, str], str]

    def hash_of(self, locale: str, channel: str, profile: str) -> str | None:
        return self.hashes.get((locale, channel, profile))


def _template_files(templates_dir: Path, names: Iterable[str]) -> list[Path]:
    """The named templates and, recursively, everything they import, include or extend."""
    seen: dict[str, Path] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = templates_dir / name
        seen[name] = path
        todo += _references(path, path.stat().st_mtime_ns)
    return [seen[k] for k in sorted(seen)]


@lru_cache(maxsize=256)
def _references(path: Path, mtime_ns: int) -> tuple[str, ...]:
    """The templates one template names statically; parsed again only when the file changes."""
    del mtime_ns  # part of the cache key
    parsed = Environment(extensions=["jinja2.ext.i18n"]).parse(path.read_text(encoding="utf-8"))
    return tuple(ref for ref in meta.find_referenced_templates(parsed) if ref)


def _catalog_digest(locales_dir: Path, locale: str) -> str:
    path = locales_dir / locale / "LC_MESSAGES" / "messages.po"
    stat = path.stat()
    return _catalog_digest_of(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _catalog_digest_of(path: Path, mtime_ns: int, size: int) -> str:
    """Cached by modification time and size: checked before every batch, parsed only when edited."""
    del mtime_ns, size
    with path.open("rb") as handle:
        catalog = read_po(handle)
    # Only what a reader can see: ids, translations and fuzziness; not headers, dates or comments.
    entries = sorted(
        (json.dumps(m.id, ensure_ascii=False), json.dumps(m.string, ensure_ascii=False), m.fuzzy)
        for m in catalog
        if m.id
    )
    return hashlib.sha256(json.dumps(entries, ensure_ascii=False).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    stat = path.stat()
    return _file_digest_of(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _file_digest_of(path: Path, mtime_ns: int, size: int) -> str:
    del mtime_ns, size
    return hashlib.sha256(path.read_bytes()).hexdigest()


def piece_files(templates_dir: Path, piece: Piece) -> list[Path]:
    """Every template file a piece is rendered from: its notice's parts for the channel, what they import,
    include or extend, and the blocks its profile shows."""
    channel = Channel(piece.channel)
    content = load_content(templates_dir)
    names = [f"{piece.notice}/{PARTS[part]}" for part in CHANNEL_PARTS[channel]]
    kinds = {Channel.EMAIL: ("txt", "html"), Channel.LETTER: ("html",)}.get(channel, ())
    if kinds and piece.profile in content.profiles:
        # Blocks are included by name from data (content.toml), which Jinja2 cannot see statically.
        names += [
            f"blocks/{block}.{kind}.j2" for block in content.profiles[piece.profile].blocks for kind in kinds
        ]
    files = _template_files(templates_dir, names)
    if channel is Channel.LETTER:
        files.append(templates_dir / LAYOUTS_FILE)  # where the address sits, on which paper
    return files


def content_hash(templates_dir: Path, locales_dir: Path, incident: Incident, piece: Piece) -> str:
    content = load_content(templates_dir)
    files = {str(p.relative_to(templates_dir)): _file_digest(p) for p in piece_files(templates_dir, piece)}
    material = {
        "piece": list(piece.key),
        "files": files,
        "catalog": _catalog_digest(locales_dir, piece.locale),
        "content": content.digest,
        "facts": incident.as_read_in(piece.locale),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def pieces(
    settings: Settings,
    incident: Incident,
    *,
    notice: str | None = None,
    locale: str | None = None,
    channel: str | None = None,
    profile: str | None = None,
) -> list[Piece]:
    """Every piece of ``incident`` (or those selected): each notice × locale × channel × profile that a
    reader of this incident can get (a profile for health data only applies if health data leaked)."""
    linter = Linter(settings.templates_dir, settings.locales_dir)
    profiles = [p.name for p in linter.content.profiles.values() if p.applies_to(incident.data_categories)]
    for value, allowed, what in (
        (notice, NOTICES, "notice"),
        (locale, linter.locales, "locale"),
        (channel, tuple(CHANNEL_PARTS), "channel"),
        (profile, tuple(profiles), f"profile for incident {incident.key}"),
    ):
        if value is not None and value not in allowed:
            raise InputError(f"unknown {what} {value!r}; known: {', '.join(allowed)}")
    return [
        Piece(incident.key, n, loc, c, p)
        for n in NOTICES
        for loc in linter.locales
        for c in CHANNEL_PARTS
        for p in profiles
        if (notice in (None, n))
        and (locale in (None, loc))
        and (channel in (None, c))
        and (profile in (None, p))
    ]


def _lint_errors(settings: Settings, incident: Incident, selected: list[Piece]) -> dict[Piece, list[Finding]]:
    if not selected:
        return {}
    notices, locales = {p.notice for p in selected}, {p.locale for p in selected}
    findings = [
        f
        for f in Linter(settings.templates_dir, settings.locales_dir).run(
            incident=incident,
            notice=next(iter(notices)) if len(notices) == 1 else None,  # lint only what is decided
            locale=next(iter(locales)) if len(locales) == 1 else None,
        )
        if f.severity == "error"
    ]
    return {
        piece: [f for f in findings if f.concerns(piece.notice, piece.locale, piece.channel, piece.profile)]
        for piece in selected
    }


def _hash(settings: Settings, incident: Incident, piece: Piece) -> str:
    return content_hash(settings.templates_dir, settings.locales_dir, incident, piece)


def submit(
    store: Store,
    settings: Settings,
    incident: Incident,
    selected: list[Piece],
    *,
    author: str,
    comment: str = "",
) -> list[str]:
    """Record ``author`` as the last editor of each piece at its current hash."""
    now = utcnow()
    lines = []
    with store.begin() as conn:
        for piece in selected:
            digest = _hash(settings, incident, piece)
            q.insert_submission(
                conn, **_columns(piece), content_hash=digest, author=author, at=now, comment=comment
            )
            q.audit(
                conn,
                actor=author,
                action="template.submit",
                subject=f"piece:{piece}",
                detail={"hash": digest, "comment": comment},
                now=now,
            )
            lines.append(f"{piece}: submitted by {author} at {digest[:12]}")
    return lines


def submit_changed(
    store: Store, settings: Settings, before: Incident | None, after: Incident, *, author: str, comment: str
) -> list[Piece]:
    """After ``author`` recorded or edited an incident: record them as the editor of every piece whose
    hash the edit changed (so that someone else must approve it); returns those pieces."""
    changed = [
        piece
        for piece in pieces(settings, after)
        if before is None or _hash(settings, before, piece) != _hash(settings, after, piece)
    ]
    if changed:
        submit(store, settings, after, changed, author=author, comment=comment)
    return changed


def _columns(piece: Piece) -> dict[str, str]:
    return {
        "incident_key": piece.incident,
        "notice": piece.notice,
        "locale": piece.locale,
        "channel": piece.channel,
        "profile": piece.profile,
    }


def approve(
    store: Store,
    settings: Settings,
    incident: Incident,
    selected: list[Piece],
    *,
    approver: str,
    role: str,
    comment: str,
    decision: str = "approved",
) -> tuple[list[str], list[str]]:
    """Record legal's decision for each piece; returns (recorded, refused) lines. Refusals are audited too."""
    if decision not in ("approved", "rejected"):
        raise InputError("decision is approved or rejected")
    lint = _lint_errors(settings, incident, selected) if decision == "approved" else {}
    # Rendered before the transaction: its audit entries hold the audit chain's lock until it commits.
    snapshots = (
        {piece: snapshot(settings, incident, piece) for piece in selected if not lint.get(piece)}
        if decision == "approved"
        else {}
    )
    recorded, refused = [], []
    now = utcnow()
    with store.begin() as conn:
        for piece in selected:
            digest = _hash(settings, incident, piece)
            author = q.last_author(conn, digest)
            reason = None
            if decision == "approved" and lint.get(piece):
                first = lint[piece][0]
                reason = f"fails lint ({len(lint[piece])} errors, first: {first.rule}: {first.message})"
            elif author is None:
                reason = "no editor recorded for this version; run `notifier templates submit` first"
            elif author == approver:
                reason = (
                    f"{approver} is the last editor of this version; another person must decide (four eyes)"
                )
            if reason:
                refused.append(f"{piece}: refused: {reason}")
                q.audit(
                    conn,
                    actor=approver,
                    action=f"template.{decision[:-1]}_refused",
                    subject=f"piece:{piece}",
                    detail={"hash": digest, "reason": reason},
                    now=now,
                )
                continue
            q.insert_approval(
                conn,
                **_columns(piece),
                content_hash=digest,
                decision=decision,
                approver=approver,
                role=role,
                at=now,
                comment=comment,
            )
            if decision == "approved":
                q.save_snapshot(conn, digest, snapshots[piece], now)
            q.audit(
                conn,
                actor=approver,
                action=f"template.{decision[:-1]}",
                subject=f"piece:{piece}",
                detail={"hash": digest, "role": role, "comment": comment, "editor": author},
                now=now,
            )
            recorded.append(f"{piece}: {decision} by {approver} ({role}) at {digest[:12]}")
    return recorded, refused


def snapshot(settings: Settings, incident: Incident, piece: Piece) -> dict[str, Any]:
    """What a piece says now, for a later diff: its template sources, the incident's facts as read in its
    language, and its text rendered for the sample reader of that language (subject, text part, SMS)."""
    from notifier.notices.lint import LintPolicy
    from notifier.notices.render import renderer_for

    sample = LintPolicy.load(settings.templates_dir / "policy.toml").sample(piece.locale)
    parts = renderer_for(settings.templates_dir, settings.locales_dir, piece.notice).render(
        incident,
        name=sample["name"],
        locale=piece.locale,
        time_zone=sample["time_zone"],
        profile=piece.profile,
    )
    rendered = (
        {"subject": parts.subject, "text": parts.text} if piece.channel == "email" else {"sms": parts.sms}
    )
    return {
        "sources": {
            str(p.relative_to(settings.templates_dir)): p.read_text(encoding="utf-8")
            for p in piece_files(settings.templates_dir, piece)
        },
        "facts": incident.as_read_in(piece.locale),
        "rendered": rendered,
    }


def statuses(
    store: Store,
    settings: Settings,
    incident: Incident,
    selected: list[Piece] | None = None,
    *,
    with_lint: bool = True,
) -> list[PieceStatus]:
    selected = selected if selected is not None else pieces(settings, incident)
    lint = _lint_errors(settings, incident, selected) if with_lint else {}
    with store.connect() as conn:
        decisions = q.latest_decisions(conn, incident.key)
    result = []
    for piece in selected:
        digest = _hash(settings, incident, piece)
        decision = decisions.get(piece.key)
        if lint.get(piece):
            state, detail = "failing lint", f"{len(lint[piece])} errors, first: {lint[piece][0].message}"
        elif decision is None:
            state, detail = "never approved", ""
        elif decision.content_hash != digest:
            state, detail = (
                "changed since approval",
                f"approved {decision.content_hash[:12]} by {decision.approver}",
            )
        elif decision.decision == "rejected":
            state, detail = "rejected", f"by {decision.approver}: {decision.comment or ''}"
        else:
            state, detail = "approved", f"by {decision.approver} ({decision.role}) {str(decision.at)[:10]}"
        result.append(PieceStatus(piece, digest, state, detail))
    return result


def campaign_incident(store: Store, settings: Settings, campaign_id: int) -> Incident:
    with store.connect() as conn:
        row = q.incident_by_id(conn, q.campaign_incident_id(conn, campaign_id))
    return parse_incident(row.facts, settings.templates_dir)


def require_approved(
    store: Store, settings: Settings, *, campaign_id: int, campaign_name: str, notice: str, actor: str
) -> ApprovedContent:
    """Raise (and audit) unless every piece the campaign still has to send is approved at its current hash;
    returns what is approved."""
    incident = campaign_incident(store, settings, campaign_id)
    content = load_content(settings.templates_dir)
    with store.connect() as conn:
        needed = sorted(
            {
                Piece(
                    incident.key,
                    notice,
                    locale,
                    channel,
                    content.profile_for(jurisdiction, incident.data_categories).name,
                )
                for locale, channel, jurisdiction in q.campaign_pieces(conn, campaign_id)
            }
        )
    checked = statuses(store, settings, incident, needed, with_lint=False)
    blocked = [s for s in checked if s.state != "approved"]
    if not blocked:
        hashes = {(s.piece.locale, s.piece.channel, s.piece.profile): s.content_hash for s in checked}
        return ApprovedContent(incident, hashes)
    reasons = [f"{s.piece} is {s.state}" + (f" ({s.detail})" if s.detail else "") for s in blocked]
    with store.begin() as conn:
        q.audit(
            conn,
            actor=actor,
            action="campaign.launch_refused",
            subject=f"campaign:{campaign_name}",
            detail={"not_approved": reasons},
            now=utcnow(),
        )
    raise CampaignStateError(f"campaign {campaign_name!r} cannot be sent: " + "; ".join(reasons))
