"""Selection of affected customers and the frozen manifest.

Forensics hands over a file of affected customer ids and/or a SQL query (against the store or a
separate read-only database). Both are streamed in keyset pages; each customer gets a channel plan
from consent and usable contacts; the result is frozen as the campaign's manifest, then one outbox
row is created per planned (customer, channel)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from notifier.audience.csvfile import read_records
from notifier.audience.postal import customer_envelope
from notifier.audience.validation import RowProblems, validate_customer, validate_external_id
from notifier.clock import utcnow
from notifier.config import SelectionAccess
from notifier.errors import InputError, SelectionError
from notifier.models import Channel, ChannelPlan, ChannelPolicy, CustomerRecord, UnreachableReason
from notifier.notices.i18n import resolve_locale
from notifier.notices.legal_channels import LEGAL_ORDER, NoticeLaw
from notifier.redact import mask_url
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.selecting import describe_failure, selecting_source

__all__ = [
    "NOT_REACHED_KINDS",
    "ChannelChoice",
    "FreezeResult",
    "Planning",
    "Selection",
    "freeze_manifest",
    "iter_id_file",
    "plan_channels",
]

PAGE_SIZE = 1000
# The channels notifier sends that can be a notice in law, in the order one is chosen as the person's.
LEGAL_CHANNELS_SENT = tuple(Channel(c) for c in LEGAL_ORDER)
MAX_PROBLEMS_SHOWN = 20
Progress = Callable[[int], None]


NOT_REACHED_KINDS = ("bounced", "undelivered", "no_receipt", "no_channel")


@dataclass(frozen=True, slots=True)
class Selection:
    """Who is affected. ``query`` returns a column ``external_id``; with ``source_url`` it runs on that
    (read-only) database and must return the customer columns too (see docs/selection.md).
    ``not_reached_in`` selects a finished campaign's customers it did not reach (a follow-up), optionally
    only those of ``not_reached_kinds``. ``saved_as`` names the saved selection ``query`` is from.
    ``access`` is how the query runs (its time limits and, on PostgreSQL, its role: store/selecting.py)."""

    ids_file: Path | None = None
    query: str | None = None
    source_url: str | None = None
    not_reached_in: str | None = None
    not_reached_kinds: frozenset[str] = frozenset()
    saved_as: str | None = None  # the name of the saved selection ``query`` came from
    access: SelectionAccess = field(default_factory=SelectionAccess, compare=False)

    def check(self) -> None:
        """Refuse at once what cannot be selected (a broken affected-ids file), before anything is made."""
        if self.ids_file is None and self.query is None and self.not_reached_in is None:
            raise InputError(
                "say who is affected: an affected-ids file, a selection query or --not-reached-in CAMPAIGN"
            )
        unknown = sorted(self.not_reached_kinds - set(NOT_REACHED_KINDS))
        if unknown:
            raise InputError(
                f"unknown kind {', '.join(unknown)}; --only takes {', '.join(NOT_REACHED_KINDS)}"
            )
        if self.not_reached_kinds and self.not_reached_in is None:
            raise InputError("--only narrows --not-reached-in CAMPAIGN; name the campaign")
        if self.ids_file is not None:
            check_id_file(self.ids_file)

    def describe(self) -> dict[str, Any]:
        return {
            "ids_file": str(self.ids_file) if self.ids_file else None,
            "query": self.query,
            "saved_selection": self.saved_as,
            "source_url": mask_url(self.source_url) if self.source_url else None,
            "not_reached_in": self.not_reached_in,
            "only": sorted(self.not_reached_kinds),
        }


def iter_id_file(path: Path) -> Iterator[str]:
    """Affected external ids, checked as a whole first (``check_id_file``), then one per record."""
    check_id_file(path)
    for _line, external_id in _id_records(path):
        yield external_id


def check_id_file(path: Path) -> int:
    """Refuse an affected-ids file with any line that is not exactly one valid id, listing the lines (a
    guess here notifies the wrong person: ``A,7`` cut at the comma is customer ``A``). Returns the count."""
    problems: list[str] = []
    count = 0
    for _line, _external_id in _id_records(path, problems):
        count += 1
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = (
            f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        )
        raise InputError(
            f"{path}: {len(problems)} bad line(s), nothing selected: {shown}{more}. One id per line; "
            'an id with a comma is quoted ("A,7"), as in the customers file'
        )
    return count


def _id_records(path: Path, problems: list[str] | None = None) -> Iterator[tuple[int, str]]:
    """(line, id) of an affected-ids file: a CSV of one column ``external_id`` (the header is optional),
    read with the customers file's rules; blank lines are skipped."""
    try:
        handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read affected-ids file: {exc.strerror}") from exc
    with handle:
        for record in read_records(handle, first_line=1):
            values = record.values or []
            if record.values is not None and all(not v.strip() for v in values):
                continue
            if record.line == 1 and [v.strip().lower() for v in values] == ["external_id"]:
                continue  # the header
            try:
                if record.error:
                    raise InputError(record.error)
                if len(values) != 1:
                    raise InputError(f"{len(values)} fields where one id was expected")
                if any("\udc80" <= ch <= "\udcff" for ch in values[0]):
                    raise InputError("not valid UTF-8")
                yield record.line, validate_external_id(values[0])
            except InputError as exc:
                if problems is None:
                    raise InputError(f"{path}: line {record.line}: {exc}") from None
                problems.append(f"line {record.line}: {exc}")


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    """A customer's channels before duplicates and the law are settled. ``letter_reason`` None means a
    letter *can* go: whether it does is decided once the whole manifest is known
    (``queries.plan_letters``: when it is the notice in law, or nothing else reaches the person)."""

    plan: ChannelPlan
    email_reason: str | None
    sms_reason: str | None
    letter_reason: str | None


