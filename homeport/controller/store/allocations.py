"""Persistent allocations (VMIDs, …): decided once, before the action that uses them.

A VM's vmid is allocated and stored *before* its clone is issued, so a crash, a lost
response or a retry always targets the same vmid, and Proxmox itself refuses a second VM
with that id: no duplicate VM, ever.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlite_utils


class AllocationError(Exception):
    """The pool is exhausted."""


class Allocations:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def get(self, pool: str, kind: str, name: str) -> int | None:
        row = self.db.execute(
            "SELECT value FROM allocations WHERE pool = ? AND kind = ? AND name = ?",
            [pool, kind, name],
        ).fetchone()
        return int(row[0]) if row else None

    def taken(self, pool: str) -> set[int]:
        return {
            int(r[0])
            for r in self.db.execute("SELECT value FROM allocations WHERE pool = ?", [pool])
        }

    def allocate(
        self,
        pool: str,
        kind: str,
        name: str,
        *,
        low: int,
        high: int,
        unavailable: Iterable[int],
        now: datetime,
        preferred: int | None = None,
    ) -> int:
        existing = self.get(pool, kind, name)
        if existing is not None:
            return existing
        blocked = self.taken(pool) | set(unavailable)
        candidates = [preferred] if preferred is not None else range(low, high + 1)
        for value in candidates:
            if value not in blocked:
                self.db.execute(
                    "INSERT INTO allocations (pool, value, kind, name, allocated_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [pool, value, kind, name, now.isoformat()],
                )
                return value
        raise AllocationError(f"no free {pool} in [{low}, {high}] for {kind}/{name}")

    def release(self, pool: str, kind: str, name: str) -> None:
        self.db.execute(
            "DELETE FROM allocations WHERE pool = ? AND kind = ? AND name = ?", [pool, kind, name]
        )
