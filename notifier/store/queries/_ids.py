"""Ids that come from outside (a web address, a form, a command line) are checked before they reach SQL:
one past a 64-bit integer is no row of ours, and SQLite would refuse to bind it (an OverflowError), where
PostgreSQL says "out of range". Either way the answer is "no such row", never a crash."""

from __future__ import annotations

__all__ = ["ID_MAX", "storable_id"]

ID_MAX = 2**63 - 1


def storable_id(value: int) -> bool:
    return 0 < value <= ID_MAX
