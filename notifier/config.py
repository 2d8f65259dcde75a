"""Settings: one frozen value object built at the edge (CLI, flow) and passed down.

Nothing below the edge reads the environment. ``Settings.from_env()`` is the only place that does,
and it documents every variable it reads."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["PROJECT_ROOT", "RetryPolicy", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient delivery failures are retried."""

    max_attempts: int = 5
    base_seconds: float = 5.0
    max_seconds: float = 600.0

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Exponential backoff with jitter (half to all of the step); a provider's Retry-After hint is a
        floor, and ``max_seconds`` caps both."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        return min(self.max_seconds, max(hint or 0.0, random.uniform(ceiling / 2, ceiling)))


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the store, templates and catalogs are, and how to reach the providers.

    database_url:  SQLAlchemy URL of the store (``sqlite:///var/notifier.db`` by default,
                   ``postgresql+psycopg://user@host/db`` in production).
    email_url:     channel URL for email (``smtp://user:pass@host:587?starttls=1``); None = no email.
    sms_url:       channel URL for SMS (``twilio://SID:TOKEN@api?from=+1...``); None = no SMS.
    var_dir:       working files (SQLite store, demo outbox, summaries).
    batch_size:    outbox rows per claim: at most this many are ever claimed and unanswered per sender.
    lease_seconds: how long a claim is ours; after that a ``sending`` row is ``uncertain``.
    """

    database_url: str = "sqlite:///var/notifier.db"
    email_url: str | None = None
    sms_url: str | None = None
    templates_dir: Path = PROJECT_ROOT / "templates"
    locales_dir: Path = PROJECT_ROOT / "locales"
    migrations_dir: Path = PROJECT_ROOT / "migrations"
    var_dir: Path = PROJECT_ROOT / "var"
    batch_size: int = 500
    lease_seconds: int = 300
    email_concurrency: int = 8
    sms_concurrency: int = 8
    email_rate_per_s: float = 0.0  # 0 = unthrottled (the local stand-ins)
    sms_rate_per_s: float = 0.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read NOTIFIER_DATABASE_URL, NOTIFIER_EMAIL_URL, NOTIFIER_SMS_URL, NOTIFIER_VAR_DIR,
        NOTIFIER_TEMPLATES_DIR, NOTIFIER_LOCALES_DIR, NOTIFIER_BATCH_SIZE and NOTIFIER_LEASE_SECONDS."""
        env = os.environ
        var_dir = Path(env.get("NOTIFIER_VAR_DIR", str(PROJECT_ROOT / "var")))
        settings = cls(
            database_url=env.get("NOTIFIER_DATABASE_URL") or f"sqlite:///{var_dir / 'notifier.db'}",
            email_url=env.get("NOTIFIER_EMAIL_URL") or None,
            sms_url=env.get("NOTIFIER_SMS_URL") or None,
            var_dir=var_dir,
            templates_dir=Path(env.get("NOTIFIER_TEMPLATES_DIR", str(PROJECT_ROOT / "templates"))),
            locales_dir=Path(env.get("NOTIFIER_LOCALES_DIR", str(PROJECT_ROOT / "locales"))),
            batch_size=int(env.get("NOTIFIER_BATCH_SIZE", "500")),
            lease_seconds=int(env.get("NOTIFIER_LEASE_SECONDS", "300")),
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]
