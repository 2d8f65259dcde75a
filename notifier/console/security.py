"""What every console response and request goes through: security headers (a strict Content-Security-
Policy: scripts and styles only from the console itself, no inline code, no framing), the session cookie
(signed, HttpOnly, SameSite=Lax, Secure behind TLS), and the cross-site request check on every state-
changing request (the ``Sec-Fetch-Site`` / ``Origin`` check Datasette uses: a browser says where a
request comes from, and a form posted from another site is refused with 403)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "COOKIE",
    "CSP",
    "SECURE_COOKIE",
    "BodyLimit",
    "Guard",
    "cookie_name",
    "cookie_signer",
    "same_origin",
    "sent_from_elsewhere",
    "signed_secret",
]

COOKIE = "notifier_session"
# Over https the cookie is __Host-: the browser then keeps it only if it is Secure, for this host alone (no
# Domain) and the whole path, so no sibling subdomain or plain-http page can plant or read it.
SECURE_COOKIE = "__Host-notifier_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# An email preview is shown in a sandboxed frame: its own inline styles, nothing else, no script at all.
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"
# A delivery report is one self-contained file (inline stylesheet and SVG charts), never a script.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"
)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_LIMIT = 2 * 2**20  # a posted form (the incident facts in every language are the largest: ~100 KB)


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE if secure else COOKIE


def cookie_signer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="notifier-session")


def same_origin(request: Request) -> bool:
    """True unless the browser says the request comes from another site. A request that says nothing
    (no Sec-Fetch-Site, no Origin) is not from a browser form of ours: refused too."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def sent_from_elsewhere(request: Request) -> bool:
    """True when the browser says another site sent it here (a link or a script elsewhere). A GET that
    records something (an export is audited) must not be triggered from another site either."""
    return request.headers.get("sec-fetch-site") in ("cross-site", "same-site")


@dataclass(frozen=True, slots=True)
class _Headers:
    path: str

    @property
    def preview(self) -> bool:
        return self.path.startswith("/preview/")

    def apply(self, headers: MutableHeaders) -> None:
        policy = PREVIEW_CSP if self.preview else REPORT_CSP if self.path.startswith("/reports/") else CSP
        headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "SAMEORIGIN" if self.preview else "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cache-Control", "no-store")  # pages carry personal data: never cached


class Guard:
    """ASGI middleware: refuse cross-site state changes, then add the security headers to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        headers = _Headers(request.url.path)
        refused: PlainTextResponse | None = None
        if request.method in UNSAFE and not same_origin(request):
            refused = PlainTextResponse(
                "403: a cross-site request may not change anything here", status_code=403
            )
        elif _has_nul(request):
            # No page has a use for it, and PostgreSQL refuses it in any text: said here, not as a 500.
            refused = PlainTextResponse("400: the address holds a NUL character (%00)", status_code=400)
        if refused is not None:
            headers.apply(refused.headers)
            await refused(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers.apply(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """ASGI middleware: a request body larger than its route allows is refused (413) before it is read,
    by its Content-Length, and while it streams in (a body sent chunked, or longer than it said), so an
    upload nobody asked for costs neither memory nor disk. ``larger`` names the routes that take more
    (the affected-ids upload)."""

    def __init__(self, app: ASGIApp, *, default: int = FORM_LIMIT, larger: Mapping[str, int]) -> None:
        self.app, self.default, self.larger = app, default, dict(larger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length")
        refused: PlainTextResponse | None = None
        if declared is not None and (not declared.isdigit() or len(declared) > 18):
            refused = PlainTextResponse("400: the Content-Length header is not a number", status_code=400)
        elif declared is not None and int(declared) > limit:
            refused = _too_large(limit)
        if refused is not None:
            await refused(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, _too_large_text(limit))
            return message

        await self.app(scope, counted, send)


def _too_large_text(limit: int) -> str:
    return f"more than {limit // 2**20} MB sent here: split the file, or send less"


def _too_large(limit: int) -> PlainTextResponse:
    return PlainTextResponse(f"413: {_too_large_text(limit)}", status_code=413)


def _has_nul(request: Request) -> bool:
    return "\x00" in request.url.path or "%00" in request.url.query or "\x00" in request.url.query


def signed_secret(request: Request, signer: URLSafeSerializer, name: str = COOKIE) -> str | None:
    raw = request.cookies.get(name)
    if not raw:
        return None
    try:
        value = signer.loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None
