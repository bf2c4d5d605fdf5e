"""Append-only records: adopted/rejected revisions and events.

The source (``homeport.source``) outcome of every revision goes to ``revisions``; the
engine's notable happenings go to ``events`` (what ``homeport events`` streams).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from homeport.controller.store.database import Connection, select


@dataclass(frozen=True)
class RevisionRecord:
    id: int
    sha: str
    ref: str
    outcome: str
    reason: str
    message: str
    errors: list[dict[str, Any]]
    objects: int
    committed_at: str
    recorded_at: str


@dataclass(frozen=True)
class Event:
    id: int
    at: str
    kind: str
    name: str
    type: str
    reason: str
    message: str


class RevisionLog:
    def __init__(self, db: Connection) -> None:
        self.db = db

    def record(
        self,
        *,
        sha: str,
        ref: str,
        outcome: str,
        now: datetime,
        reason: str = "",
        message: str = "",
        errors: list[dict[str, Any]] | None = None,
        objects: int = 0,
        committed_at: datetime | None = None,
    ) -> int:
        row = {
            "sha": sha,
            "ref": ref,
            "outcome": outcome,
            "reason": reason,
            "message": message,
            "errors": json.dumps(errors or []),
            "objects": objects,
            "committed_at": committed_at.isoformat() if committed_at else "",
            "recorded_at": now.isoformat(),
        }
        cursor = self.db.execute(
            "INSERT INTO revisions (sha, ref, outcome, reason, message, errors, objects,"
            " committed_at, recorded_at) VALUES (:sha, :ref, :outcome, :reason, :message,"
            " :errors, :objects, :committed_at, :recorded_at)",
            row,
        )
        return int(cursor.lastrowid or 0)

    def _parse(self, row: dict[str, Any]) -> RevisionRecord:
        return RevisionRecord(**{**row, "errors": json.loads(row["errors"] or "[]")})

    def recent(self, limit: int = 20) -> list[RevisionRecord]:
        rows = select(
            self.db, "revisions", "SELECT * FROM revisions ORDER BY id DESC LIMIT ?", [limit]
        )
        return [self._parse(r) for r in rows]

    def last(self, outcome: str | None = None) -> RevisionRecord | None:
        where, args = ("WHERE outcome = ?", [outcome]) if outcome else ("", [])
        rows = select(
            self.db, "revisions", f"SELECT * FROM revisions {where} ORDER BY id DESC LIMIT 1", args
        )
        return self._parse(rows[0]) if rows else None

    def find(self, sha: str) -> RevisionRecord | None:
        rows = select(
            self.db,
            "revisions",
            "SELECT * FROM revisions WHERE sha = ? ORDER BY id DESC LIMIT 1",
            [sha],
        )
        return self._parse(rows[0]) if rows else None


class EventLog:
    def __init__(self, db: Connection) -> None:
        self.db = db

    def emit(
        self,
        *,
        kind: str,
        name: str,
        reason: str,
        message: str,
        now: datetime,
        warning: bool = False,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO events (at, kind, name, type, reason, message) VALUES (?, ?, ?, ?, ?, ?)",
            [now.isoformat(), kind, name, "Warning" if warning else "Normal", reason, message],
        )
        return int(cursor.lastrowid or 0)

    def since(
        self, after_id: int = 0, limit: int = 1000, *, match: Match | None = None
    ) -> list[Event]:
        """Events after ``after_id``, oldest first; ``match`` narrows by column
        (``kind``, ``name``, ``type``; None matches anything)."""
        where, args = _where(match or {})
        rows = select(
            self.db,
            "events",
            f"SELECT * FROM events WHERE {' AND '.join(['id > ?', *where])} ORDER BY id LIMIT ?",
            [after_id, *args, limit],
        )
        return [Event(**r) for r in rows]

    def for_object(self, kind: str, name: str, limit: int = 20) -> list[Event]:
        rows = select(
            self.db,
            "events",
            "SELECT * FROM events WHERE kind = ? AND name = ? ORDER BY id DESC LIMIT ?",
            [kind, name, limit],
        )
        return list(reversed([Event(**r) for r in rows]))

    def recent(self, limit: int = 20, *, match: Match | None = None) -> list[Event]:
        """The last ``limit`` events, oldest first, narrowed like :meth:`since`."""
        where, args = _where(match or {})
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        rows = select(
            self.db,
            "events",
            f"SELECT * FROM events {condition} ORDER BY id DESC LIMIT ?",
            [*args, limit],
        )
        return list(reversed([Event(**r) for r in rows]))


# Event columns to match exactly (``kind``, ``name``, ``type``, ``reason``); None: any.
Match: TypeAlias = Mapping[str, str | None]
_EVENT_COLUMNS = frozenset({"kind", "name", "type", "reason"})


def _where(match: Match) -> tuple[list[str], list[str]]:
    unknown = set(match) - _EVENT_COLUMNS
    if unknown:  # column names go into SQL: only known ones
        raise TypeError(f"events cannot be matched on {sorted(unknown)}")
    present = sorted((column, value) for column, value in match.items() if value is not None)
    return [f"{column} = ?" for column, _ in present], [value for _, value in present]