def plan_channels(
    customer: CustomerRecord, channels: frozenset[Channel], policy: ChannelPolicy
) -> ChannelChoice:
    """Decide which channels reach this customer, and why each other one does not."""
    email_reason = _email_reason(customer, channels)
    sms_reason = _sms_reason(customer, channels)
    if policy is ChannelPolicy.EMAIL_FIRST and email_reason is None and sms_reason is None:
        sms_reason = UnreachableReason.POLICY.value
    elif policy is ChannelPolicy.SMS_FIRST and email_reason is None and sms_reason is None:
        email_reason = UnreachableReason.POLICY.value
    return ChannelChoice(
        ChannelPlan.of(email_reason is None, sms_reason is None),
        email_reason,
        sms_reason,
        _letter_reason(customer, channels),
    )


def _letter_reason(customer: CustomerRecord, channels: frozenset[Channel]) -> str | None:
    if Channel.LETTER not in channels:
        return UnreachableReason.CHANNEL_DISABLED.value
    if customer.address_problem:
        return UnreachableReason.INVALID_ADDRESS.value
    if customer.address is None:
        return UnreachableReason.NO_ADDRESS.value
    return None


def _email_reason(customer: CustomerRecord, channels: frozenset[Channel]) -> str | None:
    if Channel.EMAIL not in channels:
        return UnreachableReason.CHANNEL_DISABLED.value
    if customer.email_opt_out:
        return UnreachableReason.EMAIL_OPTED_OUT.value
    if customer.email is None:
        return (
            UnreachableReason.INVALID_EMAIL if customer.email_problem else UnreachableReason.NO_EMAIL
        ).value
    if customer.email_problem:  # a valid address that bounced for good (queries.mark_email_bounced)
        return UnreachableReason.EMAIL_BOUNCED.value
    return None


def _sms_reason(customer: CustomerRecord, channels: frozenset[Channel]) -> str | None:
    if Channel.SMS not in channels:
        return UnreachableReason.CHANNEL_DISABLED.value
    if customer.sms_opt_out:
        return UnreachableReason.SMS_OPTED_OUT.value
    if customer.phone is None:
        return (
            UnreachableReason.INVALID_PHONE if customer.phone_problem else UnreachableReason.NO_PHONE
        ).value
    if not customer.phone_is_mobile:
        return UnreachableReason.NOT_MOBILE.value
    return None


