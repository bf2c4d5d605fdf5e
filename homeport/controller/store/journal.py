"""The action journal: every mutating action's intent before it runs, its result after.

Keyed by an idempotency key derived from the object, its generation and the action, and
stamped with the leader's fencing token. After a crash, entries left at ``intent`` are
marked ``interrupted`` on start; the reconciler's next observe/plan decides what (if
anything) still needs doing, so nothing is performed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils


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


class Journal:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

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
        return int(cursor.lastrowid or 0)

    def finish(self, entry_id: int, *, now: datetime, error: str | None = None) -> None:
        self.db.execute(
            "UPDATE journal SET state = ?, error = ?, finished_at = ? WHERE id = ?",
            ["failed" if error else "done", error or "", now.isoformat(), entry_id],
        )

    def in_flight(self) -> list[JournalEntry]:
        return [JournalEntry(**r) for r in self.db["journal"].rows_where("state = 'intent'")]

    def mark_interrupted(self, *, now: datetime) -> list[JournalEntry]:
        """On start: whatever was in flight when the last process died."""
        entries = self.in_flight()
        self.db.execute(
            "UPDATE journal SET state = 'interrupted', finished_at = ? WHERE state = 'intent'",
            [now.isoformat()],
        )
        return entries

    def for_object(self, kind: str, name: str, limit: int = 20) -> list[JournalEntry]:
        rows = self.db["journal"].rows_where(
            "kind = ? and name = ?", [kind, name], order_by="id desc", limit=limit
        )
        return list(reversed([JournalEntry(**r) for r in rows]))

    def entries(self, limit: int = 100_000) -> list[JournalEntry]:
        return [
            JournalEntry(**r) for r in self.db["journal"].rows_where(order_by="id", limit=limit)
        ]
