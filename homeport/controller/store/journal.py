"""The action journal: every mutating action's intent before it runs, its result after.

Keyed by an idempotency key derived from the object, its generation and the action, and
stamped with the leader's fencing token. After a crash, entries left at ``intent`` are
marked ``interrupted`` on start; the reconciler's next observe/plan decides what (if
anything) still needs doing, so nothing is performed twice.

With the etcd backend every entry is also shared as ``("journal", token, id)``: the intent
must reach etcd (a fenced write: only the current leader's succeeds) before the action
runs, so a new leader sees what its predecessor had in flight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from homeport.controller.store.database import Connection, select
from homeport.controller.store.replica import Replica, ReplicaLink, shared_write


@dataclass(frozen=True)
class JournalEntry:
    id: int
    kind: str
    name: str
    generation: int
    verb: str
    idempotency_key: str
    description: str
    state: str
    error: str
    fencing_token: int
    holder: str
    started_at: str
    finished_at: str

    def shared(self) -> dict[str, Any]:
        """The entry as shared with the other control planes (ids are per store)."""
        document = asdict(self)
        document.pop("id")
        return document


class Journal:
    def __init__(self, db: Connection, link: ReplicaLink | None = None) -> None:
        self.db = db
        self.link = link or ReplicaLink()

    def intent(
        self,
        *,
        kind: str,
        name: str,
        generation: int,
        verb: str,
        idempotency_key: str,
        description: str,
        fencing_token: int,
        holder: str,
        now: datetime,
    ) -> int:
        with shared_write(self.db, self.link) as replica:
            cursor = self.db.execute(
                "INSERT INTO journal (kind, name, generation, verb, idempotency_key, description,"
                " state, error, fencing_token, holder, started_at, finished_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'intent', '', ?, ?, ?, '')",
                [
                    kind,
                    name,
                    generation,
                    verb,
                    idempotency_key,
                    description,
                    fencing_token,
                    holder,
                    now.isoformat(),
                ],
            )
            entry_id = int(cursor.lastrowid or 0)
            if replica is not None:
                self._share(replica, entry_id, required=True)
        return entry_id

    def finish(self, entry_id: int, *, now: datetime, error: str | None = None) -> None:
        with shared_write(self.db, self.link) as replica:
            self.db.execute(
                "UPDATE journal SET state = ?, error = ?, finished_at = ? WHERE id = ?",
                ["failed" if error else "done", error or "", now.isoformat(), entry_id],
            )
            if replica is not None:
                # The action happened (or failed) either way; a fenced-out leader's record
                # of it stays local and its successor marks the intent interrupted.
                self._share(replica, entry_id, required=False)

    def get(self, entry_id: int) -> JournalEntry | None:
        rows = select(self.db, "journal", "SELECT * FROM journal WHERE id = ?", [entry_id])
        return JournalEntry(**rows[0]) if rows else None

    def _share(self, replica: Replica, entry_id: int, *, required: bool) -> None:
        entry = self.get(entry_id)
        if entry is not None:
            replica.put(
                ("journal", entry.fencing_token, entry.id), entry.shared(), required=required
            )

    def merge(self, document: dict[str, Any]) -> None:
        """An entry from another control plane (or this one's, back): add it, or update the
        state of the local copy (same holder, token, key and start)."""
        row = self.db.execute(
            "SELECT id FROM journal WHERE holder = ? AND fencing_token = ? AND"
            " idempotency_key = ? AND started_at = ?",
            [
                document["holder"],
                document["fencing_token"],
                document["idempotency_key"],
                document["started_at"],
            ],
        ).fetchone()
        if row is not None:
            self.db.execute(
                "UPDATE journal SET state = ?, error = ?, finished_at = ? WHERE id = ?",
                [document["state"], document["error"], document["finished_at"], row[0]],
            )
            return
        columns = [c for c in JournalEntry.__dataclass_fields__ if c != "id"]
        self.db.execute(
            f"INSERT INTO journal ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            [document[c] for c in columns],
        )

    def in_flight(self) -> list[JournalEntry]:
        rows = select(self.db, "journal", "SELECT * FROM journal WHERE state = 'intent'")
        return [JournalEntry(**r) for r in rows]

    def mark_interrupted(self, *, now: datetime) -> list[JournalEntry]:
        """On start: whatever was in flight when the last process died."""
        entries = self.in_flight()
        self.db.execute(
            "UPDATE journal SET state = 'interrupted', finished_at = ? WHERE state = 'intent'",
            [now.isoformat()],
        )
        return entries

    def for_object(self, kind: str, name: str, limit: int = 20) -> list[JournalEntry]:
        rows = select(
            self.db,
            "journal",
            "SELECT * FROM journal WHERE kind = ? AND name = ? ORDER BY id DESC LIMIT ?",
            [kind, name, limit],
        )
        return list(reversed([JournalEntry(**r) for r in rows]))

    def entries(self, limit: int = 100_000) -> list[JournalEntry]:
        rows = select(self.db, "journal", "SELECT * FROM journal ORDER BY id LIMIT ?", [limit])
        return [JournalEntry(**r) for r in rows]
