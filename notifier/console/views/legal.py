"""Legal's review: the approval matrix of an incident's notice pieces, each piece exactly as the customer
sees it (the email in a sandboxed frame, the text part, the SMS with its segments), and the decision,
refused with the reason when the piece fails the linter or the reviewer is its last editor."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.audience.postal import customer_envelope
from notifier.clock import utcnow
from notifier.config import Settings
from notifier.console.web import Console, render, require, see_other, with_form
from notifier.errors import InputError, RenderError
from notifier.notices.approval import Piece, approve, pieces, snapshot, statuses
from notifier.notices.diffs import DiffSection, diff_snapshots
from notifier.notices.incidents import Incident
from notifier.notices.letters import letter_pdf, personalized
from notifier.notices.lint import Finding, Linter
from notifier.notices.proof import SAMPLE_ADDRESS
from notifier.notices.records import incident_by_key
from notifier.notices.render import NoticeParts
from notifier.notices.segments import segment_info
from notifier.store import queries as q
from notifier.store.rows import DecisionRow

__all__ = ["routes"]


@cache
def _linter(templates_dir: Path, locales_dir: Path) -> Linter:
    return Linter(templates_dir, locales_dir)


@dataclass(frozen=True, slots=True)
class Reader:
    name: str
    time_zone: str
    label: str
    address: tuple[str, ...] = ()  # the envelope's lines after the name (a letter), if the store has them


class _Readers:
    """Which customer a piece is shown for, by an opaque token: the email frame's URL names the token,
    never the customer (no personal data in URLs). Tokens live ten minutes in this process."""

    def __init__(self) -> None:
        self.chosen: dict[str, tuple[Reader, float]] = {}
        self.lock = threading.Lock()

    def add(self, reader: Reader) -> str:
        token = secrets.token_urlsafe(16)
        with self.lock:
            now = time.monotonic()
            self.chosen = {k: v for k, v in self.chosen.items() if v[1] > now}
            self.chosen[token] = (reader, now + 600)
        return token

    def get(self, token: str) -> Reader | None:
        with self.lock:
            found = self.chosen.get(token)
        return found[0] if found and found[1] > time.monotonic() else None


def routes(console: Console) -> list[BaseRoute]:
    readers = _Readers()
    store, settings = console.store, console.settings

    def piece_of(request: Request) -> Piece:
        p = request.path_params
        incident = incident_by_key(console.store, settings, p["key"])
        piece = Piece(incident.key, p["notice"], p["locale"], p["channel"], p["profile"])
        if piece not in pieces(settings, incident):
            raise HTTPException(404, "no such notice piece for this incident")
        return piece

    def rendered(piece: Piece, reader: Reader | None = None) -> NoticeParts:
        linter = _linter(settings.templates_dir, settings.locales_dir)
        incident = incident_by_key(console.store, settings, piece.incident)
        sample = linter.policy.sample(piece.locale)
        return linter.renderers[piece.notice].render(
            incident,
            name=reader.name if reader else sample["name"],
            locale=piece.locale,
            time_zone=reader.time_zone if reader else sample["time_zone"],
            profile=piece.profile,
        )

    def matrix(request: Request) -> Response:
        require(request, Action.NOTICE_REVIEW)
        incident = incident_by_key(console.store, settings, request.path_params["key"])
        found = statuses(console.store, settings, incident)
        counts = dict(Counter(status.state for status in found))
        return render(request, "legal/matrix.html.j2", incident=incident, statuses=found, counts=counts)

    def piece_page(request: Request) -> Response:
        require(request, Action.NOTICE_REVIEW)
        return piece_response(request, None, "")

    def as_customer(request: Request, form: FormData) -> Response:
        user = require(request, Action.NOTICE_REVIEW)
        external_id = str(form.get("customer", "")).strip()[:128]
        with store.connect() as conn:
            found = q.customers_matching(conn, external_id=external_id)
        if not found:
            raise InputError("no customer with that id in the store")
        reader = _reader_of(console, found[0].external_id, found[0].name, found[0].time_zone)
        with store.begin() as conn:
            q.audit(
                conn,
                actor=user.username,
                action="notice.previewed_for_customer",
                subject=f"piece:{piece_of(request)}",
                detail={"customer": found[0].external_id},
                now=utcnow(),
            )
        return piece_response(request, reader, readers.add(reader))

    def piece_response(request: Request, reader: Reader | None, token: str) -> Response:
        piece = piece_of(request)
        incident = incident_by_key(console.store, settings, piece.incident)
        (status,) = statuses(console.store, settings, incident, [piece])
        parts = rendered(piece, reader)
        findings = _findings(settings, incident, piece) if status.state == "failing lint" else []
        last, changes = _changes(console, incident, piece, status.content_hash)
        return render(
            request,
            "legal/piece.html.j2",
            last=last,
            changes=changes,
            piece=piece,
            status=status,
            parts=parts,
            sms=segment_info(parts.sms),
            findings=findings,
            done=request.query_params.get("done", ""),
            reader=reader,
            reader_token=token,
        )

    def preview(request: Request) -> Response:
        require(request, Action.NOTICE_REVIEW)
        piece, reader = piece_of(request), readers.get(request.query_params.get("reader", ""))
        if piece.channel != "letter":
            return HTMLResponse(rendered(piece, reader).html)
        as_pdf = request.query_params.get("as") == "pdf"
        return _letter_preview(piece, rendered(piece, reader), reader, as_pdf=as_pdf)

    def decide(request: Request, form: FormData) -> Response:
        user = require(request, Action.NOTICE_DECIDE)
        piece = piece_of(request)
        decision = _decision(form)
        incident = incident_by_key(console.store, settings, piece.incident)
        _recorded, refused = approve(
            console.store,
            settings,
            incident,
            [piece],
            approver=user.username,
            role="legal",
            comment=str(form.get("comment", ""))[:2000],
            decision=decision,
        )
        if refused:
            return render(
                request, "error.html.j2", status_code=409, title="Refused", message=" ".join(refused)
            )
        base = "/incidents/{key}/pieces/{notice}/{locale}/{channel}/{profile}".format(**request.path_params)
        return see_other(f"{base}?done={decision}")

    piece_path = "/incidents/{key}/pieces/{notice}/{locale}/{channel}/{profile}"
    return [
        Route("/incidents/{key}/approvals", matrix, methods=["GET"]),
        Route(piece_path, piece_page, methods=["GET"]),
        Route(piece_path + "/decide", with_form(decide), methods=["POST"]),
        Route(piece_path + "/reader", with_form(as_customer), methods=["POST"]),
        Route("/preview/{key}/{notice}/{locale}/{channel}/{profile}", preview, methods=["GET"]),
    ]


def _reader_of(console: Console, external_id: str, name: str, time_zone: str) -> Reader:
    """A customer as a piece is shown for them: their name, time zone and, for a letter, their envelope."""
    with console.store.connect() as conn:
        _id, record = q.customers_by_external_ids(conn, [external_id])[external_id]
    return Reader(name, time_zone, f"customer {external_id}", tuple(customer_envelope(record)))


def _letter_preview(piece: Piece, parts: NoticeParts, reader: Reader | None, *, as_pdf: bool) -> Response:
    """A letter piece as printed: for the chosen customer's envelope, else a sample address; the PDF, or
    its HTML for the page's frame."""
    lines = (
        list(reader.address)
        if reader and reader.address
        else SAMPLE_ADDRESS.get(piece.locale, SAMPLE_ADDRESS["en"])
    )
    letter = personalized(parts.letter, address_lines=lines, reference="PROOF")
    if not as_pdf:
        return HTMLResponse(letter)
    try:
        pdf = letter_pdf(letter)
    except RenderError as exc:
        raise InputError(f"the letter cannot be laid out: {exc}") from None
    name = f"{piece.notice}-{piece.locale}-{piece.profile}-letter.pdf"
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


def _findings(settings: Settings, incident: Incident, piece: Piece) -> list[Finding]:
    """The linter's findings about this piece."""
    found = _linter(settings.templates_dir, settings.locales_dir).run(
        incident=incident, notice=piece.notice, locale=piece.locale
    )
    return [
        f for f in found if f.profile in (piece.profile, None) and f.channel in (piece.channel, "*", None)
    ]


def _changes(
    console: Console, incident: Incident, piece: Piece, current: str
) -> tuple[DecisionRow | None, list[DiffSection]]:
    """The last approval of the piece and, if the piece changed since, what changed."""
    with console.store.connect() as conn:
        last = q.last_approved(conn, piece.key)
        before = q.snapshot_of(conn, last.content_hash) if last and last.content_hash != current else None
    if before is None:
        return last, []
    return last, diff_snapshots(before, snapshot(console.settings, incident, piece))


def _decision(form: FormData) -> str:
    """The button pressed, as the decision it records; anything else is refused, never read as approval."""
    decision = {"approve": "approved", "reject": "rejected"}.get(str(form.get("decision", "")))
    if decision is None:
        raise InputError("decide with Approve or Reject")
    return decision
