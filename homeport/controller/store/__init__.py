"""The store: SQLite (WAL), one file, the daemon's memory.

``Store`` bundles the tables' repositories. Everything that can be re-observed is
re-observed; the store keeps what cannot: adopted revisions, generations and status,
events, the action journal, allocations, leases, failover timelines and backup records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeport.controller.store.allocations import AllocationError, Allocations
from homeport.controller.store.backups import BackupLog
from homeport.controller.store.database import Connection, open_database, select
from homeport.controller.store.heartbeats import Heartbeat, HeartbeatTable
from homeport.controller.store.journal import Journal, JournalEntry
from homeport.controller.store.leases import Lease, LeaseTable
from homeport.controller.store.notifications import NotificationLog, NotificationRecord
from homeport.controller.store.objects import (
    DesiredObject,
    Fingerprint,
    Key,
    ObjectStore,
    StoredObject,
)
from homeport.controller.store.records import Event, EventLog, RevisionLog, RevisionRecord
from homeport.controller.store.replica import Replica, ReplicaLink, SharedKey, shared_write


class KeyValue:
    """Small named values (e.g. the source's last adopted sha, approvals); the ``shared``
    ones are written through to the replica as ``(shared_as, key)``."""

    def __init__(
        self,
        db: Connection,
        table: str,
        *,
        link: ReplicaLink | None = None,
        shared: frozenset[str] = frozenset(),
        shared_as: str = "",
    ) -> None:
        self.db = db
        self.table = table
        self.link = link or ReplicaLink()
        self.shared = shared
        self.shared_as = shared_as or table

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute(f"SELECT value FROM {self.table} WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set(self, key: str, value: Any) -> None:
        with shared_write(self.db, self.link) as replica:
            self.db.execute(
                f"INSERT INTO {self.table} (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, json.dumps(value)],
            )
            if replica is not None and key in self.shared:
                replica.put((self.shared_as, key), value)


class Memory:
    """Reconcilers' durable per-object memory (JSON documents keyed by kind and name);
    shared with the other control planes as ``("memory", kind, name)``."""

    def __init__(self, db: Connection, link: ReplicaLink | None = None) -> None:
        self.db = db
        self.link = link or ReplicaLink()

    def get(self, kind: str, name: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT value FROM memory WHERE kind = ? AND name = ?", [kind, name]
        ).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def set(self, kind: str, name: str, value: dict[str, Any], *, now: str) -> None:
        with shared_write(self.db, self.link) as replica:
            self.db.execute(
                "INSERT INTO memory (kind, name, value, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(kind, name) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                [kind, name, json.dumps(value, default=str), now],
            )
            if replica is not None:
                replica.put(("memory", kind, name), value)

    def forget(self, kind: str, name: str) -> None:
        with shared_write(self.db, self.link) as replica:
            self.db.execute("DELETE FROM memory WHERE kind = ? AND name = ?", [kind, name])
            if replica is not None:
                replica.delete(("memory", kind, name))

    def forget_object(self, kind: str, name: str) -> None:
        """Forget the object's memory and every slot of it (``<kind>.<slot>``): it is gone."""
        rows = self.db.execute(
            "SELECT kind FROM memory WHERE name = ? AND (kind = ? OR kind LIKE ?)",
            [name, kind, f"{kind}.%"],
        ).fetchall()
        for (row_kind,) in rows:
            self.forget(str(row_kind), name)

    def names(self) -> frozenset[tuple[str, str]]:
        """(kind, name) of every memory document."""
        rows = self.db.execute("SELECT kind, name FROM memory")
        return frozenset((str(k), str(n)) for k, n in rows)


class FailoverLog:
    """Failover timelines of StandbyPairs, one row per (pair, epoch)."""

    COLUMNS = (
        "trigger",
        "from_app",
        "to_app",
        "phase",
        "started_at",
        "finished_at",
        "timeline",
        "rpo_seconds",
        "outcome",
    )

    def __init__(self, db: Connection, link: ReplicaLink | None = None) -> None:
        self.db = db
        self.link = link or ReplicaLink()

    def upsert(self, pair: str, epoch: int, fields: dict[str, Any]) -> None:
        with shared_write(self.db, self.link) as replica:
            self._upsert(pair, epoch, fields)
            if replica is not None:
                replica.put(("failover", pair, epoch), self.get(pair, epoch), required=False)

    def _upsert(self, pair: str, epoch: int, fields: dict[str, Any]) -> None:
        row = self.db.execute(
            "SELECT id FROM failovers WHERE pair = ? AND epoch = ?", [pair, epoch]
        ).fetchone()
        values = {
            k: (json.dumps(v) if k == "timeline" else v)
            for k, v in fields.items()
            if k in self.COLUMNS
        }
        if row is None:
            columns = ["pair", "epoch", *values]
            self.db.execute(
                f"INSERT INTO failovers ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                [pair, epoch, *values.values()],
            )
        elif values:
            assignments = ", ".join(f"{k} = ?" for k in values)
            self.db.execute(
                f"UPDATE failovers SET {assignments} WHERE id = ?", [*values.values(), row[0]]
            )

    def get(self, pair: str, epoch: int) -> dict[str, Any]:
        """One record's columns (``timeline`` parsed), empty when there is none."""
        cursor = self.db.execute(
            f"SELECT {', '.join(self.COLUMNS)} FROM failovers WHERE pair = ? AND epoch = ?",
            [pair, epoch],
        )
        row = cursor.fetchone()
        if row is None:
            return {}
        record = dict(zip(self.COLUMNS, row, strict=True))
        record["timeline"] = json.loads(record["timeline"] or "[]")
        return record

    def for_pair(self, pair: str, limit: int = 10) -> list[dict[str, Any]]:
        rows = select(
            self.db,
            "failovers",
            "SELECT * FROM failovers WHERE pair = ? ORDER BY id DESC LIMIT ?",
            [pair, limit],
        )
        result = []
        for row in rows:
            row["timeline"] = json.loads(row["timeline"] or "[]")
            result.append(row)
        return list(reversed(result))


class Store:
    """All tables of one store file."""

    def __init__(self, db: Connection) -> None:
        self.db = db
        self.link = ReplicaLink()
        self.objects = ObjectStore(db, self.link)
        self.revisions = RevisionLog(db)
        self.events = EventLog(db)
        self.journal = Journal(db, self.link)
        self.allocations = Allocations(db, self.link)
        self.leases = LeaseTable(db)
        self.heartbeats = HeartbeatTable(db)
        # The adopted revision, the held one, approvals and re-verification requests are
        # shared (``controller/revisions.py`` names): ``homeport approve`` on any control
        # plane checks what is held.
        self.source_state = KeyValue(
            db,
            "source_state",
            link=self.link,
            shared=frozenset({"adopted", "approvals", "held", "reverify"}),
            shared_as="source",
        )
        self.memory = Memory(db, self.link)
        self.failovers = FailoverLog(db, self.link)
        self.notifications = NotificationLog(db)
        self.notify_state = KeyValue(db, "notify_state")
        self.backups = BackupLog(db)

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Store:
        """The daemon's store (created and migrated through sqlite-utils), or a read-only
        one: a plain ``sqlite3`` connection, without sqlite-utils (the read commands)."""
        if readonly:
            return cls(open_database(path, readonly=True))
        return cls(open_database(path).conn)

    def replicate_to(self, replica: Replica | None) -> None:
        """Write shared rows through ``replica`` from now on (None: local only again)."""
        self.link.replica = replica

    def close(self) -> None:
        self.db.close()


__all__ = [
    "AllocationError",
    "DesiredObject",
    "Event",
    "Fingerprint",
    "Heartbeat",
    "JournalEntry",
    "Key",
    "Lease",
    "NotificationRecord",
    "Replica",
    "RevisionRecord",
    "SharedKey",
    "Store",
    "StoredObject",
]
