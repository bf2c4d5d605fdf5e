"""A read-only store (the read commands): a plain ``sqlite3`` connection that SQLite keeps
read-only, reading the WAL while the daemon writes, with the same rows the daemon's own
store reads — and without sqlite-utils, which only the daemon's path (schema, migrations)
loads."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from homeport.controller.store import DesiredObject, Heartbeat, Store, database
from homeport.controller.store.database import MIGRATIONS, open_database, select
from homeport.source.validate import validate_paths

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TABLES = (
    "objects",
    "revisions",
    "events",
    "journal",
    "leases",
    "allocations",
    "source_state",
    "failovers",
    "backups",
    "memory",
    "notifications",
    "heartbeats",
)


def at(seconds: int) -> datetime:
    return NOW + timedelta(seconds=seconds)


def populated(path: Path) -> Store:
    """The daemon's store with a few rows in every table."""
    store = Store.open(path)
    result = validate_paths([ROOT / "manifests"])
    desired = [DesiredObject(o.resource, o.file, o.line) for o in result.objects]
    store.objects.apply_revision("a" * 40, desired, NOW)
    for i, outcome in enumerate(("adopted", "rejected", "adopted", "held")):
        store.revisions.record(
            sha=f"{i % 2}" * 40, ref="refs/heads/main", outcome=outcome, now=at(i), objects=i
        )
    for i in range(6):
        store.events.emit(
            kind="App" if i % 2 else "VM",
            name="shop-a" if i < 4 else "shop-b",
            reason=f"R{i}",
            message=f"event {i}",
            now=at(i),
            warning=i % 3 == 0,
        )
    for i in range(4):
        entry = store.journal.intent(
            kind="VM",
            name="shop-a" if i < 3 else "dev-1",
            generation=1,
            verb="start",
            idempotency_key=f"k{i}",
            description=f"start {i}",
            fencing_token=1,
            holder="h",
            now=at(i),
        )
        if i < 2:
            store.journal.finish(entry, now=at(i + 1), error="boom" if i == 1 else None)
    for epoch in (1, 2, 3):
        store.failovers.upsert(
            "shop",
            epoch,
            {
                "trigger": "automatic",
                "from_app": "a",
                "to_app": "b",
                "phase": "Done",
                "started_at": at(epoch).isoformat(),
                "timeline": [{"phase": "Done", "at": "t"}],
                "rpo_seconds": 0.5,
                "outcome": "completed",
            },
        )
    for i in range(3):
        store.notifications.queued(
            topic="AuditFinding",
            kind="VM",
            name="shop-a",
            sink="ops",
            dedupe_key=f"d{i}",
            title=f"t{i}",
            now=at(i),
        )
    store.backups.record(
        "local:backup/a", {"vm": "shop-a", "policy": "daily", "ctime": 10}, now="t"
    )
    store.backups.record(
        "local:backup/b", {"vm": "shop-a", "policy": "daily", "ctime": 20}, now="t"
    )
    store.memory.set("VM", "shop-a", {"epoch": 2}, now="t")
    store.source_state.set("adopted", {"sha": "a" * 40})
    store.allocations.put("vmid", "VM", "shop-a", 1000, at="t")
    store.leases.try_acquire("controller", "h", now=0.0, duration=15.0, stamp=NOW)
    store.heartbeats.beat(Heartbeat("h", "leader", at(3).isoformat(), NOW.isoformat(), None))
    return store


