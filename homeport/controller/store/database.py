"""Opening the SQLite store (WAL) and migrating its schema.

One file, one writer (the daemon), any number of readers (the CLI opens it read-only and
never blocks the daemon thanks to WAL). ``MIGRATIONS`` is append-only: each entry brings
the schema from version N to N+1 inside one transaction.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, overload

if TYPE_CHECKING:
    # Only the writer's path (schema, migrations) uses sqlite-utils, imported there: a
    # read-only store loads the standard library's sqlite3 alone (the read commands start
    # fast, docs/benchmarks.md#cli-start-up).
    import sqlite_utils

Parameters: TypeAlias = Sequence[Any] | Mapping[str, Any]


class Connection(Protocol):
    """What the store's tables need of a database: a DB-API connection's ``execute`` and
    ``close``, and whether a transaction is open (``shared_write`` nests in one).
    ``sqlite3.Connection`` is one; the daemon's is migrated through sqlite-utils first."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Parameters = ..., /) -> sqlite3.Cursor: ...

    def close(self) -> None: ...


def select(
    db: Connection, table: str, sql: str, parameters: Parameters = ()
) -> list[dict[str, Any]]:
    """The rows of a query on ``table`` as column → value dicts (a ``sqlite3.Row`` factory
    on this cursor only: plain ``execute`` keeps returning tuples).

    A table that does not exist reads as empty: a table a later migration adds, in a store
    no daemon of this version has opened yet (a read-only reader never migrates)."""
    try:
        cursor = db.execute(sql, parameters)
    except sqlite3.OperationalError:
        if _has_table(db, table):
            raise
        return []
    cursor.row_factory = sqlite3.Row
    return [dict(row) for row in cursor]


def _has_table(db: Connection, table: str) -> bool:
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()
    return found is not None


Migration: TypeAlias = "Callable[[sqlite_utils.Database], None]"


