"""Streaming CSV import of customers: validate each row, upsert the good ones by external id, and
report every problem with its line number. A broken row never stops the import."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from notifier.audience.csvfile import detect_delimiter, read_records
from notifier.audience.postal import ADDRESS_COLUMNS
from notifier.audience.validation import RowProblems, validate_customer
from notifier.clock import utcnow
from notifier.errors import InputError
from notifier.models import CustomerRecord
from notifier.store import Store
from notifier.store import queries as q

__all__ = ["COLUMNS", "ImportReport", "RowIssue", "import_customers"]

COLUMNS = (
    "external_id",
    "name",
    "email",
    "phone",
    "locale",
    "time_zone",
    "country",
    "region",
    "email_opt_out",
    "sms_opt_out",
    *ADDRESS_COLUMNS,
    "esign_consent_at",
    "esign_consent_how",
)
REQUIRED_COLUMNS = {"external_id", "name"}
BATCH = 1000
csv.field_size_limit(1 << 20)


@dataclass(frozen=True, slots=True)
class RowIssue:
    line: int
    external_id: str | None
    message: str
    rejected: bool  # True: the row was not imported; False: imported with the field cleared

    def __str__(self) -> str:
        who = f" ({self.external_id})" if self.external_id else ""
        return f"line {self.line}{who}: {'REJECTED ' if self.rejected else ''}{self.message}"


@dataclass
class ImportReport:
    path: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    issues: list[RowIssue] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({i.line for i in self.issues if i.rejected})

    @property
    def imported(self) -> int:
        return self.inserted + self.updated


def _rows(handle: io.TextIOBase, report: ImportReport) -> Iterator[tuple[int, dict[str, str | None]]]:
    header = handle.readline()
    if not header.strip():
        raise InputError(f"{report.path}: the file is empty")
    try:
        delimiter = detect_delimiter(header, "external_id")
    except InputError as exc:
        raise InputError(f"{report.path}: {exc}; expected a header such as {','.join(COLUMNS)}") from None
    columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=delimiter))]
    missing = REQUIRED_COLUMNS - set(columns)
    if missing:
        raise InputError(
            f"{report.path}: line 1: missing column(s) {', '.join(sorted(missing))}; "
            f"expected {', '.join(COLUMNS)}"
        )
    unknown = set(columns) - set(COLUMNS)
    if unknown:
        report.issues.append(
            RowIssue(1, None, f"unknown column(s) ignored: {', '.join(sorted(unknown))}", False)
        )
    for record in read_records(handle, delimiter=delimiter):
        if record.values is not None and all(not v.strip() for v in record.values):
            continue
        report.rows += 1
        problem = record.error or _shape_problem(record.values or [], len(columns))
        if problem:
            first = record.values[0] if record.values else None
            report.issues.append(RowIssue(record.line, first, problem, True))
            continue
        yield record.line, dict(zip(columns, record.values or [], strict=True))


def _shape_problem(values: list[str], expected: int) -> str | None:
    if len(values) != expected:
        return f"expected {expected} fields, found {len(values)}"
    if any("\udc80" <= ch <= "\udcff" for v in values for ch in v):
        return "not valid UTF-8 (save the file as UTF-8)"
    return None


def import_customers(
    store: Store, path: Path, *, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import customers from ``path`` (UTF-8 CSV with a header row; see COLUMNS).

    Re-importing the same file changes nothing (upsert by external id). ``progress`` is called with
    the number of bytes read so far, for a progress bar."""
    report = ImportReport(path=str(path))
    batch: dict[str, CustomerRecord] = {}
    with path.open("rb") as raw:
        handle = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        for line, row in _rows(handle, report):
            problems = RowProblems()
            try:
                record = validate_customer(row, problems)
            except InputError as exc:
                report.issues.append(RowIssue(line, row.get("external_id") or None, str(exc), True))
                continue
            report.issues.extend(RowIssue(line, record.external_id, w, False) for w in problems.warnings)
            if record.external_id in batch:
                report.issues.append(
                    RowIssue(line, record.external_id, "same external_id again; the later row wins", False)
                )
            batch[record.external_id] = record
            if len(batch) >= BATCH:
                _flush(store, batch, report)
                if progress is not None:
                    progress(raw.tell())
        _flush(store, batch, report)
        if progress is not None:
            progress(raw.tell())
    return report


def _flush(store: Store, batch: dict[str, CustomerRecord], report: ImportReport) -> None:
    if not batch:
        return
    with store.begin() as conn:
        inserted, updated = q.upsert_customers(conn, list(batch.values()), utcnow())
    report.inserted += inserted
    report.updated += updated
    batch.clear()
