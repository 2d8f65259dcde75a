"""Hash chains over the records a regulator relies on: the audit log, the outbox's state changes
(``delivery_events``) and what came back (``events``).

Each sealed row carries ``seq`` (its place in its table's chain), ``prev_hash`` (the row before's
``row_hash``) and ``row_hash`` = SHA-256 of ``prev_hash`` and the row's content in a canonical form.
``chain_heads`` keeps the newest link. Editing a row breaks its own hash; deleting one leaves a gap in
``seq`` (or, at the tail, a head no row matches); re-hashing an edited row breaks the next row's
``prev_hash``. Only rewriting every later row and the head goes unseen, which is what the head's copy in
the evidence pack (and anywhere else it is kept) is for.

Rows are written unsealed (the hot paths do not wait for a lock) and sealed in id order by ``seal``:
the audit log right away, in the writer's own transaction; events and delivery events by the
reconciliation flow, ``notifier audit seal`` and before every report, evidence pack or verification.
``seal`` first updates its chain's head row, which takes the row lock on PostgreSQL and the write lock
on SQLite: two sealers run one after the other, so a chain never forks (``seq`` is also UNIQUE)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select, update

from notifier.store.schema import CHAINED, chain_heads

__all__ = [
    "GENESIS",
    "ChainBreak",
    "ChainHead",
    "chain_heads_now",
    "row_digest",
    "seal",
    "unsealed_count",
    "verify_chain",
]

GENESIS = "0" * 64
LINK_COLUMNS = frozenset({"seq", "prev_hash", "row_hash"})
SEAL_BATCH = 5_000
VERIFY_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class ChainHead:
    chain: str
    seq: int
    row_hash: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first link that does not hold: which row (``row_id`` is None for a broken head), and why."""

    chain: str
    seq: int
    row_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.chain} row id {self.row_id}" if self.row_id is not None else f"{self.chain} head"
        return f"{where} (link {self.seq}): {self.reason}"


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLite gives back naive UTC, PostgreSQL aware: one form for both.
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def row_digest(chain: str, row: Mapping[Any, Any], prev_hash: str) -> str:
    """The hash of one row in its chain: its table, every content column (not the link columns) in a
    canonical JSON form, and the previous row's hash."""
    content = {k: _canonical(v) for k, v in row.items() if k not in LINK_COLUMNS}
    encoded = json.dumps(
        [chain, prev_hash, content], sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _table(chain: str) -> Table:
    try:
        return CHAINED[chain]
    except KeyError:
        raise ValueError(f"no hash chain named {chain!r} (chains: {', '.join(CHAINED)})") from None


def seal(conn: Connection, chain: str, now: datetime, *, limit: int | None = None) -> int:
    """Chain every row of ``chain`` not yet sealed, in id order; returns how many. Runs in the caller's
    transaction and holds the chain's head lock until it ends: keep that transaction short."""
    table = _table(chain)
    # The UPDATE first: it takes the lock (PostgreSQL row lock, SQLite write lock) before anything is read.
    conn.execute(update(chain_heads).where(chain_heads.c.chain == chain).values(updated_at=now))
    head = conn.execute(
        select(chain_heads.c.seq, chain_heads.c.row_hash).where(chain_heads.c.chain == chain)
    ).one()
    seq, prev = int(head.seq), str(head.row_hash)
    content_columns = [c for c in table.c if c.name not in LINK_COLUMNS]
    write = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values(seq=bindparam("_seq"), prev_hash=bindparam("_prev"), row_hash=bindparam("_hash"))
    )
    sealed = 0
    while limit is None or sealed < limit:
        batch = SEAL_BATCH if limit is None else min(SEAL_BATCH, limit - sealed)
        rows = conn.execute(
            select(*content_columns).where(table.c.seq.is_(None)).order_by(table.c.id).limit(batch)
        ).all()
        if not rows:
            break
        links = []
        for row in rows:
            seq += 1
            digest = row_digest(chain, row._mapping, prev)
            links.append({"_id": row.id, "_seq": seq, "_prev": prev, "_hash": digest})
            prev = digest
        conn.execute(write, links)
        sealed += len(rows)
        if len(rows) < batch:
            break
    if sealed:
        conn.execute(update(chain_heads).where(chain_heads.c.chain == chain).values(seq=seq, row_hash=prev))
    return sealed


def unsealed_count(conn: Connection, chain: str) -> int:
    table = _table(chain)
    query = select(func.count()).select_from(table).where(table.c.seq.is_(None))
    return int(conn.execute(query).scalar_one())


def chain_heads_now(conn: Connection) -> list[ChainHead]:
    """The newest link of every chain (what an evidence pack records, to be compared later)."""
    rows = conn.execute(select(chain_heads).order_by(chain_heads.c.chain)).all()
    return [ChainHead(r.chain, int(r.seq), r.row_hash, r.updated_at) for r in rows]


def _sealed_rows(conn: Connection, table: Table, up_to: int) -> Iterator[Any]:
    after = 0
    while True:
        page = conn.execute(
            select(table)
            .where(table.c.seq > after, table.c.seq <= up_to)
            .order_by(table.c.seq)
            .limit(VERIFY_PAGE)
        ).all()
        yield from page
        if len(page) < VERIFY_PAGE:
            return
        after = page[-1].seq


def verify_chain(conn: Connection, chain: str) -> tuple[int, ChainBreak | None]:
    """Walk ``chain`` from its first link; returns how many links hold and the first that does not."""
    table = _table(chain)
    # The head first, and the rows up to it: what is sealed while we walk is not ours to judge, whatever
    # snapshot the database gives each statement.
    head = conn.execute(
        select(chain_heads.c.seq, chain_heads.c.row_hash).where(chain_heads.c.chain == chain)
    ).one()
    expected_seq, prev = 1, GENESIS
    for row in _sealed_rows(conn, table, int(head.seq)):
        if row.seq != expected_seq:
            return expected_seq - 1, ChainBreak(
                chain, expected_seq, row.id, f"links {expected_seq}..{row.seq - 1} are missing (rows deleted)"
            )
        if row.prev_hash != prev:
            reason = "its prev_hash is not the previous row's hash (a row before it was re-hashed)"
            return expected_seq - 1, ChainBreak(chain, row.seq, row.id, reason)
        digest = row_digest(chain, row._mapping, prev)
        if digest != row.row_hash:
            reason = "its content does not match its hash (edited)"
            return expected_seq - 1, ChainBreak(chain, row.seq, row.id, reason)
        expected_seq, prev = expected_seq + 1, digest
    last = expected_seq - 1
    if int(head.seq) != last or head.row_hash != prev:
        return last, ChainBreak(
            chain,
            int(head.seq),
            None,
            f"the head says link {head.seq}, the rows end at link {last} "
            "(rows at the end deleted, or the head edited)",
        )
    return last, None
