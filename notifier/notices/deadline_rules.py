"""The deadline rules, as data: ``templates/deadlines.toml`` loaded and checked once into typed rules, and
the calendar arithmetic they count with.

How time is counted (docs/incidents.md "Deadlines"), the earliest defensible reading each time, because a
tracker that says "due Wednesday 19:00" when the law allows until Wednesday midnight costs some hours,
and one that says midnight when the law meant 19:00 costs a late filing:

* **hours** are elapsed time: 72 hours after 2026-11-05 09:30 UTC is 2026-11-08 09:30 UTC, whatever the
  clocks of any country did meanwhile.
* **calendar days** are counted on the calendar of the rule's time zone: N days later at the same local
  wall time (never the end of that day). A daylight-saving change in between therefore moves the UTC due
  time by an hour against N × 24 hours: that is what a statute counted in local days means. A wall time
  that does not exist that day (spring forward) or exists twice (fall back) is the earliest instant it
  can mean.
* **business days** skip Saturdays, Sundays and the rule's ``holidays`` in its time zone; the day the
  clock starts never counts (business day or not), and the due time is the same local wall time on the
  Nth business day after it: a clock starting Friday 19:00 runs 3 business days to Wednesday 19:00. The
  usual procedural reading (Brazil's, say) gives until the end of Wednesday, and for a clock starting on
  a weekend until the end of Thursday; ours is never later than that. Public holidays are not filled in.

A rule whose data is wrong is refused with every problem at once, each naming the rule and the key."""

from __future__ import annotations

import operator
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.errors import ConfigurationError, InputError

__all__ = [
    "CLOCK_EVENTS",
    "DEADLINES_FILE",
    "DONE_WHEN",
    "DeadlineRules",
    "Duration",
    "Rule",
    "Threshold",
    "load_deadline_rules",
    "parse_rules",
    "rules_markdown",
]

DEADLINES_FILE = "deadlines.toml"
CLOCK_EVENTS = ("occurred", "discovered", "determined", "residents_notified", "year_end")
DONE_WHEN = ("filed", "residents_notified", "determined")
UNITS = ("hours", "calendar days", "business days")
WITHOUT_UNDUE_DELAY = "without undue delay"
KEYS = frozenset(
    {
        "regime", "recipient", "countries", "jurisdictions", "except_jurisdictions", "when_categories",
        "when_regimes", "clock", "clock_fallback", "duration", "time_zone", "holidays", "threshold",
        "threshold_scope", "law_enforcement_hold", "done_when", "in_force_from", "in_force_until", "verify",
        "note",
    }
)  # fmt: skip
# What names look like, with an example for the message when one does not.
_NAME = (re.compile(r"[a-z][a-z0-9_]*"), "ftc_safeguards")
_COUNTRY = (re.compile(r"[A-Z]{2}"), "DE")
_JURISDICTION = (re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?"), "US-CA")
_DURATION = re.compile(r"(\d+) ([a-z ]+)")
_THRESHOLD = re.compile(r"(>=|>|<=|<) ?(\d+)")
_OPS: dict[str, tuple[Callable[[int, int], bool], str]] = {
    ">": (operator.gt, "more than"),
    ">=": (operator.ge, "at least"),
    "<": (operator.lt, "fewer than"),
    "<=": (operator.le, "at most"),
}


@dataclass(frozen=True, slots=True)
class Duration:
    """How long a clock runs: ``amount`` ``unit`` (hours, calendar days, business days), or no fixed time
    (``unit`` None: "without undue delay")."""

    amount: int = 0
    unit: str | None = None

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}" if self.unit else WITHOUT_UNDUE_DELAY

    def after(self, start: datetime, zone: ZoneInfo, holidays: Collection[date] = ()) -> datetime | None:
        """When a clock started at ``start`` runs out (aware UTC), counted as the module docstring says;
        None without a fixed time."""
        if self.unit is None:
            return None
        if self.unit == "hours":
            return (start + timedelta(hours=self.amount)).astimezone(UTC)
        local = start.astimezone(zone)
        day = local.date()
        if self.unit == "calendar days":
            day += timedelta(days=self.amount)
        else:
            left = self.amount
            while left:
                day += timedelta(days=1)
                if day.weekday() < 5 and day not in holidays:  # Monday to Friday
                    left -= 1
        return earliest_instant(datetime.combine(day, local.time()), zone)


