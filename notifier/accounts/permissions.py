"""Every action a person can take in notifier, and the roles allowed to take it: declared once, here,
and checked by ``authorize`` wherever the action is offered (the console's pages and handlers, the CLI's
commands). Least privilege: an admin manages people and reads the audit log but approves nothing and
sends nothing unless also given that role."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from notifier.errors import AccessDeniedError
from notifier.models import Role

__all__ = ["ALLOWED", "Action", "Identity", "authorize", "permissions_markdown"]

A, C, L, S, V = Role.ADMIN, Role.COMMS, Role.LEGAL, Role.SUPPORT, Role.VIEWER


class Action(enum.StrEnum):
    CUSTOMERS_IMPORT = "customers.import"
    INCIDENT_EDIT = "incident.edit"  # create and revise the facts
    INCIDENT_VIEW = "incident.view"  # facts, history, deadlines
    NOTICE_REVIEW = "notice.review"  # approval matrix, proofs, diffs
    NOTICE_DECIDE = "notice.decide"  # approve or reject a piece
    NOTICE_SUBMIT = "notice.submit"  # say who edited a piece's content
    CAMPAIGN_PLAN = "campaign.plan"
    SELECTION_SAVE = "selection.save"  # keep a selection query under a name (CLI only: no SQL in the console)
    CAMPAIGN_CONTROL = "campaign.control"  # launch, pause, resume, cancel, reconcile, release
    CAMPAIGN_TEST_SEND = "campaign.test_send"
    CAMPAIGN_VIEW = "campaign.view"  # status, progress, report (masked)
    CUSTOMER_LOOK_UP = "customer.look_up"
    CONTACTS_REVEAL = "contacts.reveal"  # unmasked emails and phones, with a reason
    SUPPORT_QUEUE = "support.queue"  # read and work the reply queue
    TRACKING_APPLY = "tracking.apply"  # apply saved bounce and mailbox files (a forged bounce suppresses)
    EVIDENCE_WRITE = "evidence.write"
    EVIDENCE_RESOLVE = "evidence.resolve"  # from a pseudonym back to a customer
    AUDIT_VIEW = "audit.view"  # the audit log and the chains' verification
    AUDIT_SEAL = "audit.seal"
    USERS_MANAGE = "users.manage"


ALLOWED: dict[Action, frozenset[Role]] = {
    Action.CUSTOMERS_IMPORT: frozenset({C}),
    Action.INCIDENT_EDIT: frozenset({C}),
    Action.INCIDENT_VIEW: frozenset({A, C, L, S, V}),
    Action.NOTICE_REVIEW: frozenset({C, L, V}),
    Action.NOTICE_DECIDE: frozenset({L}),
    Action.NOTICE_SUBMIT: frozenset({C}),
    Action.CAMPAIGN_PLAN: frozenset({C}),
    Action.SELECTION_SAVE: frozenset({C}),
    Action.CAMPAIGN_CONTROL: frozenset({C}),
    Action.CAMPAIGN_TEST_SEND: frozenset({C, L}),
    Action.CAMPAIGN_VIEW: frozenset({A, C, L, S, V}),
    Action.CUSTOMER_LOOK_UP: frozenset({S}),
    Action.CONTACTS_REVEAL: frozenset({S}),
    Action.SUPPORT_QUEUE: frozenset({S}),
    Action.TRACKING_APPLY: frozenset({C, S}),
    Action.EVIDENCE_WRITE: frozenset({A, L}),
    Action.EVIDENCE_RESOLVE: frozenset({L}),
    Action.AUDIT_VIEW: frozenset({A}),
    Action.AUDIT_SEAL: frozenset({A}),
    Action.USERS_MANAGE: frozenset({A}),
}
assert set(ALLOWED) == set(Action), "every action has its roles"


@dataclass(frozen=True, slots=True)
class Identity:
    """A signed-in person (by password and session, or by API token)."""

    user_id: int
    username: str
    display_name: str
    roles: frozenset[Role]

    def may(self, action: Action) -> bool:
        return bool(self.roles & ALLOWED[action])

    def __str__(self) -> str:
        return self.username


def authorize(identity: Identity, action: Action) -> Identity:
    """``identity`` if its roles allow ``action``; else AccessDeniedError naming the roles that would."""
    if not identity.may(action):
        roles = ", ".join(sorted(ALLOWED[action]))
        held = ", ".join(sorted(identity.roles)) or "none"
        raise AccessDeniedError(
            f"{identity.username} may not {action.value}: it needs the role {roles} (has {held})"
        )
    return identity


def permissions_markdown() -> str:
    """The role × action table of docs/access.md, from ``ALLOWED`` (a test keeps the two the same)."""
    roles = list(Role)
    lines = ["| action | " + " | ".join(r.value for r in roles) + " |", "|---|" + ":---:|" * len(roles)]
    for action in Action:
        marks = ["✔" if role in ALLOWED[action] else "" for role in roles]
        lines.append(f"| `{action.value}` | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"
