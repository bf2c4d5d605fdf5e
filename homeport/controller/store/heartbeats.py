"""Daemons' heartbeats: one row per running daemon, rewritten every few seconds.

``homeport status`` and the status page read them to tell whether anything is acting now
(a lease row only says who led last). Written by ``controller/liveness.py``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from homeport.controller.store.database import Connection


@dataclass(frozen=True)
class Heartbeat:
    holder: str
    """The daemon's leadership identity (``host:pid:nonce``)."""
    role: str
    """``leader``, ``standby`` (alive, not leading) or ``stopped`` (it exited cleanly)."""
    beat_at: str
    """ISO 8601 time of the last beat."""
    started_at: str
    web_url: str | None
    """The status page this daemon serves, if any."""


class HeartbeatTable:
    def __init__(self, db: Connection) -> None:
        self.db = db

    def beat(self, heartbeat: Heartbeat) -> None:
        self.db.execute(
            "INSERT INTO heartbeats (holder, role, beat_at, started_at, web_url)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(holder) DO UPDATE SET role = excluded.role,"
            " beat_at = excluded.beat_at, web_url = excluded.web_url",
            [
                heartbeat.holder,
                heartbeat.role,
                heartbeat.beat_at,
                heartbeat.started_at,
                heartbeat.web_url,
            ],
        )

    def all(self) -> list[Heartbeat]:
        """Newest beat first (none in a store no daemon of this version has opened yet)."""
        try:
            rows = self.db.execute(
                "SELECT holder, role, beat_at, started_at, web_url FROM heartbeats"
                " ORDER BY beat_at DESC"
            ).fetchall()
        except sqlite3.OperationalError:  # read-only, not migrated: an older daemon's store
            return []
        return [Heartbeat(*row) for row in rows]

    def forget_before(self, stamp: str) -> None:
        """Drop the rows of daemons silent since before ``stamp`` (restarts add new rows)."""
        self.db.execute("DELETE FROM heartbeats WHERE beat_at < ?", [stamp])