def _manifest_row(
    campaign_id: int, customer_id: int, customer: CustomerRecord, plan: Planning, now: datetime
) -> dict[str, Any]:
    choice = plan_channels(customer, plan.channels, plan.policy)
    return {
        "campaign_id": campaign_id,
        "external_id": customer.external_id,
        "customer_id": customer_id,
        "name": customer.name,
        "email": customer.email,
        "email_key": customer.email.lower() if customer.email else None,
        "phone": customer.phone,
        "locale": customer.locale,
        "notice_locale": resolve_locale(customer.locale, plan.locales),
        "time_zone": customer.time_zone,
        "jurisdiction": customer.jurisdiction,
        "channel_plan": choice.plan.value,
        "email_reason": choice.email_reason,
        "sms_reason": choice.sms_reason,
        "letter_reason": choice.letter_reason,
        "postal_address": "\n".join(customer_envelope(customer, plan.home_country)) or None,
        **_legal(customer, plan.law),
        "created_at": now,
    }


def _legal(customer: CustomerRecord, law: NoticeLaw | None) -> dict[str, Any]:
    """The person's profile and the channels the law accepts for them (settled after dedupe)."""
    if law is None:
        return {"profile": None, "legal_options": None}
    rule = law.rule_for(customer.jurisdiction)
    return {"profile": rule.profile, "legal_options": ",".join(rule.accepted(customer))}


def _unknown_row(campaign_id: int, external_id: str, now: datetime) -> dict[str, Any]:
    reason = UnreachableReason.UNKNOWN_CUSTOMER.value
    return {
        "campaign_id": campaign_id,
        "external_id": external_id,
        "customer_id": None,
        "name": "",
        "email": None,
        "email_key": None,
        "phone": None,
        "locale": "en",
        "notice_locale": "en",
        "time_zone": "UTC",
        "jurisdiction": None,
        "channel_plan": ChannelPlan.NONE.value,
        "email_reason": reason,
        "sms_reason": reason,
        "letter_reason": reason,
        "postal_address": None,
        "profile": None,
        "legal_options": None,
        "created_at": now,
    }


