"""The notifier's record (``services/notify``): every notification with its sink, state
and attempts; and its small state (the last event it read, the leader it last saw).

Rows hold the rendered title and the object, never a sink's secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from homeport.controller.store.database import Connection, select


@dataclass(frozen=True)
class NotificationRecord:
    id: int
    topic: str
    kind: str
    name: str
    sink: str
    dedupe_key: str
    title: str
    state: str  # queued | sent | failed | dropped
    attempts: int
    created_at: str
    finished_at: str
    error: str


class NotificationLog:
    def __init__(self, db: Connection) -> None:
        self.db = db

    def queued(
        self,
        *,
        topic: str,
        kind: str,
        name: str,
        sink: str,
        dedupe_key: str,
        title: str,
        now: datetime,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO notifications (topic, kind, name, sink, dedupe_key, title, state,"
            " attempts, created_at, finished_at, error)"
            " VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, '', '')",
            [topic, kind, name, sink, dedupe_key, title, now.isoformat()],
        )
        return int(cursor.lastrowid or 0)

    def finished(
        self, record_id: int, *, state: str, attempts: int, now: datetime, error: str = ""
    ) -> None:
        self.db.execute(
            "UPDATE notifications SET state = ?, attempts = ?, finished_at = ?, error = ?"
            " WHERE id = ?",
            [state, attempts, now.isoformat(), error[:500], record_id],
        )

    def sent_since(self, sink: str, dedupe_key: str, since: datetime) -> bool:
        """Whether this notification already went (or is going) to ``sink`` since ``since``."""
        row = self.db.execute(
            "SELECT 1 FROM notifications WHERE sink = ? AND dedupe_key = ? AND created_at >= ?"
            " AND state IN ('queued', 'sent') LIMIT 1",
            [sink, dedupe_key, since.isoformat()],
        ).fetchone()
        return row is not None

    def recent(self, limit: int = 50) -> list[NotificationRecord]:
        rows = select(
            self.db,
            "notifications",
            "SELECT * FROM notifications ORDER BY id DESC LIMIT ?",
            [limit],
        )
        return [NotificationRecord(**r) for r in rows]
