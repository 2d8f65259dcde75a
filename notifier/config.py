"""Settings: one frozen value object built at the edge (CLI, flow, demo) and passed down.

Nothing below the edge reads the environment. ``Settings.from_env()`` is the only place that does; the
variables it reads are declared once, in ``ENVIRONMENT``, and documented in docs/operations.md (a test
keeps the two in step). Channel URLs are parsed here too: what paces a provider account (``rate``,
``burst``, ``concurrency``) becomes a typed ``ChannelSettings``; the channel itself reads the rest of its
URL when it is built (``notifier.channels.channel_from_url``). A bad value is a ``ConfigurationError``
naming the variable and what is expected, before anything runs."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from notifier.errors import ConfigurationError
from notifier.models import Channel
from notifier.redact import mask_url

__all__ = [
    "DEFAULT_TEMPLATES_DIR",
    "ENVIRONMENT",
    "PROJECT_ROOT",
    "ChannelSettings",
    "MailboxSettings",
    "RetryPolicy",
    "SelectionAccess",
    "Settings",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"
DEFAULT_TEMPLATES_DIR = PROJECT_ROOT / "templates"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How soon transient delivery failures are retried: exponential backoff with jitter, capped. How long
    they are retried in all is the campaign's (``DeliveryPolicy.retry_for``)."""

    base_seconds: float = 5.0
    max_seconds: float = 600.0

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Exponential backoff with jitter (half to all of the step); a provider's Retry-After hint is a
        floor, and ``max_seconds`` caps both."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        return min(self.max_seconds, max(hint or 0.0, random.uniform(ceiling / 2, ceiling)))


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """One channel's provider account as configured by its URL.

    url:          the channel URL (``smtp://…``, ``twilio://…``); the channel parses its own options from it.
    rate_per_s:   messages per second for the whole provider account, across every sender (0 = unpaced);
                  ``?rate=`` in the URL.
    burst:        how many messages may go at once after an idle moment (``&burst=``; default 2 % of rate).
    concurrency:  messages one sender has with the provider at a time (``&concurrency=``; default 8).
    account:      the key the account's pacing is shared under: the user (SMTP) or account SID (Twilio)
                  at its host."""

    kind: Channel
    url: str
    rate_per_s: float = 0.0
    burst: int | None = None
    concurrency: int = 8
    account: str = ""
    smtp: SmtpSettings | None = None  # an smtp:// or smtps:// URL, parsed

    def __repr__(self) -> str:
        return f"ChannelSettings({self.kind}, {mask_url(self.url)!r}, rate={self.rate_per_s})"

    @property
    def password(self) -> str | None:
        """The URL's secret (SMTP password; Twilio auth token, which also checks Twilio's signatures)."""
        return urlsplit(self.url).password

    @classmethod
    def parse(cls, url: str, kind: Channel, *, source: str = "channel URL") -> ChannelSettings:
        parts = urlsplit(url)
        if not parts.scheme or not (parts.netloc or parts.path.startswith("/")):
            raise ConfigurationError(f"{source}: {mask_url(url)!r} is not a URL (e.g. smtp://host:25)")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        rate = _number(query.get("rate", "0"), float, f"{source} rate=", minimum=0)
        burst = _number(query["burst"], int, f"{source} burst=", minimum=1) if "burst" in query else None
        concurrency = _number(query.get("concurrency", "8"), int, f"{source} concurrency=", minimum=1)
        account = f"{kind.value}:{parts.username or ''}@{parts.hostname}:{parts.port or ''}"
        smtp = SmtpSettings.parse(url, source=source) if parts.scheme in ("smtp", "smtps") else None
        return cls(
            kind, url, rate_per_s=rate, burst=burst, concurrency=concurrency, account=account, smtp=smtp
        )


