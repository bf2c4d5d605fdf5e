"""The store's schema migrations: each one whole or not at all; opening is idempotent."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from homeport.controller.store import Store, database
from homeport.controller.store.database import MIGRATIONS, open_database, schema_version

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_new_store_is_at_the_latest_version_and_reopening_changes_nothing(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path / "state.db")
    assert schema_version(db) == len(MIGRATIONS)
    tables = set(db.table_names())
    assert {"objects", "journal", "allocations", "memory", "failovers"} <= tables
    db.conn.close()
    again = open_database(tmp_path / "state.db")
    assert schema_version(again) == len(MIGRATIONS)
    assert set(again.table_names()) == tables
    again.conn.close()


def test_a_failing_migration_leaves_the_previous_version_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    open_database(path).conn.close()

    def broken(db: sqlite_utils.Database) -> None:
        db.table("half_done").create({"id": int}, pk="id")
        db.execute("ALTER TABLE objects ADD COLUMN half TEXT")
        raise RuntimeError("disk gone mid-migration")

    monkeypatch.setattr(database, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="mid-migration"):
        open_database(path)
    monkeypatch.undo()
    db = open_database(path)
    assert schema_version(db) == len(MIGRATIONS)
    assert "half_done" not in db.table_names()
    assert "half" not in db.table("objects").columns_dict
    db.conn.close()


def test_a_reader_is_told_when_there_is_no_store_yet(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no store yet"):
        open_database(tmp_path / "missing.db", readonly=True)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_the_store_and_its_wal_are_owner_only_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    previous = os.umask(umask)
    try:
        store = Store.open(tmp_path / "state.db")
        store.events.emit(kind="VM", name="web", reason="Test", message="m", now=NOW)
        files = [tmp_path / name for name in ("state.db", "state.db-wal", "state.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
            f.name: 0o600 for f in files
        }
        store.close()
    finally:
        os.umask(previous)


def test_an_older_store_others_could_read_is_tightened(tmp_path: Path) -> None:
    Store.open(tmp_path / "state.db").close()
    (tmp_path / "state.db").chmod(0o644)
    Store.open(tmp_path / "state.db").close()
    assert stat.S_IMODE((tmp_path / "state.db").stat().st_mode) == 0o600
