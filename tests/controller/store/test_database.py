"""The store's schema migrations: each one whole or not at all; opening is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from homeport.controller.store import database
from homeport.controller.store.database import MIGRATIONS, open_database, schema_version


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