def reads(store: Store) -> dict[str, Any]:
    """What every read method answers, from one store."""
    return {
        "objects.all": store.objects.all(),
        "objects.get": store.objects.get(("VM", "shop-a")),
        "objects.get missing": store.objects.get(("VM", "nope")),
        "objects.of_kind": store.objects.of_kind("App"),
        "objects.keys": store.objects.keys(),
        "revisions.recent": store.revisions.recent(3),
        "revisions.last": store.revisions.last(),
        "revisions.last rejected": store.revisions.last("rejected"),
        "revisions.find": store.revisions.find("0" * 40),
        "events.recent": store.events.recent(4),
        "events.recent warnings": store.events.recent(10, match={"type": "Warning"}),
        "events.since": store.events.since(2, 2),
        "events.since App": store.events.since(0, match={"kind": "App", "name": "shop-a"}),
        "events.for_object": store.events.for_object("VM", "shop-a", limit=1),
        "journal.get": store.journal.get(2),
        "journal.in_flight": store.journal.in_flight(),
        "journal.for_object": store.journal.for_object("VM", "shop-a", limit=2),
        "journal.entries": store.journal.entries(3),
        "failovers.for_pair": store.failovers.for_pair("shop", limit=2),
        "notifications.recent": store.notifications.recent(2),
        "backups.get": store.backups.get("local:backup/a"),
        "backups.for_vm": store.backups.for_vm("shop-a"),
        "backups.for_policy": store.backups.for_policy("daily", limit=1),
        "memory": store.memory.get("VM", "shop-a"),
        "source_state": store.source_state.get("adopted"),
        "lease": store.leases.current("controller"),
        "heartbeats": store.heartbeats.all(),
    }


def test_a_reader_reads_what_the_daemon_wrote_in_order_and_by_its_filters(
    tmp_path: Path,
) -> None:
    writer = populated(tmp_path / "state.db")
    reader = Store.open(tmp_path / "state.db", readonly=True)
    try:
        assert isinstance(reader.db, sqlite3.Connection)
        seen = reads(reader)
        assert seen == reads(writer)
        # Ordering, limits and filters, as the read commands show them.
        assert [e.reason for e in seen["events.recent"]] == ["R2", "R3", "R4", "R5"]
        assert [e.reason for e in seen["events.recent warnings"]] == ["R0", "R3"]
        assert [e.reason for e in seen["events.since"]] == ["R2", "R3"]
        assert [e.reason for e in seen["events.since App"]] == ["R1", "R3"]
        assert [e.reason for e in seen["events.for_object"]] == ["R2"]
        assert [r.outcome for r in seen["revisions.recent"]] == ["held", "adopted", "rejected"]
        assert seen["revisions.last"].outcome == "held"
        assert seen["revisions.last rejected"].recorded_at == at(1).isoformat()
        assert seen["revisions.find"].outcome == "adopted"
        assert seen["revisions.find"].objects == 2  # the newest of that sha
        assert [j.description for j in seen["journal.in_flight"]] == ["start 2", "start 3"]
        assert [(j.description, j.state) for j in seen["journal.for_object"]] == [
            ("start 1", "failed"),
            ("start 2", "intent"),
        ]
        assert [j.id for j in seen["journal.entries"]] == [1, 2, 3]
        assert seen["journal.get"].error == "boom"
        pairs = seen["failovers.for_pair"]
        assert [(r["epoch"], r["timeline"]) for r in pairs] == [
            (2, [{"phase": "Done", "at": "t"}]),
            (3, [{"phase": "Done", "at": "t"}]),
        ]
        assert [n.title for n in seen["notifications.recent"]] == ["t2", "t1"]
        assert [b["volid"] for b in seen["backups.for_vm"]] == ["local:backup/b", "local:backup/a"]
        assert [b["volid"] for b in seen["backups.for_policy"]] == ["local:backup/b"]
        assert seen["backups.get"]["offsite"] == {}
        assert seen["objects.get"].name == "shop-a" and seen["objects.get missing"] is None
        assert [o.kind for o in seen["objects.of_kind"]] == ["App"] * len(seen["objects.of_kind"])
        assert [o.key for o in seen["objects.all"]] == sorted(seen["objects.keys"])
    finally:
        reader.close()
        writer.close()


