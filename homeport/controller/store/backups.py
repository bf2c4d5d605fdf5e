"""Backup records: what homeport knows about each archive that cannot be re-observed.

One row per archive (``volid``) in the ``backups`` table (schema v1): the VM and policy it
belongs to, its source checksum, its offsite copies (``offsite``: one entry per target with
state ``verified`` or ``mismatch``, both checksums, attempts and time) and the last restore
test from it. The BackupPolicy reconciler writes them through ``ObjectContext.record_backup``
and reads them back in ``observe``; ``homeport backup``/``restore`` and ``describe`` read them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from homeport.controller.store.database import Connection, select

COLUMNS = ("vm", "vmid", "policy", "storage", "ctime", "size", "sha256")


class BackupLog:
    def __init__(self, db: Connection) -> None:
        self.db = db

    def record(self, volid: str, fields: Mapping[str, Any], *, now: str) -> None:
        """Create or update ``volid``'s row; ``offsite`` entries merge per target."""
        current = self.get(volid)
        row: dict[str, Any] = {k: v for k, v in fields.items() if k in COLUMNS}
        if "offsite" in fields:
            merged = dict(current["offsite"]) if current else {}
            merged.update(fields["offsite"])
            row["offsite"] = json.dumps(merged, sort_keys=True)
        if "restore_test" in fields:
            row["restore_test"] = json.dumps(fields["restore_test"], sort_keys=True)
        row["recorded_at"] = now
        if current is None:
            row.setdefault("offsite", "{}")
            row.setdefault("restore_test", "null")
            columns = ["volid", *row]
            self.db.execute(
                f"INSERT INTO backups ({', '.join(columns)})"
                f" VALUES ({', '.join('?' for _ in columns)})",
                [volid, *row.values()],
            )
            return
        assignments = ", ".join(f"{k} = ?" for k in row)
        self.db.execute(f"UPDATE backups SET {assignments} WHERE volid = ?", [*row.values(), volid])

    def get(self, volid: str) -> dict[str, Any] | None:
        rows = select(self.db, "backups", "SELECT * FROM backups WHERE volid = ? LIMIT 1", [volid])
        return _parse(rows[0]) if rows else None

    def for_vm(self, vm: str, limit: int = 100) -> list[dict[str, Any]]:
        """The VM's records, newest archive first."""
        rows = select(
            self.db,
            "backups",
            "SELECT * FROM backups WHERE vm = ? ORDER BY ctime DESC, volid DESC LIMIT ?",
            [vm, limit],
        )
        return [_parse(r) for r in rows]

    def for_policy(self, policy: str, limit: int = 1000) -> list[dict[str, Any]]:
        rows = select(
            self.db,
            "backups",
            "SELECT * FROM backups WHERE policy = ? ORDER BY ctime DESC, volid DESC LIMIT ?",
            [policy, limit],
        )
        return [_parse(r) for r in rows]


def _parse(row: Mapping[str, Any]) -> dict[str, Any]:
    parsed = dict(row)
    parsed["offsite"] = json.loads(row.get("offsite") or "{}")
    parsed["restore_test"] = json.loads(row.get("restore_test") or "null")
    return parsed
