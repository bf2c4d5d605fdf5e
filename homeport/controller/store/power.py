"""Estate power operations (``homeport estate shutdown|start``): one row per operation
with its progress per layer, written by ``controller/power/runner.py`` before and after
every step so that a run that died half-way resumes where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from homeport.controller.store.database import Connection, select

RUNNING = "running"
DONE = "done"
FAILED = "failed"
SUPERSEDED = "superseded"


@dataclass(frozen=True)
class PowerOp:
    id: int
    op: str  # shutdown | start
    target_layer: int
    """shutdown: the lowest layer stopped; start: 4 (everything)."""
    state: str  # running | done | failed | superseded
    holder: str
    started_at: str
    finished_at: str
    progress: dict[str, Any] = field(default_factory=dict)
    """{"layers": {"<layer>": {"startedAt", "finishedAt", "seconds", "vms": {name: state}}}}"""
    error: str = ""

    def layer(self, layer: int) -> dict[str, Any]:
        layers: dict[str, Any] = self.progress.get("layers", {})
        return dict(layers.get(str(layer), {}))


class PowerLog:
    def __init__(self, db: Connection) -> None:
        self.db = db

    def _parse(self, row: dict[str, Any]) -> PowerOp:
        return PowerOp(**{**row, "progress": json.loads(row["progress"] or "{}")})

    def begin(self, *, op: str, target_layer: int, holder: str, now: datetime) -> PowerOp:
        cursor = self.db.execute(
            "INSERT INTO power_ops (op, target_layer, state, holder, started_at, finished_at,"
            " progress, error) VALUES (?, ?, 'running', ?, ?, '', '{}', '')",
            [op, target_layer, holder, now.isoformat()],
        )
        found = self.get(int(cursor.lastrowid or 0))
        assert found is not None
        return found

    def get(self, op_id: int) -> PowerOp | None:
        rows = select(self.db, "power_ops", "SELECT * FROM power_ops WHERE id = ?", [op_id])
        return self._parse(rows[0]) if rows else None

    def unfinished(self) -> PowerOp | None:
        rows = select(
            self.db,
            "power_ops",
            "SELECT * FROM power_ops WHERE state = 'running' ORDER BY id DESC LIMIT 1",
        )
        return self._parse(rows[0]) if rows else None

    def recent(self, limit: int = 10) -> list[PowerOp]:
        rows = select(
            self.db, "power_ops", "SELECT * FROM power_ops ORDER BY id DESC LIMIT ?", [limit]
        )
        return [self._parse(r) for r in rows]

    def save_progress(self, op_id: int, progress: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE power_ops SET progress = ? WHERE id = ?", [json.dumps(progress), op_id]
        )

    def finish(self, op_id: int, *, state: str, now: datetime, error: str = "") -> None:
        self.db.execute(
            "UPDATE power_ops SET state = ?, finished_at = ?, error = ? WHERE id = ?",
            [state, now.isoformat(), error, op_id],
        )
