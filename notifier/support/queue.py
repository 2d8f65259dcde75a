"""The support queue: customers' replies by SMS and email, each with the customer and the notice it
answers, worked from open to answered to closed with an assignee and an internal note. Every change is
audited under whoever made it."""

from __future__ import annotations

from notifier.clock import utcnow
from notifier.errors import InputError
from notifier.models import ReplyStatus
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.rows import ReplyRow

__all__ = ["list_replies", "reply", "update_reply"]


def list_replies(
    store: Store,
    *,
    status: ReplyStatus | None = ReplyStatus.OPEN,
    campaign: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[ReplyRow]:
    """Newest first; ``status`` None for every status."""
    with store.connect() as conn:
        return q.replies_page(conn, status=status, campaign=campaign, limit=limit, before_id=before_id)


def reply(store: Store, reply_id: int) -> ReplyRow:
    with store.connect() as conn:
        found = q.reply_by_id(conn, reply_id)
    if found is None:
        raise InputError(
            f"no reply {reply_id} in the support queue (see `notifier support list --status all`)"
        )
    return found


def update_reply(
    store: Store,
    reply_id: int,
    *,
    actor: str,
    status: ReplyStatus | None = None,
    assignee: str | None = None,
    note: str | None = None,
) -> ReplyRow:
    """Move a reply on (answered, closed, open again), assign it, or set its internal note; audited."""
    if status is None and assignee is None and note is None:
        raise InputError("nothing to change: give a status, an assignee or a note")
    now = utcnow()
    with store.begin() as conn:
        if assignee is not None:
            person = q.user_by_name(conn, assignee.strip().lower()[:64])
            if person is None or person.disabled:
                raise InputError(f"assign to a user of notifier: there is no active user {assignee[:64]!r}")
            assignee = person.username
        if not q.update_reply(
            conn, reply_id, actor=actor, now=now, status=status, assignee=assignee, note=note
        ):
            raise InputError(
                f"no reply {reply_id} in the support queue (see `notifier support list --status all`)"
            )
        changes = {
            k: v
            for k, v in {"status": status and status.value, "assignee": assignee, "note": note}.items()
            if v is not None
        }
        q.audit(
            conn, actor=actor, action="support.update", subject=f"reply:{reply_id}", detail=changes, now=now
        )
    return reply(store, reply_id)
