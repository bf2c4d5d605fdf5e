"""Persistent allocations (VMIDs, …): decided once, before the action that uses them.

A VM's vmid is allocated and stored *before* its clone is issued, so a crash, a lost
response or a retry always targets the same vmid, and Proxmox itself refuses a second VM
with that id: no duplicate VM, ever.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from homeport.controller.store.database import Connection
from homeport.controller.store.replica import ReplicaLink, shared_write


class AllocationError(Exception):
    """The pool is exhausted."""


class Allocations:
    """Shared with the other control planes as ``("alloc", pool, kind, name)``."""

    def __init__(self, db: Connection, link: ReplicaLink | None = None) -> None:
        self.db = db
        self.link = link or ReplicaLink()

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
                self.put(pool, kind, name, value, at=now.isoformat())
                return value
        raise AllocationError(f"no free {pool} in [{low}, {high}] for {kind}/{name}")

    def put(self, pool: str, kind: str, name: str, value: int, *, at: str) -> None:
        """Record one allocation as it is (no pool search)."""
        with shared_write(self.db, self.link) as replica:
            self.db.execute(
                "INSERT INTO allocations (pool, value, kind, name, allocated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [pool, value, kind, name, at],
            )
            if replica is not None:
                replica.put(("alloc", pool, kind, name), {"value": value, "at": at})

    def release(self, pool: str, kind: str, name: str) -> None:
        with shared_write(self.db, self.link) as replica:
            self.db.execute(
                "DELETE FROM allocations WHERE pool = ? AND kind = ? AND name = ?",
                [pool, kind, name],
            )
            if replica is not None:
                replica.delete(("alloc", pool, kind, name))

    def all(self) -> dict[tuple[str, str, str], tuple[int, str]]:
        """(pool, kind, name) → (value, allocated_at)."""
        rows = self.db.execute("SELECT pool, kind, name, value, allocated_at FROM allocations")
        return {(p, k, n): (int(v), str(a)) for p, k, n, v, a in rows}
