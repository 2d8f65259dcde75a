"""The audit log: who did what to which campaign, incident or notice piece, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    insert,
)

from notifier.store.schema import audit_log


def audit(
    conn: Connection, *, actor: str, action: str, subject: str, detail: dict[str, Any], now: datetime
) -> None:
    """Append one entry to the audit log (who did what to which campaign/incident, when)."""
    conn.execute(insert(audit_log).values(at=now, actor=actor, action=action, subject=subject, detail=detail))
