"""Legal's review: the approval matrix of an incident's notice pieces, each piece exactly as the customer
sees it (the email in a sandboxed frame, the text part, the SMS with its segments), and the decision,
refused with the reason when the piece fails the linter or the reviewer is its last editor."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from notifier.accounts.permissions import Action
from notifier.console.web import Console, render, require, see_other, with_form
from notifier.notices.approval import Piece, approve, pieces, snapshot, statuses
from notifier.notices.diffs import diff_snapshots
from notifier.notices.lint import Linter
from notifier.notices.records import incident_by_key
from notifier.notices.render import NoticeParts
from notifier.notices.segments import segment_info
from notifier.store import queries as q

__all__ = ["routes"]


@cache
def _linter(templates_dir: Path, locales_dir: Path) -> Linter:
    return Linter(templates_dir, locales_dir)


def routes(console: Console) -> list[BaseRoute]:
    store, settings = console.store, console.settings

    def piece_of(request: Request) -> Piece:
        p = request.path_params
        incident = incident_by_key(console.store, settings, p["key"])
        known = pieces(settings, incident)
        piece = Piece(incident.key, p["notice"], p["locale"], p["channel"], p["profile"])
        if piece not in known:
            raise HTTPException(404, "no such notice piece for this incident")
        return piece

    def rendered(piece: Piece) -> NoticeParts:
        linter = _linter(settings.templates_dir, settings.locales_dir)
        incident = incident_by_key(console.store, settings, piece.incident)
        sample = linter.policy.sample(piece.locale)
        return linter.renderers[piece.notice].render(
            incident,
            name=sample["name"],
            locale=piece.locale,
            time_zone=sample["time_zone"],
            profile=piece.profile,
        )

    def matrix(request: Request) -> Response:
        require(request, Action.NOTICE_REVIEW)
        incident = incident_by_key(console.store, settings, request.path_params["key"])
        found = statuses(console.store, settings, incident)
        counts: dict[str, int] = {}
        for status in found:
            counts[status.state] = counts.get(status.state, 0) + 1
        return render(request, "legal/matrix.html.j2", incident=incident, statuses=found, counts=counts)

    def piece_page(request: Request) -> Response:
        require(request, Action.NOTICE_REVIEW)
        piece = piece_of(request)
        incident = incident_by_key(console.store, settings, piece.incident)
        (status,) = statuses(console.store, settings, incident, [piece])
        parts = rendered(piece)
        findings = (
            [
                f
                for f in _linter(settings.templates_dir, settings.locales_dir).run(
                    incident=incident, notice=piece.notice, locale=piece.locale
                )
                if f.profile in (piece.profile, None) and f.channel in (piece.channel, "*", None)
            ]
            if status.state == "failing lint"
            else []
        )
        with store.connect() as conn:
            last = q.last_approved(conn, piece.key)
            before = (
                q.snapshot_of(conn, last.content_hash)
                if last and last.content_hash != status.content_hash
                else None
            )
        changes = diff_snapshots(before, snapshot(settings, incident, piece)) if before else []
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
        )

    def preview(request: Request) -> Response:
        require(request, Action.NOTICE_REVIEW)
        parts = rendered(piece_of(request))
        return HTMLResponse(parts.html)

    def decide(request: Request, form: FormData) -> Response:
        user = require(request, Action.NOTICE_DECIDE)
        piece = piece_of(request)
        decision = "rejected" if form.get("decision") == "reject" else "approved"
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
        Route("/preview/{key}/{notice}/{locale}/{channel}/{profile}", preview, methods=["GET"]),
    ]
