"""Approval by content hash: nothing goes out that legal did not approve byte for byte.

A *piece* is (notice, locale, channel). Its content hash covers everything that decides what a
customer reads in it: the channel's template files and every template they import, the legal content
data (``templates/content.toml`` as parsed: categories, steps, profiles and their headings, so a
comment or re-wrapped line there changes nothing), and that locale's own catalog entries. Editing any
of them voids the approval of exactly the pieces it feeds: one word in
the Russian catalog changes the Russian hashes and nothing else.

Four eyes: an approver must differ from the last recorded editor of the piece at that hash
(``templates submit``). A locale that fails the linter cannot be approved. Launch refuses any piece
the campaign needs that is not approved at its current hash. Every decision and refusal is audited."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
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
from notifier.notices.lint import Finding, Linter
from notifier.notices.render import CHANNEL_PARTS, NOTICES, PARTS
from notifier.store import Store
from notifier.store import queries as q

__all__ = [
    "Piece",
    "PieceStatus",
    "approve",
    "content_hash",
    "pieces",
    "require_approved",
    "statuses",
    "submit",
]


@dataclass(frozen=True, slots=True, order=True)
class Piece:
    notice: str
    locale: str
    channel: str

    def __str__(self) -> str:
        return f"{self.notice}/{self.locale}/{self.channel}"


@dataclass(frozen=True, slots=True)
class PieceStatus:
    piece: Piece
    content_hash: str
    state: str  # approved | changed since approval | rejected | never approved | failing lint
    detail: str


def _template_files(templates_dir: Path, names: Iterable[str]) -> list[Path]:
    """The named templates and, recursively, everything they import, include or extend."""
    stamps = tuple((p, p.stat().st_mtime_ns) for p in sorted(templates_dir.rglob("*.j2")))
    return _template_files_of(templates_dir, tuple(names), stamps)


@lru_cache(maxsize=64)
def _template_files_of(templates_dir: Path, names: tuple[str, ...], stamps: tuple[Any, ...]) -> list[Path]:
    del stamps  # part of the cache key: any edited template is parsed again
    env = Environment(extensions=["jinja2.ext.i18n"])
    seen: dict[str, Path] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = templates_dir / name
        seen[name] = path
        todo += [
            ref for ref in meta.find_referenced_templates(env.parse(path.read_text(encoding="utf-8"))) if ref
        ]
    return [seen[k] for k in sorted(seen)]


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


def content_hash(templates_dir: Path, locales_dir: Path, piece: Piece) -> str:
    names = [f"{piece.notice}/{PARTS[part]}" for part in CHANNEL_PARTS[Channel(piece.channel)]]
    files = {
        str(p.relative_to(templates_dir)): _file_digest(p) for p in _template_files(templates_dir, names)
    }
    material = {
        "piece": [piece.notice, piece.locale, piece.channel],
        "files": files,
        "catalog": _catalog_digest(locales_dir, piece.locale),
        "content": load_content(templates_dir).digest,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def pieces(
    settings: Settings, *, notice: str | None = None, locale: str | None = None, channel: str | None = None
) -> list[Piece]:
    linter = Linter(settings.templates_dir, settings.locales_dir)
    for value, allowed, what in (
        (notice, NOTICES, "notice"),
        (locale, linter.locales, "locale"),
        (channel, tuple(CHANNEL_PARTS), "channel"),
    ):
        if value is not None and value not in allowed:
            raise InputError(f"unknown {what} {value!r}; known: {', '.join(allowed)}")
    return [
        Piece(n, loc, c)
        for n in NOTICES
        for loc in linter.locales
        for c in CHANNEL_PARTS
        if (notice in (None, n)) and (locale in (None, loc)) and (channel in (None, c))
    ]


def _lint_errors(settings: Settings, selected: list[Piece]) -> dict[Piece, list[Finding]]:
    findings = Linter(settings.templates_dir, settings.locales_dir).run()
    errors: dict[Piece, list[Finding]] = {}
    for piece in selected:
        errors[piece] = [
            f
            for f in findings
            if f.severity == "error"
            and f.locale in (piece.locale, "*")
            and f.notice in (piece.notice, "*")
            and f.channel in (piece.channel, None)
        ]
    return errors


def submit(
    store: Store, settings: Settings, selected: list[Piece], *, author: str, comment: str = ""
) -> list[str]:
    """Record ``author`` as the last editor of each piece at its current hash."""
    now = utcnow()
    lines = []
    with store.begin() as conn:
        for piece in selected:
            digest = content_hash(settings.templates_dir, settings.locales_dir, piece)
            q.insert_submission(
                conn,
                notice=piece.notice,
                locale=piece.locale,
                channel=piece.channel,
                content_hash=digest,
                author=author,
                at=now,
                comment=comment,
            )
            q.audit(
                conn,
                actor=author,
                action="template.submit",
                subject=f"template:{piece}",
                detail={"hash": digest, "comment": comment},
                now=now,
            )
            lines.append(f"{piece}: submitted by {author} at {digest[:12]}")
    return lines


def approve(
    store: Store,
    settings: Settings,
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
    lint = _lint_errors(settings, selected) if decision == "approved" else {}
    recorded, refused = [], []
    now = utcnow()
    with store.begin() as conn:
        for piece in selected:
            digest = content_hash(settings.templates_dir, settings.locales_dir, piece)
            author = q.last_author(conn, piece.notice, piece.locale, piece.channel, digest)
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
                    subject=f"template:{piece}",
                    detail={"hash": digest, "reason": reason},
                    now=now,
                )
                continue
            q.insert_approval(
                conn,
                notice=piece.notice,
                locale=piece.locale,
                channel=piece.channel,
                content_hash=digest,
                decision=decision,
                approver=approver,
                role=role,
                at=now,
                comment=comment,
            )
            q.audit(
                conn,
                actor=approver,
                action=f"template.{decision[:-1]}",
                subject=f"template:{piece}",
                detail={"hash": digest, "role": role, "comment": comment, "editor": author},
                now=now,
            )
            recorded.append(f"{piece}: {decision} by {approver} ({role}) at {digest[:12]}")
    return recorded, refused


def statuses(
    store: Store, settings: Settings, selected: list[Piece] | None = None, *, with_lint: bool = True
) -> list[PieceStatus]:
    selected = selected if selected is not None else pieces(settings)
    lint = _lint_errors(settings, selected) if with_lint else {}
    with store.connect() as conn:
        decisions = q.latest_decisions(conn)
    result = []
    for piece in selected:
        digest = content_hash(settings.templates_dir, settings.locales_dir, piece)
        decision = decisions.get((piece.notice, piece.locale, piece.channel))
        if lint.get(piece):
            state, detail = "failing lint", f"{len(lint[piece])} errors"
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


def require_approved(
    store: Store, settings: Settings, *, campaign_id: int, campaign_name: str, notice: str, actor: str
) -> None:
    """Raise (and audit) unless every piece the campaign still has to send is approved at its current hash."""
    with store.connect() as conn:
        needed = [Piece(notice, locale, channel) for locale, channel in q.campaign_pieces(conn, campaign_id)]
    blocked = [s for s in statuses(store, settings, needed, with_lint=False) if s.state != "approved"]
    if not blocked:
        return
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
