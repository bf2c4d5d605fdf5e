"""The objects table: desired state of the adopted revision plus homeport's status.

Written atomically per revision by ``apply_revision`` (all objects or none), which
``revisions.py`` calls when it adopts a revision; status is written by the engine after
each reconcile (``set_status``). Objects removed from git stay, marked
``deleting``, until their reconciler has pruned what they own.

Shared with the other control planes (etcd backend): status as ``("status", kind, name)``
and objects awaiting their prune as ``("prune", kind, name)`` with their last manifest, so
a new leader finishes prunes of objects it never saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from homeport import kinds
from homeport.controller.store.database import Connection, select
from homeport.controller.store.replica import Replica, ReplicaLink, shared_write
from homeport.controller.store.transaction import transaction
from homeport.kinds import ObjectStatus, Resource

Key = tuple[str, str]
Fingerprint = tuple[tuple[str, str, str], ...]
"""Every stored object's kind, name and ``spec_hash`` (``ObjectStore.fingerprint``)."""


def canonical_manifest(resource: Resource) -> dict[str, Any]:
    return resource.model_dump(mode="json", by_alias=True, exclude_none=False)


def spec_hash(manifest: dict[str, Any]) -> str:
    relevant = {"metadata": manifest.get("metadata"), "spec": manifest.get("spec")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class StoredObject:
    """One row of the objects table, parsed."""

    kind: str
    name: str
    manifest: dict[str, Any]
    generation: int
    revision: str
    file: str
    line: int
    deleting: bool
    status: ObjectStatus
    created_at: str
    updated_at: str
    spec_hash: str = ""
    """The digest written with ``manifest`` (``spec_hash``); empty: not known."""

    @property
    def key(self) -> Key:
        return (self.kind, self.name)

    def resource(self) -> Resource:
        """The manifest as its kind's model; validated once per manifest: the estate's
        indexes are rebuilt from the store every window, and validating every object for
        each was a cost that grew with the estate's size times the run's length."""
        manifest = self.manifest
        return _model(self.key, self.spec_hash, manifest.get("apiVersion"), lambda: manifest)

    def condition(self, kind: str) -> str | None:
        for condition in self.status.conditions:
            if condition.type == kind:
                return condition.status
        return None

    @property
    def ready(self) -> bool:
        return self.condition("Ready") == "True"


@dataclass(frozen=True)
class DesiredObject:
    """What a revision says about one object."""

    resource: Resource
    file: str
    line: int

    @property
    def key(self) -> Key:
        return (self.resource.kind_name, self.resource.metadata.name)


_MODELS: dict[Key, tuple[tuple[str, str], Resource]] = {}
"""(kind, name) → ((``spec_hash``, apiVersion) of the manifest it was validated from, the
model): its metadata and spec, and the rest of a manifest is its kind and apiVersion."""


def _model(
    key: Key, digest: str, api_version: object, manifest: Callable[[], dict[str, Any]]
) -> Resource:
    """The model of ``key``'s manifest, validated (``manifest()`` called) only when no model
    of the same ``spec_hash`` and apiVersion was made before."""
    kind = kinds.KINDS[key[0]]
    if not digest:
        return kind.model_validate(manifest())
    version = (digest, str(api_version))
    cached = _MODELS.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    model = kind.model_validate(manifest())
    _MODELS[key] = (version, model)  # models are frozen: shared safely
    return model


def _row_to_object(row: dict[str, Any]) -> StoredObject:
    return StoredObject(
        kind=row["kind"],
        name=row["name"],
        manifest=json.loads(row["manifest"]),
        generation=row["generation"],
        revision=row["revision"] or "",
        file=row["file"] or "",
        line=row["line"] or 0,
        deleting=bool(row["deleting"]),
        status=ObjectStatus.model_validate_json(row["status"]) if row["status"] else ObjectStatus(),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        spec_hash=row.get("spec_hash") or "",
    )


class ObjectStore:
    def __init__(self, db: Connection, link: ReplicaLink | None = None) -> None:
        self.db = db
        self.link = link or ReplicaLink()
        self._writes = 0
        """Calls that may have changed which objects exist or their manifests."""

    def version(self) -> tuple[int, int]:
        """Equal while no object was added, removed or changed in git (a status is not a
        change): this store's writes of manifests and rows, and SQLite's count of commits
        by other connections (``PRAGMA data_version``). One cheap read, where
        ``fingerprint`` reads every row: the engine asks once per object turning Ready."""
        (other,) = self.db.execute("PRAGMA data_version").fetchone()
        return self._writes, int(other)

    def all(self) -> list[StoredObject]:
        rows = select(self.db, "objects", "SELECT * FROM objects ORDER BY kind, name")
        return [_row_to_object(r) for r in rows]

    def get(self, key: Key) -> StoredObject | None:
        rows = select(self.db, "objects", "SELECT * FROM objects WHERE kind = ? AND name = ?", key)
        return _row_to_object(rows[0]) if rows else None

    def of_kind(self, kind: str) -> list[StoredObject]:
        rows = select(
            self.db, "objects", "SELECT * FROM objects WHERE kind = ? ORDER BY name", [kind]
        )
        return [_row_to_object(r) for r in rows]

    def resources_of_kind(self, kind: str) -> list[tuple[Resource, dict[str, Any]]]:
        """Every object of ``kind`` not being deleted, as (its model, its status details),
        by name: what the estate's indexes are built from, every window. Only the two are
        read, and a manifest already validated is not even parsed (``of_kind`` parses
        every row whole: a cost that grew with the estate times the run's length)."""
        found: list[tuple[Resource, dict[str, Any]]] = []
        for name, text, digest, api_version, details in self.db.execute(
            "SELECT name, manifest, spec_hash, json_extract(manifest, '$.apiVersion'),"
            " json_extract(status, '$.details') FROM objects"
            " WHERE kind = ? AND NOT deleting ORDER BY name",
            [kind],
        ):
            model = _model((kind, name), digest or "", api_version, partial(json.loads, text))
            parsed = json.loads(details) if details else {}
            found.append((model, parsed if isinstance(parsed, dict) else {}))
        return found

    def fingerprint(self) -> Fingerprint:
        """Every row's key and ``spec_hash`` (of its manifest's metadata and spec), without
        parsing a manifest: equal while no object was added, removed or changed in git."""
        return tuple(
            self.db.execute("SELECT kind, name, spec_hash FROM objects ORDER BY kind, name")
        )

    def keys(self) -> set[Key]:
        rows = select(self.db, "objects", "SELECT kind, name FROM objects")
        return {(r["kind"], r["name"]) for r in rows}

    def apply_revision(
        self, sha: str, desired: list[DesiredObject], now: datetime
    ) -> tuple[set[Key], set[Key], set[Key]]:
        """Make the table match a revision in one transaction.

        Returns (created, changed, removed) keys. Removed objects are marked ``deleting``,
        not dropped: their reconcilers prune what they own first.
        """
        stamp = now.isoformat()
        self._writes += 1
        # Each row's spec_hash and deleting flag, not the parsed rows: parsing every manifest
        # and status was most of adopting a one-file push into a 1000-object estate.
        existing: dict[Key, tuple[str, bool]] = {
            (kind, name): (digest, bool(deleting))
            for kind, name, digest, deleting in self.db.execute(
                "SELECT kind, name, spec_hash, deleting FROM objects"
            )
        }
        created: set[Key] = set()
        changed: set[Key] = set()
        replica = self.link.active()
        with transaction(self.db):
            for item in desired:
                manifest = canonical_manifest(item.resource)
                digest = spec_hash(manifest)
                old = existing.get(item.key)
                if old is None:
                    created.add(item.key)
                    self.db.execute(
                        "INSERT INTO objects (kind, name, manifest, spec_hash, generation, revision,"
                        " file, line, deleting, status, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, 1, ?, ?, ?, 0, ?, ?, ?)",
                        [
                            *item.key,
                            json.dumps(manifest),
                            digest,
                            sha,
                            item.file,
                            item.line,
                            ObjectStatus().model_dump_json(),
                            stamp,
                            stamp,
                        ],
                    )
                    continue
                old_digest, old_deleting = old  # the digest written with its manifest
                bump = 1 if old_digest != digest or old_deleting else 0
                if old_deleting and replica is not None:
                    replica.delete(("prune", *item.key))
                if bump:
                    changed.add(item.key)
                self.db.execute(
                    "UPDATE objects SET manifest = ?, spec_hash = ?, generation = generation + ?,"
                    " revision = ?, file = ?, line = ?, deleting = 0,"
                    " updated_at = CASE WHEN ? THEN ? ELSE updated_at END"
                    " WHERE kind = ? AND name = ?",
                    [
                        json.dumps(manifest),
                        digest,
                        bump,
                        sha,
                        item.file,
                        item.line,
                        bump,
                        stamp,
                        *item.key,
                    ],
                )
            wanted = {item.key for item in desired}
            removed = {
                k for k, (_, deleting) in existing.items() if k not in wanted and not deleting
            }
            for key in removed:
                self.db.execute(
                    "UPDATE objects SET deleting = 1, updated_at = ? WHERE kind = ? AND name = ?",
                    [stamp, *key],
                )
            if replica is not None:
                _share_prunes(replica, {k: o for k in removed if (o := self.get(k)) is not None})
        return created, changed, removed

    def set_status(self, key: Key, status: ObjectStatus, now: datetime) -> None:
        with shared_write(self.db, self.link) as replica:
            self.db.execute(
                "UPDATE objects SET status = ?, updated_at = updated_at WHERE kind = ? AND name = ?",
                [status.model_dump_json(), *key],
            )
            if replica is not None:  # observation: a new leader rebuilds it anyway
                replica.put(("status", *key), status.model_dump(mode="json"), required=False)

    def forget(self, key: Key) -> None:
        """Drop an object whose prune has finished."""
        self._writes += 1
        with shared_write(self.db, self.link) as replica:
            self.db.execute("DELETE FROM objects WHERE kind = ? AND name = ?", list(key))
            if replica is not None:
                replica.delete(("prune", *key), required=False)
                replica.delete(("status", *key), required=False)

    def insert_deleting(self, manifest: dict[str, Any], *, revision: str, now: datetime) -> None:
        """An object another control plane was pruning when this one took over."""
        self._writes += 1
        resource = kinds.KINDS[manifest["kind"]].model_validate(manifest)
        stamp = now.isoformat()
        self.db.execute(
            "INSERT OR IGNORE INTO objects (kind, name, manifest, spec_hash, generation, revision,"
            " file, line, deleting, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 1, ?, '', 0, 1, ?, ?, ?)",
            [
                resource.kind_name,
                resource.metadata.name,
                json.dumps(manifest),
                spec_hash(manifest),
                revision,
                ObjectStatus().model_dump_json(),
                stamp,
                stamp,
            ],
        )


def _share_prunes(replica: Replica, removed: dict[Key, StoredObject]) -> None:
    for key, obj in removed.items():
        replica.put(("prune", *key), obj.manifest)
