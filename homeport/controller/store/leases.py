"""Leader leases in the store (the ``local`` coordination backend).

One daemon holds the lease and acts; another on the same store waits. Every acquisition
by a new holder increments the fencing token recorded with journaled actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from homeport.controller.store.database import Connection
from homeport.controller.store.transaction import transaction

# The lease the controllers of one store compete for (``controller/coordination.py``).
LEASE_NAME = "controller"


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    token: int
    expires: float


class LeaseTable:
    def __init__(self, db: Connection) -> None:
        self.db = db

    def current(self, name: str) -> Lease | None:
        row = self.db.execute(
            "SELECT name, holder, token, expires FROM leases WHERE name = ?", [name]
        ).fetchone()
        return Lease(*row) if row else None

    def try_acquire(
        self, name: str, holder: str, *, now: float, duration: float, stamp: datetime
    ) -> Lease | None:
        """Take or renew the lease; None when another holder's lease has not expired."""
        with transaction(self.db):
            lease = self.current(name)
            if lease is not None and lease.holder != holder and lease.expires > now:
                return None
            if lease is None:
                token = 1
                self.db.execute(
                    "INSERT INTO leases (name, holder, token, expires, acquired_at) VALUES (?, ?, ?, ?, ?)",
                    [name, holder, token, now + duration, stamp.isoformat()],
                )
            else:
                token = (
                    lease.token
                    if lease.holder == holder and lease.expires > now
                    else lease.token + 1
                )
                self.db.execute(
                    "UPDATE leases SET holder = ?, token = ?, expires = ?,"
                    " acquired_at = CASE WHEN ? THEN ? ELSE acquired_at END WHERE name = ?",
                    [holder, token, now + duration, token != lease.token, stamp.isoformat(), name],
                )
            return Lease(name, holder, token, now + duration)

    def record(self, lease: Lease, *, stamp: datetime) -> None:
        """Note a lease held elsewhere (the etcd backend's view of its leader), as is."""
        self.db.execute(
            "INSERT INTO leases (name, holder, token, expires, acquired_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, token = excluded.token,"
            " expires = excluded.expires, acquired_at = CASE WHEN leases.token = excluded.token"
            " THEN leases.acquired_at ELSE excluded.acquired_at END",
            [lease.name, lease.holder, lease.token, lease.expires, stamp.isoformat()],
        )

    def release(self, name: str, holder: str) -> None:
        self.db.execute(
            "UPDATE leases SET expires = 0 WHERE name = ? AND holder = ?", [name, holder]
        )