def test_a_reader_gets_the_rows_sqlite_utils_gave(tmp_path: Path) -> None:
    """Column names, order and value types: what ``rows_where`` answered before."""
    writer = populated(tmp_path / "state.db")
    reader = Store.open(tmp_path / "state.db", readonly=True)
    try:
        oracle = sqlite_utils.Database(writer.db)
        for table in TABLES:
            expected = list(oracle[table].rows_where(order_by="rowid"))
            rows = select(reader.db, table, f"SELECT * FROM {table} ORDER BY rowid")
            assert rows, table
            assert [list(r.items()) for r in rows] == [list(r.items()) for r in expected], table
    finally:
        reader.close()
        writer.close()


def test_a_reader_cannot_write(tmp_path: Path) -> None:
    populated(tmp_path / "state.db").close()
    before = (tmp_path / "state.db").read_bytes()
    reader = Store.open(tmp_path / "state.db", readonly=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.events.emit(kind="VM", name="x", reason="R", message="m", now=NOW)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.db.execute("CREATE TABLE intruder (id INTEGER)")
    finally:
        reader.close()
    assert (tmp_path / "state.db").read_bytes() == before


def test_a_reader_sees_the_daemons_writes_while_both_are_open(tmp_path: Path) -> None:
    """WAL: the daemon writes while a reader (``events --follow``) is open, neither waits."""
    writer = populated(tmp_path / "state.db")
    reader = Store.open(tmp_path / "state.db", readonly=True)
    try:
        last = reader.events.recent(1)[-1].id
        new = writer.events.emit(kind="VM", name="x", reason="Later", message="m", now=at(9))
        assert [(e.id, e.reason) for e in reader.events.since(last)] == [(new, "Later")]
        assert reader.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reader.db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    finally:
        reader.close()
        writer.close()


@pytest.mark.parametrize("folder", ["a#b", "a?b", "a%23b c"])
def test_a_reader_opens_a_store_whose_folder_name_looks_like_uri_syntax(
    tmp_path: Path, folder: str
) -> None:
    """A '#' or '?' in the path used to end SQLite's URI early: the reader opened (and
    created) another file, read-write, and saw an empty store."""
    (tmp_path / folder).mkdir()
    path = tmp_path / folder / "state.db"
    populated(path).close()
    reader = Store.open(path, readonly=True)
    try:
        assert len(reader.events.recent(100)) == 6
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.events.emit(kind="VM", name="x", reason="R", message="m", now=NOW)
    finally:
        reader.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]  # nothing else created


def test_tables_a_later_migration_adds_read_as_empty_in_an_older_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer CLI on a store an older daemon keeps (it never migrates): no rows yet."""
    monkeypatch.setattr(database, "MIGRATIONS", MIGRATIONS[:2])  # before power_ops, heartbeats
    Store.open(tmp_path / "state.db").close()
    monkeypatch.undo()
    reader = Store.open(tmp_path / "state.db", readonly=True)
    try:
        assert reader.notifications.recent() == []
        assert reader.heartbeats.all() == []
        with pytest.raises(sqlite3.OperationalError, match="no such column"):
            select(reader.db, "events", "SELECT nope FROM events")  # other errors stay errors
    finally:
        reader.close()


READ_EVERYTHING = """
import json, sys
from pathlib import Path
from homeport.controller.store import Store
store = Store.open(Path(sys.argv[1]), readonly=True)
store.objects.all(); store.events.recent(); store.journal.entries(); store.revisions.recent()
store.failovers.for_pair("shop"); store.notifications.recent()
store.backups.for_vm("shop-a"); store.heartbeats.all()
store.close()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2:])))
"""


def test_a_reader_loads_no_sqlite_utils(tmp_path: Path) -> None:
    """Its import costs every read command (with click, pluggy and dateutil); the daemon's
    path alone uses it."""
    populated(tmp_path / "state.db").close()
    heavy = ["sqlite_utils", "click", "pluggy", "dateutil"]
    ran = subprocess.run(
        [sys.executable, "-c", READ_EVERYTHING, str(tmp_path / "state.db"), *heavy],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(ran.stdout) == []
    writer = open_database(tmp_path / "state.db")  # the probe sees it where it is used
    assert isinstance(writer, sqlite_utils.Database)
    writer.close()