def earliest_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The earliest UTC instant a naive local wall time can mean in ``zone`` (a time skipped by a
    spring-forward change, or one that occurs twice at fall-back, has two readings)."""
    return min(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))


@dataclass(frozen=True, slots=True)
class Threshold:
    """How many affected residents make a rule apply: all its jurisdictions together (``scope`` total),
    or any single one of them (``scope`` jurisdiction)."""

    op: str
    count: int
    scope: str = "total"

    def met(self, residents: Mapping[str, int]) -> bool:
        compare = _OPS[self.op][0]
        if self.scope == "jurisdiction":
            return any(compare(n, self.count) for n in residents.values() if n)
        return compare(sum(residents.values()), self.count)

    def describe(self, residents: Mapping[str, int]) -> str:
        """The threshold in words with the count it was compared with: "more than 500 residents (501)"."""
        words = f"{_OPS[self.op][1]} {self.count} residents"
        if self.scope != "jurisdiction":
            return f"{words} ({sum(residents.values())})"
        most = max(residents.items(), key=lambda item: (item[1], item[0]), default=("-", 0))
        return f"{words} of one jurisdiction (most: {most[1]} in {most[0]})"


@dataclass(frozen=True, slots=True)
class Rule:
    """One obligation of ``deadlines.toml``: the keys are explained at the top of that file."""

    id: str
    regime: str
    recipient: str
    countries: frozenset[str]
    jurisdictions: frozenset[str]
    except_jurisdictions: frozenset[str]
    when_categories: frozenset[str]
    when_regimes: frozenset[str]
    clock: str
    clock_fallback: str | None
    duration: Duration
    time_zone: str
    holidays: frozenset[date]
    threshold: Threshold | None
    law_enforcement_hold: bool
    done_when: str
    in_force_from: date | None
    in_force_until: date | None
    verify: bool
    note: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def covers(self, jurisdiction: str) -> bool:
        """Whether residents of a manifest jurisdiction (``US-CA``, ``DE``) are this rule's."""
        if jurisdiction in self.except_jurisdictions:
            return False
        return jurisdiction in self.jurisdictions or jurisdiction.split("-", maxsplit=1)[0] in self.countries

    def where(self) -> str:
        """The jurisdictions in words, for tables: exact ones, then countries (long lists shortened)."""
        countries = sorted(self.countries)
        shown = (
            ", ".join(countries)
            if len(countries) <= 6
            else f"{len(countries)} countries ({', '.join(countries[:3])}, …)"
        )
        text = ", ".join([*sorted(self.jurisdictions), *([shown] if countries else [])])
        if self.except_jurisdictions:
            text += f" except {', '.join(sorted(self.except_jurisdictions))}"
        return text


@dataclass(frozen=True, slots=True)
class DeadlineRules:
    rules: Mapping[str, Rule]  # by id, in the file's order

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.rules)

    @property
    def regimes(self) -> frozenset[str]:
        """The regime names an incident may declare (``regimes``): those some rule waits for."""
        return frozenset(r for rule in self.rules.values() for r in rule.when_regimes)


def load_deadline_rules(templates_dir: Path) -> DeadlineRules:
    """The deadline rules of ``templates_dir``, checked against its content model's data categories
    (cached until the file changes)."""
    path = templates_dir / DEADLINES_FILE
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the deadline rules: {exc.strerror}") from exc
    return _load(path, templates_dir, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(path: Path, templates_dir: Path, mtime_ns: int, size: int) -> DeadlineRules:
    from notifier.notices.content import load_content

    del mtime_ns, size  # part of the cache key: an edited file is loaded again
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}") from exc
    return parse_rules(data, categories=load_content(templates_dir).categories, source=str(path))


def parse_rules(
    data: Mapping[str, Any], *, categories: Collection[str], source: str = DEADLINES_FILE
) -> DeadlineRules:
    """Check the parsed TOML; an InputError lists every problem, each as ``rule 'id': key …``."""
    problems: list[str] = []
    tables = data.get("rules")
    if not isinstance(tables, Mapping) or not tables:
        raise InputError(f"{source}: no [rules.<id>] tables")
    rules = {}
    for rule_id, table in tables.items():
        checker = _RuleChecker(str(rule_id), table if isinstance(table, Mapping) else {}, categories)
        rule = checker.rule()
        problems += [f"rule {rule_id!r}: {p}" for p in checker.problems]
        if rule is not None:
            rules[str(rule_id)] = rule
    if problems:
        raise InputError(f"{source}: " + "; ".join(problems) + " (see the comments at the top of the file)")
    return DeadlineRules(rules)


