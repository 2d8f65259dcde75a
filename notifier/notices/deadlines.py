"""Deadlines per jurisdiction: which notification obligations an incident has, and when each is due.

``obligations`` is a pure function of the rules (``templates/deadlines.toml``, notifier.notices.
deadline_rules), the incident's recorded times (``DeadlineFacts``), how many affected customers live in
each manifest jurisdiction, when each jurisdiction's individuals were all notified, and now. For every rule
it answers with an ``Obligation``: whether it applies and why not, when its clock started, when it is due
(aware UTC; None for "without undue delay"), how long is left (negative: overdue), and whether it is done.

* A rule applies when it is in force for the discovery date, the incident leaked one of its
  ``when_categories`` and declares one of its ``when_regimes`` (if it has any), some affected customers are
  its residents, and their count crosses its threshold.
* A clock starts at its event; while that is not recorded the obligation is ``not started`` (or, with a
  ``clock_fallback``, counted from the earlier event meanwhile). ``residents_notified`` is the time the last
  reachable affected resident of the rule's jurisdictions was handed over, known once none is still queued.
* A law-enforcement hold pauses the clocks of the rules that allow it: the part of the hold after the
  clock started is added to the due time (a hold that ended before the clock started, or began after the
  due time, changes nothing); while a hold has no end the obligation is ``on hold`` with no due time.
* It is done when a filing naming it is recorded in the incident (``filings``), or, for ``done_when``
  residents_notified, when its individuals were all notified; or for ``determined``, when the assessment
  was recorded. ``done late`` when that came after the due time.
* ``earliest_per_recipient``: the obligations still open, the one due first for each recipient (a fixed
  due time before "without undue delay"); this is what wins when two rules ask the same of one recipient."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from notifier.config import Settings
from notifier.errors import InputError
from notifier.notices.deadline_rules import DeadlineRules, Rule, load_deadline_rules
from notifier.notices.incidents import Filing, Incident, LawEnforcementHold, parse_incident
from notifier.notices.render import NOTICES, UPDATE_NOTICES
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.queries import obligations as oq

__all__ = [
    "DeadlineFacts",
    "DeadlineReport",
    "Obligation",
    "Status",
    "deadline_report",
    "earliest_per_recipient",
    "format_span",
    "incident_deadlines",
    "load_deadline_rules",
    "obligations",
]

# What each clock event is called in the incident facts, for "not recorded" messages.
_FACT_OF = {"occurred": "occurred.start", "discovered": "discovered_at", "determined": "determined_at"}


class Status(enum.StrEnum):
    DONE = "done"
    DONE_LATE = "done late"
    OVERDUE = "overdue"
    DUE = "due"
    ON_HOLD = "on hold"
    NOT_STARTED = "not started"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True, slots=True)
class DeadlineFacts:
    """The incident facts the deadlines read (``of`` takes them from a checked Incident)."""

    discovered: datetime
    occurred: datetime | None = None  # the earliest it may have happened (occurred.start)
    determined: datetime | None = None
    hold: LawEnforcementHold | None = None
    categories: frozenset[str] = frozenset()
    regimes: frozenset[str] = frozenset()
    filings: tuple[Filing, ...] = ()

    @classmethod
    def of(cls, incident: Incident) -> DeadlineFacts:
        return cls(
            discovered=incident.discovered_at,
            occurred=incident.occurred.start,
            determined=incident.determined_at,
            hold=incident.law_enforcement_hold,
            categories=frozenset(incident.data_categories),
            regimes=frozenset(incident.regimes),
            filings=incident.filings,
        )


@dataclass(frozen=True, slots=True)
class Obligation:
    """One rule, computed for one incident at one moment (``now``)."""

    rule_id: str
    regime: str
    recipient: str
    status: Status
    applies: bool
    reason: str  # why it does not apply or has not started, or how it is counted ("" when plain)
    clock: str  # the event its clock started at (the fallback's, when counted from it)
    clock_start: datetime | None
    duration: str  # "72 hours", "30 calendar days", "without undue delay"
    due: datetime | None  # aware UTC; None: no fixed time, not started, on hold, or not applicable
    time_zone: str  # the rule's: where its days are counted
    remaining: timedelta | None  # due - now (negative: overdue); once done, due - done_at
    threshold: str  # "more than 500 residents (501)"; "" without a threshold
    residents: int  # affected customers in the rule's jurisdictions
    jurisdictions: tuple[str, ...]  # those of them with affected customers
    held_for: timedelta  # how much a law-enforcement hold added
    done_at: datetime | None
    reference: str | None  # the recorded filing's
    individuals: bool  # the recipient is the affected people: what campaigns fulfil
    verify: bool
    note: str

    @property
    def due_local(self) -> datetime | None:
        """The due time on the clock of the rule's time zone."""
        from zoneinfo import ZoneInfo

        return self.due.astimezone(ZoneInfo(self.time_zone)) if self.due else None

    @property
    def open(self) -> bool:
        """Applies and still to be done (due, overdue, on hold or not started)."""
        return self.applies and self.status not in (Status.DONE, Status.DONE_LATE)

    @property
    def countdown(self) -> str:
        """What a person reads beside progress: "2d 4h left", "overdue by 3h 10m", "done", ..."""
        if self.status is Status.DUE and self.remaining is not None:
            return f"{format_span(self.remaining)} left"
        if self.status is Status.OVERDUE and self.remaining is not None:
            return f"overdue by {format_span(-self.remaining)}"
        if self.status is Status.DUE:
            return self.duration
        if self.status is Status.DONE_LATE and self.remaining is not None:
            return f"done {format_span(-self.remaining)} late"
        return str(self.status)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times in ISO-8601 UTC, spans in seconds."""

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "rule": self.rule_id,
            "regime": self.regime,
            "recipient": self.recipient,
            "status": self.status.value,
            "applies": self.applies,
            "reason": self.reason,
            "clock": self.clock,
            "clock_start": iso(self.clock_start),
            "duration": self.duration,
            "due": iso(self.due),
            "due_local": iso(self.due_local),
            "time_zone": self.time_zone,
            "remaining_seconds": self.remaining.total_seconds() if self.remaining is not None else None,
            "threshold": self.threshold,
            "residents": self.residents,
            "jurisdictions": list(self.jurisdictions),
            "held_for_seconds": self.held_for.total_seconds(),
            "done_at": iso(self.done_at),
            "reference": self.reference,
            "individuals": self.individuals,
            "verify": self.verify,
            "note": self.note,
        }


def format_span(span: timedelta) -> str:
    """A span in days, hours and minutes, to the minute: "2d 4h", "3h 10m", "0m"."""
    days, rest = divmod(int(span.total_seconds() // 60), 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts[:2]) or "0m"


def obligations(
    rules: DeadlineRules,
    facts: DeadlineFacts,
    residents: Mapping[str, int],
    notified: Mapping[str, datetime | None],
    now: datetime,
) -> list[Obligation]:
    """Every rule's obligation for an incident at ``now``: applicable ones first, by due time.

    ``residents``: affected customers per manifest jurisdiction; ``notified``: per jurisdiction, when its
    individuals were all notified (None or absent: not yet)."""
    counts = {j.upper(): n for j, n in residents.items() if n}
    reached = {j.upper(): at for j, at in notified.items()}
    found = [_obligation(rule, facts, counts, reached, now) for rule in rules.rules.values()]
    order = {rule_id: n for n, rule_id in enumerate(rules.rules)}
    return sorted(found, key=lambda o: (not o.applies, o.due is None, o.due or now, order[o.rule_id]))


def earliest_per_recipient(found: Iterable[Obligation]) -> list[Obligation]:
    """Per recipient, the open obligation due first (one with a due time before one without), by due."""
    first: dict[str, Obligation] = {}
    for o in found:
        if o.status not in (Status.DUE, Status.OVERDUE):
            continue
        best = first.get(o.recipient)
        if best is None or _due_key(o) < _due_key(best):
            first[o.recipient] = o
    return sorted(first.values(), key=_due_key)


def _due_key(o: Obligation) -> tuple[bool, datetime]:
    return (o.due is None, o.due or datetime.max.replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class _Counted:
    """What one rule counted: its residents by jurisdiction, and their total."""

    by_jurisdiction: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_jurisdiction.values())

    @property
    def jurisdictions(self) -> tuple[str, ...]:
        return tuple(sorted(self.by_jurisdiction))


def _obligation(
    rule: Rule,
    facts: DeadlineFacts,
    counts: Mapping[str, int],
    notified: Mapping[str, datetime | None],
    now: datetime,
) -> Obligation:
    counted = _Counted({j: n for j, n in counts.items() if rule.covers(j)})
    why_not = _why_not(rule, facts, counted)
    clock, start, how = _clock(rule, facts, counted, notified)
    due = _due(rule, start, facts.hold)
    done_at, reference = _done(rule, facts, counted, notified)
    status = _status(why_not, start, due, done_at, now)
    remaining = None
    if due.at is not None and status is not Status.NOT_APPLICABLE:
        remaining = due.at - (done_at or now) if status in (Status.DONE, Status.DONE_LATE) else due.at - now
    return Obligation(
        rule_id=rule.id,
        regime=rule.regime,
        recipient=rule.recipient,
        status=status,
        applies=why_not is None,
        reason=why_not or "; ".join(r for r in (how, due.note) if r),
        clock=clock,
        clock_start=start,
        duration=str(rule.duration),
        due=due.at if why_not is None else None,
        time_zone=rule.time_zone,
        remaining=remaining,
        threshold=rule.threshold.describe(counted.by_jurisdiction) if rule.threshold else "",
        residents=counted.total,
        jurisdictions=counted.jurisdictions,
        held_for=due.held,
        done_at=done_at,
        reference=reference,
        individuals=rule.done_when == "residents_notified",
        verify=rule.verify,
        note=rule.note,
    )


def _why_not(rule: Rule, facts: DeadlineFacts, counted: _Counted) -> str | None:
    """Why the rule does not apply to this incident, or None when it does."""
    discovered = facts.discovered.astimezone(rule.zone).date()
    if (rule.in_force_from and discovered < rule.in_force_from) or (
        rule.in_force_until and discovered > rule.in_force_until
    ):
        return f"not in force for a breach discovered on {discovered}"
    if rule.when_categories and not rule.when_categories & facts.categories:
        return f"only when data_categories include {' or '.join(sorted(rule.when_categories))}"
    if rule.when_regimes and not rule.when_regimes & facts.regimes:
        return f"only when the incident declares regimes {' or '.join(sorted(rule.when_regimes))}"
    if not counted.total:
        return f"no affected residents of {rule.where()}"
    if rule.threshold and not rule.threshold.met(counted.by_jurisdiction):
        return f"below the threshold: {rule.threshold.describe(counted.by_jurisdiction)}"
    return None


def _event(
    event: str, rule: Rule, facts: DeadlineFacts, counted: _Counted, notified: Mapping[str, datetime | None]
) -> tuple[datetime | None, str]:
    """When ``event`` happened for this rule, or None and what is missing."""
    if event == "residents_notified":
        times = [notified.get(j) for j in counted.jurisdictions]
        if not times or None in times:
            where = ", ".join(counted.jurisdictions) or rule.where()
            return None, f"not every affected resident of {where} is notified yet"
        return max(t for t in times if t is not None), ""
    if event == "year_end":
        year = facts.discovered.astimezone(rule.zone).year
        return datetime(year + 1, 1, 1, tzinfo=rule.zone).astimezone(UTC), ""
    moment = {"occurred": facts.occurred, "discovered": facts.discovered, "determined": facts.determined}[
        event
    ]
    return moment, "" if moment else f"{_FACT_OF[event]} is not recorded"


def _clock(
    rule: Rule, facts: DeadlineFacts, counted: _Counted, notified: Mapping[str, datetime | None]
) -> tuple[str, datetime | None, str]:
    """(event, start, how it is counted or why it has not started)."""
    start, missing = _event(rule.clock, rule, facts, counted, notified)
    if start is not None or rule.clock_fallback is None:
        return rule.clock, start, f"clock starts at {rule.clock}: {missing}" if missing else ""
    fallback, _missing = _event(rule.clock_fallback, rule, facts, counted, notified)
    how = f"counted from {rule.clock_fallback} until {_FACT_OF.get(rule.clock, rule.clock)} is recorded"
    return rule.clock_fallback, fallback, how


@dataclass(frozen=True, slots=True)
class _Due:
    at: datetime | None  # with any hold added; None on hold (the hold has no end yet)
    held: timedelta = timedelta(0)  # how much the hold added
    note: str = ""  # what the hold did, in words
    on_hold: bool = False


def _due(rule: Rule, start: datetime | None, hold: LawEnforcementHold | None) -> _Due:
    """The due time, paused by a law-enforcement hold for as long as it overlaps the running clock."""
    due = rule.duration.after(start, rule.zone, rule.holidays) if start else None
    if due is None or start is None or hold is None or not rule.law_enforcement_hold:
        return _Due(due)
    if hold.start >= due or (hold.end is not None and hold.end <= start):
        return _Due(due)  # the hold began after the clock ran out, or ended before it started
    if hold.end is None:
        return _Due(
            None, note=f"paused by a law-enforcement hold since {hold.start:%Y-%m-%d %H:%M} UTC", on_hold=True
        )
    held = hold.end - max(hold.start, start)
    return _Due(due + held, held, f"extended by a law-enforcement hold of {format_span(held)}")


def _done(
    rule: Rule, facts: DeadlineFacts, counted: _Counted, notified: Mapping[str, datetime | None]
) -> tuple[datetime | None, str | None]:
    """(when it was done, the filing's reference): a filing naming the rule, else its ``done_when``."""
    filed = sorted((f for f in facts.filings if f.obligation == rule.id), key=lambda f: f.at)
    if filed:
        return filed[0].at, filed[0].reference
    if rule.done_when == "determined":
        return facts.determined, None
    if rule.done_when == "residents_notified" and counted.total:
        return _event("residents_notified", rule, facts, counted, notified)[0], None
    return None, None


def _status(
    why_not: str | None, start: datetime | None, due: _Due, done_at: datetime | None, now: datetime
) -> Status:
    if why_not is not None:
        return Status.NOT_APPLICABLE
    if done_at is not None:
        return Status.DONE_LATE if due.at is not None and done_at > due.at else Status.DONE
    if start is None:
        return Status.NOT_STARTED
    if due.on_hold:
        return Status.ON_HOLD
    if due.at is not None and due.at < now:
        return Status.OVERDUE
    return Status.DUE


@dataclass(frozen=True, slots=True)
class DeadlineReport:
    """An incident's obligations at one moment, with the counts they were computed from."""

    key: str
    now: datetime
    obligations: list[Obligation]
    residents: Mapping[str, int]  # affected customers per manifest jurisdiction
    notified: Mapping[str, datetime | None]  # per jurisdiction: when all were notified (None: not yet)
    no_jurisdiction: int = 0  # affected customers without a jurisdiction: no rule can count them
    verify: list[str] = field(default_factory=list)  # ids of applicable rules marked verify


def deadline_report(store: Store, settings: Settings, key: str, now: datetime) -> DeadlineReport:
    """Read the incident ``key`` and its campaigns' customers from the store and compute its obligations
    (an InputError for an unknown incident)."""
    with store.connect() as conn:
        row = q.incident_by_key(conn, key)
        if row is None:
            raise InputError(f"no incident {key!r}; `notifier incident list` shows the recorded ones")
        affected = oq.affected_by_jurisdiction(conn, row.id)
        first_notices = [n for n in NOTICES if n not in UPDATE_NOTICES]  # an update notifies nobody anew
        reached = oq.notified_by_jurisdiction(conn, row.id, first_notices)
    incident = parse_incident(row.facts, settings.templates_dir)
    residents = {j: n for j, n in affected.items() if j}
    notified = {r.jurisdiction: r.notified_at for r in reached if r.jurisdiction}
    found = obligations(
        load_deadline_rules(settings.templates_dir), DeadlineFacts.of(incident), residents, notified, now
    )
    return DeadlineReport(
        key=key,
        now=now,
        obligations=found,
        residents=residents,
        notified=notified,
        no_jurisdiction=affected.get(None, 0),
        verify=[o.rule_id for o in found if o.applies and o.verify],
    )


def incident_deadlines(store: Store, settings: Settings, key: str, now: datetime) -> list[Obligation]:
    """The obligations of incident ``key`` at ``now`` (``deadline_report`` without the counts)."""
    return deadline_report(store, settings, key, now).obligations
