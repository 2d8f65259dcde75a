"""Small builders shared by tests (real code paths only: these write files and call the library)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from notifier.approval import approve, pieces, submit
from notifier.campaigns import create_incident, plan_campaign
from notifier.config import PROJECT_ROOT, Settings
from notifier.importer import COLUMNS, ImportReport, import_customers
from notifier.models import Channel, ChannelPolicy, DeliveryPolicy
from notifier.selection import FreezeResult, Selection
from notifier.store import Store

INCIDENT_FILE = PROJECT_ROOT / "notifier" / "demo" / "incident.json"
LOCALES = ("en", "ru", "vi")
# Tests must not depend on the time of day they run at: SMS allowed around the clock unless a test says so.
ALL_DAY = DeliveryPolicy(quiet_start=0, quiet_end=24)


def incident_facts(**changes: Any) -> dict[str, Any]:
    facts = json.loads(INCIDENT_FILE.read_text(encoding="utf-8"))
    facts.update(changes)
    return facts


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def customer(n: int, **fields: str) -> dict[str, str]:
    """A valid Russian, Vietnamese or US customer (by n % 3) with mobile phone and email."""
    market = [("ru_RU", "Europe/Moscow", "RU", f"+7916{n:07d}"), ("vi_VN", "Asia/Ho_Chi_Minh", "VN",
              f"+8491{n:07d}"), ("en_US", "America/New_York", "US", f"+1415{200 + n % 700:03d}{n % 10000:04d}")][n % 3]  # fmt: skip
    row = {"external_id": f"C{n:05d}", "name": f"Customer {n}", "email": f"c{n}@example.com", "phone": market[3],
           "locale": market[0], "time_zone": market[1], "country": market[2]}  # fmt: skip
    row.update(fields)
    return row


def import_rows(store: Store, tmp_path: Path, rows: list[dict[str, str]]) -> ImportReport:
    return import_customers(store, write_csv(tmp_path / "customers.csv", rows))


def approve_all(store: Store, settings: Settings) -> None:
    """What editors and legal do before a launch: submit every piece, then approve it (four eyes)."""
    selected = pieces(settings)
    submit(store, settings, selected, author="editor@example.com")
    recorded, refused = approve(store, settings, selected, approver="legal@example.com", role="legal",
                                comment="tests")  # fmt: skip
    assert refused == [], refused


def planned_campaign(store: Store, settings: Settings, tmp_path: Path, rows: list[dict[str, str]], *,
                     name: str = "test-campaign", channels: frozenset[Channel] = frozenset(Channel),
                     policy: ChannelPolicy = ChannelPolicy.ALL, facts: dict[str, Any] | None = None,
                     extra_ids: tuple[str, ...] = (), approved: bool = True,
                     delivery: DeliveryPolicy = ALL_DAY) -> FreezeResult:  # fmt: skip
    """Import ``rows``, record the demo incident, approve the notices, and plan a campaign for all of them."""
    if approved:
        approve_all(store, settings)
    import_rows(store, tmp_path, rows)
    facts = facts or incident_facts()
    create_incident(store, settings, facts, actor="tester")
    ids = tmp_path / "affected.txt"
    ids.write_text("\n".join([r["external_id"] for r in rows] + list(extra_ids)) + "\n", encoding="utf-8")
    return plan_campaign(store, name=name, incident_key=facts["key"], selection=Selection(ids_file=ids),
                         channels=channels, policy=policy, locales=LOCALES, actor="tester",
                         delivery=delivery)  # fmt: skip
