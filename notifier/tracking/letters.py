"""What the print vendor says of our letters: printed, mailed, or returned by the post.

A vendor hands back a CSV file (``notifier track letters FILE``) with one line per letter and event:

    reference,status,date,reason
    c12m345l,mailed,2026-12-09,
    c12m346l,returned,2026-12-21,addressee unknown

``reference`` is the one printed on the letter (the outbox row's token, as ``printfile`` names its
files), ``status`` printed, mailed or returned, ``date`` the day (or moment, ISO 8601) it happened,
``reason`` why a returned letter came back. The file is checked as a whole first: one bad line (an
unknown status, a reference that is no letter of ours, a return without a reason) and nothing is
applied, with every bad line reported. Each line is then an event of its letter; a returned letter
makes its row ``undelivered`` (the person was not reached: ``--not-reached-in`` selects them for a
follow-up). Importing a file again changes nothing: each (reference, status) is taken note of once."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from notifier.clock import utcnow
from notifier.errors import InputError
from notifier.models import Channel, EventKind, OutboxState
from notifier.store import Store
from notifier.store import queries as q

__all__ = ["VENDOR_STATUSES", "LetterFile", "VendorLine", "apply_vendor_file", "read_vendor_file"]

PROVIDER = "print"
# The vendor's word → the event it is, and the state it moves the letter to (None: stays handed over).
VENDOR_STATUSES: dict[str, tuple[EventKind, OutboxState | None]] = {
    "printed": (EventKind.SENT, None),
    "mailed": (EventKind.SENT, None),
    "returned": (EventKind.UNDELIVERED, OutboxState.UNDELIVERED),
}
REQUIRED_COLUMNS = ("reference", "status", "date")
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class VendorLine:
    line: int
    reference: str
    status: str
    at: datetime
    reason: str


@dataclass
class LetterFile:
    """What one vendor file did."""

    lines: int = 0
    applied: dict[str, int] = field(default_factory=dict)  # status → lines applied now
    already: int = 0  # lines applied by an earlier import of the same news

    def summary(self) -> str:
        done = ", ".join(f"{n} {status}" for status, n in sorted(self.applied.items())) or "nothing new"
        return f"{self.lines} lines: {done}; {self.already} already recorded"


def read_vendor_file(path: Path) -> list[VendorLine]:
    """Every line of the file, checked; an InputError lists every bad line and nothing is read."""
    problems: list[str] = []
    lines = list(_lines(path, problems))
    if problems:
        _refuse(path, problems)
    return lines


def _lines(path: Path, problems: list[str]) -> Iterator[VendorLine]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the vendor file: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise InputError(
                f"{path}: line 1: no column {', '.join(missing)}; the header is reference,status,date,reason"
            )
        reader.fieldnames = header
        try:
            for number, row in enumerate(reader, start=2):
                found = _line(number, row, problems)
                if found is not None:
                    yield found
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(
                f"{path}: line {reader.line_num}: not a CSV file of UTF-8 text ({exc})"
            ) from None


def _line(number: int, row: dict[str, str | None], problems: list[str]) -> VendorLine | None:
    values = {k: (v or "").strip() for k, v in row.items() if k}
    if not any(values.values()):
        return None  # a blank line
    said = []
    reference, status, when, reason = (values.get(k, "") for k in ("reference", "status", "date", "reason"))
    if not reference:
        said.append("no reference")
    if status not in VENDOR_STATUSES:
        said.append(f"status {status[:20]!r}: expected {', '.join(VENDOR_STATUSES)}")
    at = _moment(when)
    if at is None:
        said.append(f"date {when[:30]!r}: expected a day such as 2026-12-09 (or an ISO 8601 moment)")
    if status == "returned" and not reason:
        said.append("a returned letter needs its reason (as the post gave it)")
    if said:
        problems.append(f"line {number}: {'; '.join(said)}")
        return None
    assert at is not None
    return VendorLine(number, reference, status, at, reason[:200])


def _moment(text: str) -> datetime | None:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refuse(path: Path, problems: list[str]) -> None:
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    more = f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)" if len(problems) > MAX_PROBLEMS_SHOWN else ""
    raise InputError(f"{path}: {len(problems)} bad line(s), nothing applied: {shown}{more}")


def apply_vendor_file(store: Store, path: Path, *, actor: str) -> LetterFile:
    """Apply a vendor file (checked first: see the module docstring), in one transaction, audited."""
    problems: list[str] = []
    lines = list(_lines(path, problems))
    result = LetterFile(lines=len(lines))
    now = utcnow()
    with store.begin() as conn:
        known = q.letter_tokens(conn, sorted({x.reference for x in lines}))
        problems += [
            f"line {x.line}: {x.reference[:40]!r} is no letter of ours"
            for x in lines
            if x.reference not in known
        ]
        if problems:
            _refuse(path, sorted(problems, key=_line_number))
        for item in lines:
            news = f"{item.reference}:{item.status}"
            if q.inbound_seen(conn, provider=PROVIDER, message_id=news, now=now) is None:
                result.already += 1
                continue
            kind, state = VENDOR_STATUSES[item.status]
            said = {"status": item.status, "date": item.at.isoformat(), "reason": item.reason}
            q.event_for_token(
                conn,
                token=item.reference,
                kind=kind,
                channel=Channel.LETTER,
                provider=PROVIDER,
                payload=json.dumps({**said, "file": path.name}, ensure_ascii=False),
                now=now,
                reason=f"{item.status}: {item.reason}" if item.reason else item.status,
                provider_message_id=item.reference,
            )
            if state is not None:
                detail = f"{item.status}: {item.reason}"
                q.advance_by_token(conn, token=item.reference, to_state=state, detail=detail, now=now)
            result.applied[item.status] = result.applied.get(item.status, 0) + 1
        q.audit(
            conn,
            actor=actor,
            action="letters.track",
            subject=f"file:{path.name}",
            detail={"lines": result.lines, "applied": result.applied, "already": result.already},
            now=now,
        )
    return result


def _line_number(problem: str) -> int:
    return int(problem.split(":", 1)[0].removeprefix("line "))