def _v1(db: sqlite_utils.Database) -> None:
    # if_not_exists: a crash half-way through a migration must not wedge the next start.
    db.table("objects").create(
        {
            "kind": str,
            "name": str,
            "manifest": str,  # canonical JSON of the whole manifest (apiVersion, kind, metadata, spec)
            "spec_hash": str,
            "generation": int,
            "revision": str,
            "file": str,
            "line": int,
            "deleting": int,
            "status": str,  # JSON of ObjectStatus
            "created_at": str,
            "updated_at": str,
        },
        pk=("kind", "name"),
        if_not_exists=True,
    )
    db.table("revisions").create(
        {
            "id": int,
            "sha": str,
            "ref": str,
            "outcome": str,  # adopted | rejected | held | unchanged
            "reason": str,
            "message": str,
            "errors": str,  # JSON list of ManifestError.as_json()
            "objects": int,
            "committed_at": str,
            "recorded_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("revisions").create_index(["sha"], if_not_exists=True)
    db.table("events").create(
        {
            "id": int,
            "at": str,
            "kind": str,
            "name": str,
            "type": str,  # Normal | Warning
            "reason": str,
            "message": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("events").create_index(["kind", "name"], if_not_exists=True)
    db.table("journal").create(
        {
            "id": int,
            "kind": str,
            "name": str,
            "generation": int,
            "verb": str,
            "idempotency_key": str,
            "description": str,  # human text, secrets masked
            "state": str,  # intent | done | failed | interrupted
            "error": str,
            "fencing_token": int,
            "holder": str,
            "started_at": str,
            "finished_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("journal").create_index(["state"], if_not_exists=True)
    db.table("journal").create_index(["kind", "name"], if_not_exists=True)
    db.table("leases").create(
        {"name": str, "holder": str, "token": int, "expires": float, "acquired_at": str},
        pk="name",
        if_not_exists=True,
    )
    db.table("allocations").create(
        {"pool": str, "value": int, "kind": str, "name": str, "allocated_at": str},
        pk=("pool", "value"),
        if_not_exists=True,
    )
    db.table("allocations").create_index(["pool", "kind", "name"], unique=True, if_not_exists=True)
    db.table("source_state").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db.table("failovers").create(
        {
            "id": int,
            "pair": str,
            "epoch": int,
            "trigger": str,  # automatic | manual | failover | failback | maintenance
            "from_app": str,
            "to_app": str,
            "phase": str,
            "started_at": str,
            "finished_at": str,
            "timeline": str,  # JSON list of {phase, at, detail}
            "rpo_seconds": float,
            "outcome": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("failovers").create_index(["pair"], if_not_exists=True)
    db.table("pair_state").create(
        {"pair": str, "state": str, "updated_at": str}, pk="pair", if_not_exists=True
    )
    db.table("backups").create(
        {
            "volid": str,
            "vm": str,
            "vmid": int,
            "policy": str,
            "storage": str,
            "ctime": int,
            "size": int,
            "sha256": str,
            "offsite": str,  # JSON: {target: copied_at}
            "restore_test": str,  # JSON: last result
            "recorded_at": str,
        },
        pk="volid",
        if_not_exists=True,
    )
    db.table("backups").create_index(["vm"], if_not_exists=True)


def _v2(db: sqlite_utils.Database) -> None:
    # Durable per-object memory of reconcilers (a failover's epoch and phase, the last
    # replication sync...): what cannot be re-observed and must survive a crash mid-way.
    db.table("memory").create(
        {"kind": str, "name": str, "value": str, "updated_at": str},
        pk=("kind", "name"),
        if_not_exists=True,
    )


def _v3(db: sqlite_utils.Database) -> None:
    # Estate power operations, once run outside the engine; now requests in the
    # Estate/power object's memory (reconcilers/estate). A migration stays as it was.
    db.table("power_ops").create(
        {
            "id": int,
            "op": str,  # shutdown | start
            "target_layer": int,
            "state": str,  # running | done | failed | superseded
            "holder": str,
            "started_at": str,
            "finished_at": str,
            "progress": str,  # JSON: per layer, its VMs and timings
            "error": str,
        },
        pk="id",
        if_not_exists=True,
    )
    # Notifications sent (or not) per sink, for deduplication and `homeport notifications`.
    db.table("notifications").create(
        {
            "id": int,
            "topic": str,
            "kind": str,
            "name": str,
            "sink": str,
            "dedupe_key": str,
            "title": str,
            "state": str,  # queued | sent | failed | dropped
            "attempts": int,
            "created_at": str,
            "finished_at": str,
            "error": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("notifications").create_index(["sink", "dedupe_key"], if_not_exists=True)
    db.table("notify_state").create({"key": str, "value": str}, pk="key", if_not_exists=True)


def _v4(db: sqlite_utils.Database) -> None:
    # Daemons' heartbeats (`homeport status`: is anything acting now, not who led last).
    db.table("heartbeats").create(
        {"holder": str, "role": str, "beat_at": str, "started_at": str, "web_url": str},
        pk="holder",
        if_not_exists=True,
    )


MIGRATIONS: tuple[Migration, ...] = (_v1, _v2, _v3, _v4)


def schema_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations; return the resulting version."""
    version = schema_version(db)
    for target, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        # The connection is in autocommit mode: the transaction is explicit, so a crash
        # or an error mid-migration leaves the schema at version N, never half of N+1.
        db.execute("BEGIN IMMEDIATE")
        try:
            migration(db)
            db.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return schema_version(db)


STORE_MODE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")


def _owner_only(path: Path) -> None:
    """Create the store 0600 whatever the umask, and tighten an older, wider one.

    The store holds the estate's events, journal and failover records; SQLite creates its
    ``-wal`` and ``-shm`` files with the database file's mode, so the main file decides."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, STORE_MODE))
    for name in (path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, STORE_MODE)


@overload
def open_database(path: Path, *, readonly: Literal[False] = False) -> sqlite_utils.Database: ...
@overload
def open_database(path: Path, *, readonly: Literal[True]) -> sqlite3.Connection: ...
def open_database(
    path: Path, *, readonly: bool = False
) -> sqlite_utils.Database | sqlite3.Connection:
    """Open (and for writers create and migrate) the store.

    A reader gets a plain ``sqlite3`` connection that SQLite itself keeps read-only
    (``mode=ro``): it reads the WAL while the daemon writes, and never migrates."""
    if readonly:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no store yet (has the daemon run?)")
        # as_uri() percent-encodes the path: a '?' or '#' in a folder's name cannot end
        # the path early and drop mode=ro (SQLite would then open, or create, for writing).
        uri = f"{path.absolute().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn
    import sqlite_utils  # the writer's tool (see the imports above)

    path.parent.mkdir(parents=True, exist_ok=True)
    _owner_only(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.enable_wal()
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA synchronous = NORMAL")
    migrate(db)
    return db