def _chunks(values: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _selection_pages(
    conn: Connection, query: str, page_size: int, access: SelectionAccess, *, where: str = "selection query"
) -> Iterator[list[dict[str, Any]]]:
    after: str | None = None
    while True:
        try:
            page = q.selection_page(conn, query, after, page_size)
        except SQLAlchemyError as exc:
            raise SelectionError(f"{where} failed: {describe_failure(exc, access)}") from None
        if not page:
            return
        if "external_id" not in page[0]:
            raise SelectionError("selection query must return a column named external_id")
        yield page
        after = str(page[-1]["external_id"])


def _customers_for_ids(
    conn: Connection, campaign_id: int, ids: list[str], plan: Planning, now: datetime, result: FreezeResult
) -> list[dict[str, Any]]:
    """Manifest rows for one page of ids. An id handed over as affected (a file, a follow-up) that the
    store does not know is kept as ``unknown_customer``; a value a query returned that is no customer's
    id is counted and dropped, never kept or shown: a query returns customer ids, nothing else."""
    found = q.customers_by_external_ids(conn, ids)
    rows = []
    for external_id in dict.fromkeys(ids):
        if external_id in found:
            rows.append(_manifest_row(campaign_id, *found[external_id], plan, now))
        elif isinstance(ids, _QueryIds):
            result.not_customers += 1
        else:
            rows.append(_unknown_row(campaign_id, external_id, now))
    return rows


@dataclass
class FreezeResult:
    """What selection did: rows frozen, and problems found in rows from an external source.
    ``not_customers``: values a selection query on the store returned that are no customer's id."""

    selected: int = 0
    problems: list[str] = field(default_factory=list)
    already_notified: int = 0
    not_customers: int = 0


class _QueryIds(list[str]):
    """A page of ids a selection query on the store returned (not handed over as affected)."""


def _id_pages(
    store: Store, selection: Selection, result: FreezeResult, page_size: int
) -> Iterator[list[str]]:
    """Affected external ids, page by page, from every part of the selection."""
    if selection.not_reached_in is not None:
        yield from _not_reached(store, selection.not_reached_in, selection.not_reached_kinds, page_size)
    if selection.ids_file is not None:
        yield from _chunks(iter_id_file(selection.ids_file), page_size)
    if selection.query is None:
        return
    if selection.source_url is None:
        with store.selecting(selection.access) as conn:
            for page in _selection_pages(conn, selection.query, page_size, selection.access):
                yield _QueryIds(str(row["external_id"]) for row in page)
        return
    yield from _import_from_source(selection, result, store, page_size)


def _not_reached(store: Store, campaign: str, kinds: frozenset[str], page_size: int) -> Iterator[list[str]]:
    """The customers an earlier campaign did not reach; refused while its outcome is still open (a
    follow-up planned now could reach someone that campaign is still reaching)."""
    with store.connect() as conn:
        row = q.campaign_by_name(conn, campaign)
        if row is None:
            raise InputError(f"--not-reached-in: no campaign {campaign!r}")
        unfinished = q.unfinished_rows(conn, row.id)
    if unfinished:
        raise InputError(
            f"--not-reached-in: campaign {campaign!r} still has {unfinished} messages to send or of unknown "
            "fate; let it finish (or cancel it, and settle held rows with `notifier campaign held`) first"
        )
    after: str | None = None
    while True:
        with store.connect() as conn:
            page = q.not_reached_page(conn, row.id, kinds, after, page_size)
        if not page:
            return
        yield page
        after = page[-1]


def _import_from_source(
    selection: Selection, result: FreezeResult, store: Store, page_size: int
) -> Iterator[list[str]]:
    """Customers read from the company's own database are validated like an import and upserted into the
    store (so support can look them up later); their ids then go through the same path as a file."""
    assert selection.source_url is not None and selection.query is not None
    with selecting_source(selection.source_url, selection.access) as source:
        pages = _selection_pages(
            source, selection.query, page_size, selection.access, where="source database query"
        )
        for page in pages:
            records = []
            for row in page:
                problems = RowProblems()
                try:
                    records.append(validate_customer({k: _text(v) for k, v in row.items()}, problems))
                except InputError as exc:
                    result.problems.append(f"source row {row.get('external_id')!r}: {exc}")
                    continue
                result.problems.extend(f"source row {row['external_id']!r}: {w}" for w in problems.warnings)
            with store.begin() as conn:
                q.upsert_customers(conn, records, utcnow())
            yield [r.external_id for r in records]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass(frozen=True, slots=True)
class Planning:
    """How selected customers become manifest rows: usable channels, policy, and notice locales; ``law``
    decides each person's notice in law (None: not decided, as for campaigns planned before it existed)."""

    channels: frozenset[Channel]
    policy: ChannelPolicy
    locales: tuple[str, ...]
    page_size: int = PAGE_SIZE
    once_per_person: bool = True  # skip those an earlier campaign of the incident reached with this notice
    law: NoticeLaw | None = None
    home_country: str | None = None  # where letters are posted from (the incident's company.country)


def freeze_manifest(
    store: Store, campaign_id: int, selection: Selection, plan: Planning, *, progress: Progress | None = None
) -> FreezeResult:
    """Select the affected customers into the campaign's manifest, dedupe contacts, fill the outbox.

    Streams page by page (memory stays flat in the number of customers) and commits per page."""
    result = FreezeResult()
    for ids in _id_pages(store, selection, result, plan.page_size):
        now = utcnow()
        with store.begin() as conn:
            rows = _customers_for_ids(conn, campaign_id, ids, plan, now, result)
            if rows:
                q.insert_manifest_rows(conn, rows)
        if progress is not None:
            progress(len(ids))
    with store.begin() as conn:
        if plan.once_per_person:
            result.already_notified = q.mark_already_notified(conn, campaign_id)
        q.mark_duplicate_contacts(conn, campaign_id)
        q.plan_letters(conn, campaign_id)
        q.settle_legal_channels(conn, campaign_id, LEGAL_CHANNELS_SENT)
        q.fill_outbox(conn, campaign_id, utcnow())
        result.selected = q.manifest_summary(conn, campaign_id)["total"]
    if result.not_customers:
        result.problems.append(
            f"{result.not_customers} value(s) the selection query returned are no customer's external_id: "
            "not kept (a selection returns customers.external_id)"
        )
    return result
