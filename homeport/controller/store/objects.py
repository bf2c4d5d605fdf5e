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


def _keep_model(resource: Resource, digest: str) -> None:
    """The model ``_model`` gives for the row written from ``resource``: this one (a
    manifest's model is its dump's model), kept once for the reconcilers rather than
    validated again from the row."""
    key = (resource.kind_name, resource.metadata.name)
    _MODELS[key] = ((digest, resource.api_version), resource)


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
        self._digests: dict[int, tuple[Resource, str]] = {}
        """The last revision's models by id, with their ``spec_hash`` (``_digest_of``)."""

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
        not dropped: their reconcilers prune what they own first. Only rows that changed
        are written whole; every row present takes the revision in one statement.
        """
        stamp = now.isoformat()
        self._writes += 1
        # Each row's digest, apiVersion, place and deleting flag, not the parsed rows:
        # parsing every manifest and status was most of adopting a one-file push.
        existing: dict[Key, tuple[str, str, str, int, bool]] = {
            (kind, name): (digest, str(api_version), file or "", line or 0, bool(deleting))
            for kind, name, digest, api_version, file, line, deleting in self.db.execute(
                "SELECT kind, name, spec_hash, json_extract(manifest, '$.apiVersion'), file,"
                " line, deleting FROM objects"
            )
        }
        created: set[Key] = set()
        changed: set[Key] = set()
        digests = self._digests
        self._digests = {}
        replica = self.link.active()
        with transaction(self.db):
            for item in desired:
                digest = self._digest_of(item.resource, digests)
                _keep_model(item.resource, digest)
                old = existing.get(item.key)
                if old is None:
                    created.add(item.key)
                    self.db.execute(
                        "INSERT INTO objects (kind, name, manifest, spec_hash, generation, revision,"
                        " file, line, deleting, status, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, 1, ?, ?, ?, 0, ?, ?, ?)",
                        [
                            *item.key,
                            json.dumps(canonical_manifest(item.resource)),
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
                old_digest, old_version, old_file, old_line, old_deleting = old
                same = (old_digest, old_version) == (digest, item.resource.api_version)
                if same and not old_deleting and (old_file, old_line) == (item.file, item.line):
                    continue  # the same manifest in the same place: only the revision below
                if old_deleting and replica is not None:
                    replica.delete(("prune", *item.key))
                bump = 0 if old_digest == digest and not old_deleting else 1
                if bump:
                    changed.add(item.key)
                self.db.execute(
                    "UPDATE objects SET manifest = ?, spec_hash = ?, generation = generation + ?,"
                    " file = ?, line = ?, deleting = 0,"
                    " updated_at = CASE WHEN ? THEN ? ELSE updated_at END"
                    " WHERE kind = ? AND name = ?",
                    [
                        json.dumps(canonical_manifest(item.resource)),
                        digest,
                        bump,
                        item.file,
                        item.line,
                        bump,
                        stamp,
                        *item.key,
                    ],
                )
            wanted = {item.key for item in desired}
            removed = {k for k, old in existing.items() if k not in wanted and not old[4]}
            for key in removed:
                self.db.execute(
                    "UPDATE objects SET deleting = 1, updated_at = ? WHERE kind = ? AND name = ?",
                    [stamp, *key],
                )
            # Every row not being deleted is in this revision now (the removed are marked).
            self.db.execute("UPDATE objects SET revision = ? WHERE NOT deleting", [sha])
            if replica is not None:
                _share_prunes(replica, {k: o for k in removed if (o := self.get(k)) is not None})
        return created, changed, removed

    def _digest_of(self, resource: Resource, previous: dict[int, tuple[Resource, str]]) -> str:
        """``spec_hash`` of the resource's manifest, remembered for the next revision: a
        file validation recalled brings the same model object, whose digest was made."""
        known = previous.get(id(resource))
        # The model itself is held with its digest, so its id cannot name another object.
        if known is not None and known[0] is resource:
            digest = known[1]
        else:
            digest = spec_hash(canonical_manifest(resource))
        self._digests[id(resource)] = (resource, digest)
        return digest

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
