"""Tamper evidence: seal what is not yet in its hash chain, and walk every chain to the first link that
does not hold (store/queries/chain.py says how the chains are built)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier.clock import utcnow
from notifier.store import Store
from notifier.store import queries as q
from notifier.store.schema import CHAINED

__all__ = ["ChainStatus", "seal_all", "verify_all"]


@dataclass(frozen=True, slots=True)
class ChainStatus:
    chain: str
    verified: int  # links that hold, from the first
    unsealed: int  # rows written but not yet chained (sealed by the next `audit seal` or reconciliation)
    head_seq: int
    head_hash: str
    head_at: datetime
    broken: q.ChainBreak | None


def seal_all(store: Store, now: datetime | None = None) -> dict[str, int]:
    """Seal every chain, one transaction per chain (each holds only its own chain's lock)."""
    sealed = {}
    for chain in CHAINED:
        with store.begin() as conn:
            sealed[chain] = q.seal(conn, chain, now or utcnow())
    return sealed


def verify_all(store: Store) -> list[ChainStatus]:
    """Every chain checked from its first link to its head, in one consistent read per chain."""
    statuses = []
    for chain in CHAINED:
        # One snapshot per chain: a seal committed mid-walk must not look like a deleted tail.
        with store.connect() as plain:
            snapshot = "REPEATABLE READ" if plain.dialect.name == "postgresql" else "SERIALIZABLE"
            conn = plain.execution_options(isolation_level=snapshot)
            with conn.begin():
                verified, broken = q.verify_chain(conn, chain)
                unsealed = q.unsealed_count(conn, chain)
                head = next(h for h in q.chain_heads_now(conn) if h.chain == chain)
            statuses.append(
                ChainStatus(chain, verified, unsealed, head.seq, head.row_hash, head.updated_at, broken)
            )
    return statuses