_TRUE = {"1", "true", "yes", "on"}
DEFAULT_BOUNCE_DOMAIN = "localhost"


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """An email channel URL, parsed once (``smtp://[user:password@]host[:port]?…`` or ``smtps://…``):
    the channel sends with it, bounce intake matches VERP addresses and Message-IDs against the same
    ``bounce_domain``."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    starttls: bool = False
    tls_requested: bool = False  # smtps, or starttls named at all: certificates are verified
    sender: str = "notices@localhost"
    reply_to: str | None = None
    bounce_domain: str = DEFAULT_BOUNCE_DOMAIN
    pool: int = 4
    timeout: float = 30.0
    cafile: str | None = None

    @classmethod
    def parse(cls, url: str, *, source: str = "NOTIFIER_EMAIL_URL") -> SmtpSettings:
        parts = urlsplit(url)
        # A literal "+" in these URLs is a phone prefix, never an encoded space.
        query = {k: v[-1] for k, v in parse_qs(parts.query.replace("+", "%2B")).items()}
        if not parts.hostname:
            raise ConfigurationError(f"{source}: {mask_url(url)}: missing host")
        implicit = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if implicit else 25)
        except ValueError:
            raise ConfigurationError(f"{source}: {mask_url(url)} has a bad port") from None
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=query.get("starttls", "0").lower() in _TRUE,
            tls_requested=implicit or "starttls" in query,
            sender=query.get("from", "notices@localhost"),
            reply_to=query.get("reply_to"),
            bounce_domain=query.get("bounce_domain") or DEFAULT_BOUNCE_DOMAIN,
            pool=_number(query.get("pool", "4"), int, f"{source} pool=", minimum=1),
            timeout=_number(query.get("timeout", "30"), float, f"{source} timeout=", minimum=0.1),
            cafile=query.get("cafile"),
        )


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    """A mailbox read over IMAP (``notifier track mailbox``): the Reply-To inbox, or a bounce mailbox.

    ``imaps://user:password@host[:993]/Folder`` (TLS from the start) or ``imap://…?starttls=1`` (never
    in the clear otherwise, unless ``&insecure=1`` on loopback for tests); ``&cafile=PATH`` trusts a
    private CA. The folder defaults to INBOX. The mailbox is only read (never flagged or moved)."""

    url: str
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    tls: bool = True  # TLS from the start (imaps)
    starttls: bool = False
    cafile: str | None = None

    def __repr__(self) -> str:
        return f"MailboxSettings({mask_url(self.url)!r})"

    @property
    def key(self) -> str:
        """Names the mailbox in the store (its read checkpoint): user, host and folder."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"

    @classmethod
    def parse(cls, url: str, *, source: str = "NOTIFIER_MAILBOX_URL") -> MailboxSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise ConfigurationError(f"{source}: {mask_url(url)!r} is not imaps://user:password@host/Folder")
        if not parts.username or parts.password is None:
            raise ConfigurationError(f"{source}: {mask_url(url)!r} needs a user and a password")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        tls = parts.scheme == "imaps"
        starttls = query.get("starttls") == "1"
        if not tls and not starttls and query.get("insecure") != "1":
            raise ConfigurationError(
                f"{source}: imap:// sends the password in the clear: use imaps://, or add ?starttls=1"
            )
        try:
            port = parts.port or (993 if tls else 143)
        except ValueError:
            raise ConfigurationError(f"{source}: {mask_url(url)!r} has a bad port") from None
        return cls(
            url=url,
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password),
            folder=unquote(parts.path.strip("/")) or "INBOX",
            tls=tls,
            starttls=starttls,
            cafile=query.get("cafile"),
        )


@dataclass(frozen=True, slots=True)
class SelectionAccess:
    """How SQL a person wrote (selection queries, saved or typed) is run (store/selecting.py).

    timeout_s:      every statement is cut after this many seconds (``NOTIFIER_SELECTION_TIMEOUT``).
    lock_timeout_s: a statement waits at most this long for a lock (``NOTIFIER_SELECTION_LOCK_TIMEOUT``).
    database_url:   on a PostgreSQL store, the URL selections log in with, as the least-privileged role
                    ``notifier_selector`` (``NOTIFIER_SELECTION_DATABASE_URL``); None: the store's URL with
                    that user and no password (peer, certificate or trust authentication)."""

    timeout_s: float = 60.0
    lock_timeout_s: float = 5.0
    database_url: str | None = field(default=None, repr=False)


N = TypeVar("N", int, float)