class _RuleChecker:
    """Reads one rule's keys, collecting problems instead of stopping at the first."""

    def __init__(self, rule_id: str, table: Mapping[str, Any], categories: Collection[str]) -> None:
        self.id, self.table, self.categories = rule_id, table, categories
        self.problems = [f"unknown key {k!r}" for k in table if k not in KEYS]
        if not _NAME[0].fullmatch(rule_id):
            self.problems.append("an id is lower-case letters, digits and _")

    def rule(self) -> Rule | None:
        t = self.table
        countries = self.names("countries", _COUNTRY)
        jurisdictions = self.names("jurisdictions", _JURISDICTION)
        if not countries and not jurisdictions:
            self.problems.append("needs countries or jurisdictions")
        when_categories = self.names("when_categories", None)
        if unknown := sorted(when_categories - set(self.categories)):
            self.problems.append(f"when_categories: unknown data categories {unknown} (content.toml)")
        duration = self.duration()
        holidays = self.holidays(duration)
        if "clock_fallback" in t and t.get("clock_fallback") == t.get("clock"):
            self.problems.append("clock_fallback is the clock itself")
        rule = Rule(
            id=self.id,
            regime=self.text("regime"),
            recipient=self.text("recipient"),
            countries=countries,
            jurisdictions=jurisdictions,
            except_jurisdictions=self.names("except_jurisdictions", _JURISDICTION),
            when_categories=when_categories,
            when_regimes=self.names("when_regimes", _NAME),
            clock=self.choice("clock", CLOCK_EVENTS, None),
            clock_fallback=self.choice("clock_fallback", CLOCK_EVENTS, None)
            if "clock_fallback" in t
            else None,
            duration=duration,
            time_zone=self.zone(),
            holidays=holidays,
            threshold=self.threshold(),
            law_enforcement_hold=self.flag("law_enforcement_hold"),
            done_when=self.choice("done_when", DONE_WHEN, "filed"),
            in_force_from=self.day("in_force_from"),
            in_force_until=self.day("in_force_until"),
            verify=self.flag("verify"),
            note=str(t.get("note", "")),
        )
        return None if self.problems else rule

    def text(self, key: str) -> str:
        value = self.table.get(key)
        if not isinstance(value, str) or not value.strip():
            self.problems.append(f"{key} is required text")
            return ""
        return value

    def names(self, key: str, form: tuple[re.Pattern[str], str] | None) -> frozenset[str]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.append(f"{key} must be a list of names")
            return frozenset()
        if form is not None and (bad := [v for v in value if not form[0].fullmatch(v)]):
            self.problems.append(f"{key}: {bad} are not well-formed (e.g. {form[1]!r})")
        return frozenset(value)

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None) -> str:
        value = self.table.get(key, default)
        if value not in allowed:
            self.problems.append(f"{key} {value!r} is not one of {', '.join(allowed)}")
            return allowed[0]
        return str(value)

    def flag(self, key: str) -> bool:
        value = self.table.get(key, False)
        if not isinstance(value, bool):
            self.problems.append(f"{key} must be true or false")
        return value is True

    def duration(self) -> Duration:
        value = self.table.get("duration")
        if value == WITHOUT_UNDUE_DELAY:
            return Duration()
        match = _DURATION.fullmatch(value) if isinstance(value, str) else None
        if match is None or match[2] not in UNITS or int(match[1]) < 1:
            self.problems.append(
                f"duration {value!r}: expected '<n> hours', '<n> calendar days', '<n> business days' "
                f"or '{WITHOUT_UNDUE_DELAY}'"
            )
            return Duration()
        return Duration(int(match[1]), match[2])

    def zone(self) -> str:
        name = self.text("time_zone")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            if name:
                self.problems.append(
                    f"time_zone {name!r} is not an IANA time zone (e.g. America/Los_Angeles)"
                )
        return name

    def holidays(self, duration: Duration) -> frozenset[date]:
        listed = self.table.get("holidays", [])
        if not isinstance(listed, list):
            self.problems.append("holidays must be a list of dates")
            return frozenset()
        if listed and duration.unit != "business days":
            self.problems.append("holidays only count for a duration in business days")
        days = [self.day("holidays", d) for d in listed]
        return frozenset(d for d in days if d is not None)

    def day(self, key: str, value: Any = None) -> date | None:
        value = self.table.get(key) if value is None else value
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.problems.append(f"{key} {value!r} is not a date (YYYY-MM-DD)")
            return None

    def threshold(self) -> Threshold | None:
        value, scope = self.table.get("threshold"), self.table.get("threshold_scope", "total")
        if scope not in ("total", "jurisdiction"):
            self.problems.append(f"threshold_scope {scope!r} is not one of total, jurisdiction")
        if value is None:
            return None
        match = _THRESHOLD.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            self.problems.append(f"threshold {value!r}: expected e.g. '> 500', '>= 500' or '< 500'")
            return None
        return Threshold(match[1], int(match[2]), str(scope))


def rules_markdown(rules: DeadlineRules) -> str:
    """The rules as the Markdown table docs/incidents.md carries (a test keeps the two the same)."""
    lines = [
        "| rule | regime | residents of | when | clock starts | duration | recipient | hold pauses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule in rules.rules.values():
        threshold = rule.threshold
        when = [
            *([f"{threshold.op} {threshold.count}"] if threshold and threshold.scope == "total" else []),
            *(
                [f"{threshold.op} {threshold.count} in one"]
                if threshold and threshold.scope != "total"
                else []
            ),
            *([f"data: {' or '.join(sorted(rule.when_categories))}"] if rule.when_categories else []),
            *([f"regime: {' or '.join(sorted(rule.when_regimes))}"] if rule.when_regimes else []),
            *([f"from {rule.in_force_from}"] if rule.in_force_from else []),
            *([f"until {rule.in_force_until}"] if rule.in_force_until else []),
        ]
        clock = rule.clock + (f" (else {rule.clock_fallback})" if rule.clock_fallback else "")
        cells = [
            f"`{rule.id}`" + (" [verify]" if rule.verify else ""),
            rule.regime,
            rule.where(),
            ", ".join(when),
            clock,
            f"{rule.duration} ({rule.time_zone})" if rule.duration.unit else str(rule.duration),
            rule.recipient,
            "yes" if rule.law_enforcement_hold else "",
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
