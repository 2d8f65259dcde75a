"""``lookup_ms_p50`` / ``lookup_ms_p99``: support's "was I notified?" on a store of a million customers.

Times ``notifier.reports.customer.look_up`` itself, the function ``notifier customer show`` calls: the query
normalized as imports normalize contacts, the customer found, their story read (manifest rows, outbox rows,
delivery events, what came back, replies, approvals) and the look-up written to the audit log (one
committed row each: part of the cost). Random customers over the whole store, a third each by external id,
email and phone; one ``Store`` (its connection pool) for all of them, as a long-running support tool would
hold; the first ``WARMUP`` look-ups are not counted."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from sqlalchemy import select

from bench.bigstore import BigStore
from notifier.reports.customer import look_up
from notifier.store import Store
from notifier.store.schema import customers

LOOKUPS = 600
WARMUP = 20
KINDS = ("external_id", "email", "phone")


@dataclass(frozen=True, slots=True)
class Latencies:
    p50_ms: float
    p99_ms: float
    max_ms: float
    count: int
    p50_by_kind: dict[str, float]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _queries(store: Store, n: int, count: int, seed: int) -> list[tuple[str, str, str]]:
    """(kind, what support types, the external id it must find) for ``count`` random customers who have
    the contact asked for."""
    rng = random.Random(seed)
    chosen: list[tuple[str, str, str]] = []
    with store.connect() as conn:
        while len(chosen) < count:
            kind = KINDS[len(chosen) % len(KINDS)]
            row = conn.execute(
                select(customers.c.external_id, customers.c.email, customers.c.phone).where(
                    customers.c.id == rng.randint(1, n)
                )
            ).one()
            value = {"external_id": row.external_id, "email": row.email, "phone": row.phone}[kind]
            if value:
                chosen.append((kind, value, row.external_id))
    return chosen


def lookup_latencies(
    big: BigStore, lookups: int = LOOKUPS, warmup: int = WARMUP, seed: int = 12
) -> Latencies:
    store = Store(big.url)
    timed: list[tuple[str, float]] = []
    try:
        for i, (kind, query, expected) in enumerate(_queries(store, big.customers, warmup + lookups, seed)):
            began = time.perf_counter()
            stories = look_up(store, query, actor="bench")
            elapsed = (time.perf_counter() - began) * 1000
            if [s.external_id for s in stories] != [expected] or not stories[0].notices:
                raise RuntimeError(
                    f"look-up by {kind} found {[s.external_id for s in stories]}, not {expected}"
                )
            if i >= warmup:
                timed.append((kind, elapsed))
    finally:
        store.dispose()
    values = [ms for _kind, ms in timed]
    return Latencies(
        p50_ms=percentile(values, 0.50),
        p99_ms=percentile(values, 0.99),
        max_ms=max(values),
        count=len(values),
        p50_by_kind={k: percentile([ms for kind, ms in timed if kind == k], 0.50) for k in KINDS},
    )