def _number(raw: str, kind: Callable[[str], N], what: str, *, minimum: float) -> N:
    try:
        value = kind(raw.strip())
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ConfigurationError(f"{what} {raw!r} is not {noun}") from None
    if value < minimum:
        raise ConfigurationError(f"{what} {raw!r} must be at least {minimum:g}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the store, templates and catalogs are, and how to reach the providers.

    database_url:  SQLAlchemy URL of the store (``sqlite:///var/notifier.db`` by default,
                   ``postgresql+psycopg://user@host/db`` in production).
    email_url:     channel URL for email (``smtp://user:pass@host:587?starttls=1``); None = no email.
    sms_url:       channel URL for SMS (``twilio://SID:TOKEN@api?from=+1...``); None = no SMS.
    letter_url:    channel URL for letters (``printfile:///srv/letters?batch=500``); None = no letters.
    var_dir:       working files (SQLite store, demo outbox, summaries).
    batch_size:    outbox rows one sender claims ahead at a time.
    lease_seconds: how long a claim is ours; a row left ``sending`` past it becomes ``uncertain``.
    mailbox_url:   IMAP mailbox read for replies and bounces (``imaps://user:pass@host/INBOX``); None = none.
    source_url:    the company's own read-only database that selection queries may run on; never printed.
    secret_key:    signs the console's session cookies (``notifier serve``); never printed.
    email, sms, letter: the parsed channel settings (from the URLs; None when the URL is not set).
    mailbox:       the parsed mailbox settings (None when the URL is not set)."""

    database_url: str = f"sqlite:///{DEFAULT_VAR_DIR / 'notifier.db'}"
    email_url: str | None = None
    sms_url: str | None = None
    letter_url: str | None = None
    mailbox_url: str | None = None
    source_url: str | None = field(default=None, repr=False)  # the company database saved selections read
    templates_dir: Path = DEFAULT_TEMPLATES_DIR
    locales_dir: Path = PROJECT_ROOT / "locales"
    migrations_dir: Path = PROJECT_ROOT / "migrations"
    var_dir: Path = DEFAULT_VAR_DIR
    batch_size: int = 500
    lease_seconds: int = 300
    secret_key: str | None = field(default=None, repr=False)  # signs console session cookies
    token_days: int = 90  # how long a new API token is valid
    stop_seconds: float = 25.0  # SIGTERM: how long draining may take before the process exits anyway
    store_outage_seconds: float = 120.0  # how long a sender waits for a store that stopped answering
    # The proxies whose X-Forwarded-For / X-Forwarded-Proto `notifier serve` believes (addresses or
    # networks); empty: none, the client is whoever connected (a forged header is then just a header).
    trusted_proxies: tuple[str, ...] = ()
    selection_timeout: float = 60.0  # seconds any one statement of a selection query may run
    selection_lock_timeout: float = 5.0
    selection_database_url: str | None = field(default=None, repr=False)
    window_seconds: float = 30.0  # one sending window (a Prefect task's worth of sending)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    email: ChannelSettings | None = field(init=False, default=None, compare=False)
    sms: ChannelSettings | None = field(init=False, default=None, compare=False)
    letter: ChannelSettings | None = field(init=False, default=None, compare=False)
    mailbox: MailboxSettings | None = field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.lease_seconds < 1:
            raise ConfigurationError("batch size and lease seconds must be at least 1")
        urls = {Channel.EMAIL: self.email_url, Channel.SMS: self.sms_url, Channel.LETTER: self.letter_url}
        for kind, url in urls.items():
            parsed = (
                ChannelSettings.parse(url, kind, source=f"NOTIFIER_{kind.value.upper()}_URL") if url else None
            )
            object.__setattr__(self, kind.value, parsed)
        if self.mailbox_url:
            object.__setattr__(self, "mailbox", MailboxSettings.parse(self.mailbox_url))

    @property
    def outage_grace(self) -> float:
        """How long a sender waits out a store outage: ``store_outage_seconds``, but at most half a lease
        (a sender paused longer would find its own rows in flight taken for a dead sender's)."""
        return min(self.store_outage_seconds, self.lease_seconds / 2)

    @property
    def selection(self) -> SelectionAccess:
        """How selection queries run: their limits, and the role they run as."""
        return SelectionAccess(
            timeout_s=self.selection_timeout,
            lock_timeout_s=self.selection_lock_timeout,
            database_url=self.selection_database_url,
        )

    @property
    def bounce_domain(self) -> str | None:
        """The email channel's ``bounce_domain``: the domain of our VERP addresses and Message-IDs (None
        without an SMTP channel: bounces are then matched by their signed token alone)."""
        smtp = self.email.smtp if self.email is not None else None
        return smtp.bounce_domain if smtp is not None else None

    def configured(self, kind: Channel) -> ChannelSettings | None:
        """The settings of one channel, None when its URL is not set."""
        configured: ChannelSettings | None = getattr(self, kind.value)
        return configured

    def channel(self, kind: Channel) -> ChannelSettings:
        """The settings of one channel; a ConfigurationError naming the variable when it is not configured."""
        configured = self.configured(kind)
        if configured is None:
            raise ConfigurationError(f"no {kind} channel configured: set NOTIFIER_{kind.value.upper()}_URL")
        return configured

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``NOTIFIER_*`` variables (``ENVIRONMENT``); ``overrides`` (CLI flags) win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for variable, (name, parse, _help) in ENVIRONMENT.items():
            raw = env.get(variable, "").strip()
            if raw:
                values[name] = parse(variable, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "database_url" not in values:
            var_dir = values.get("var_dir", DEFAULT_VAR_DIR)
            values["database_url"] = f"sqlite:///{Path(var_dir) / 'notifier.db'}"
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The inverse of ``from_env``: the variables a worker process needs to build these settings."""
        out = {}
        for variable, (name, _parse, _help) in ENVIRONMENT.items():
            value = getattr(self, name)
            if isinstance(value, tuple):
                if value:
                    out[variable] = ",".join(value)
            elif value is not None:
                out[variable] = str(value)
        return out


def _text(_variable: str, raw: str) -> str:
    return raw


def _path(_variable: str, raw: str) -> Path:
    return Path(raw)


def _positive_int(variable: str, raw: str) -> int:
    return _number(raw, int, variable, minimum=1)


def _addresses(variable: str, raw: str) -> tuple[str, ...]:
    import ipaddress

    found = tuple(part.strip() for part in raw.split(",") if part.strip())
    for value in found:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"{variable}: {value!r} is not an IP address or network (e.g. 10.0.0.5,10.1.0.0/16)"
            ) from None
    return found


def _seconds(variable: str, raw: str) -> float:
    return _number(raw, float, variable, minimum=0.1)


# Every environment variable notifier reads: variable → (Settings field, parser, what it means).
ENVIRONMENT: dict[str, tuple[str, Callable[[str, str], Any], str]] = {
    "NOTIFIER_DATABASE_URL": ("database_url", _text, "SQLAlchemy URL of the store"),
    "NOTIFIER_EMAIL_URL": ("email_url", _text, "email channel URL (smtp://, smtps://, memory://email)"),
    "NOTIFIER_SMS_URL": ("sms_url", _text, "SMS channel URL (twilio://, twilio+http://, memory://sms)"),
    "NOTIFIER_LETTER_URL": ("letter_url", _text, "letter channel URL (printfile:///DIR, memory://letter)"),
    "NOTIFIER_MAILBOX_URL": ("mailbox_url", _text, "IMAP mailbox of replies and bounces (imaps://)"),
    "NOTIFIER_SOURCE_URL": ("source_url", _text, "the company's read-only database, for selection queries"),
    "NOTIFIER_VAR_DIR": ("var_dir", _path, "working files: the default SQLite store, demo output"),
    "NOTIFIER_TEMPLATES_DIR": ("templates_dir", _path, "notice templates and legal content data"),
    "NOTIFIER_LOCALES_DIR": ("locales_dir", _path, "gettext catalogs"),
    "NOTIFIER_BATCH_SIZE": ("batch_size", _positive_int, "outbox rows one sender claims ahead"),
    "NOTIFIER_LEASE_SECONDS": ("lease_seconds", _positive_int, "how long a sender's claim holds"),
    "NOTIFIER_SECRET_KEY": ("secret_key", _text, "signs the console's session cookies"),
    "NOTIFIER_TRUSTED_PROXIES": (
        "trusted_proxies",
        _addresses,
        "proxies whose X-Forwarded-For notifier serve believes (none by default)",
    ),
    "NOTIFIER_STOP_SECONDS": (
        "stop_seconds",
        _seconds,
        "seconds a SIGTERM-ed sender may take to finish and give back, then exits",
    ),
    "NOTIFIER_STORE_OUTAGE_SECONDS": (
        "store_outage_seconds",
        _seconds,
        "seconds a sender waits for a store that stopped answering, then stops",
    ),
    "NOTIFIER_TOKEN_DAYS": ("token_days", _positive_int, "days a new API token is valid"),
    "NOTIFIER_SELECTION_TIMEOUT": (
        "selection_timeout",
        _seconds,
        "seconds one statement of a selection may run",
    ),
    "NOTIFIER_SELECTION_LOCK_TIMEOUT": (
        "selection_lock_timeout",
        _seconds,
        "seconds a selection waits for a lock",
    ),
    "NOTIFIER_SELECTION_DATABASE_URL": (
        "selection_database_url",
        _text,
        "PostgreSQL store: the URL selections log in with (role notifier_selector)",
    ),
}
