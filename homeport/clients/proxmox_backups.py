"""Storage, backup archives, vzdump runs and scheduled backup jobs (``/cluster/backup``).

Used by the BackupPolicy reconciler: it converges one ``/cluster/backup`` job per policy,
checks freshness from the archives in the target storage, reads failed vzdump runs from
the nodes' task lists (their logs through ``ProxmoxTasks``), finds an archive's path on its
node for offsite copies (``volume``, ``storage_config``), restores archives (``restore``,
reference §7.3) and may run ``vzdump`` now (``homeport backup now``).
``prune-backups`` is an object in GET and a property string in POST/PUT (reference §7.4);
``BackupJobSpec`` takes it as a mapping and encodes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import model_validator

from homeport.clients.errors import NotFound
from homeport.clients.proxmox_fields import (
    PveBool,
    PveInt,
    PveItem,
    PveList,
    PveOptionalInt,
    PveStr,
    PveText,
)
from homeport.clients.proxmox_models import BackupJob, BackupVolume, StorageInfo, TaskRef
from homeport.clients.proxmox_transport import (
    ProxmoxTransport,
    expect_dict,
    expect_list,
    expect_upid,
)
from homeport.clients.proxmox_wire import ParamValue, format_property_string


def format_prune_backups(keep: Mapping[str, int]) -> str:
    """``{"keep-daily": 7, "keep-weekly": 4}`` → ``"keep-daily=7,keep-weekly=4"``."""
    return format_property_string(dict(sorted(keep.items())))


@dataclass(frozen=True, kw_only=True)
class BackupJobSpec:
    """The fields of a ``/cluster/backup`` job homeport declares."""

    schedule: str
    storage: str
    vmids: Sequence[int]
    mode: str = "snapshot"
    compress: str = "zstd"
    prune_backups: Mapping[str, int] = field(default_factory=dict)
    enabled: bool = True
    notes_template: str | None = "{{guestname}}"
    comment: str | None = None
    node: str | None = None

    def params(self) -> dict[str, ParamValue]:
        return {
            "schedule": self.schedule,
            "storage": self.storage,
            "vmid": ",".join(str(v) for v in sorted(self.vmids)),
            "mode": self.mode,
            "compress": self.compress,
            "prune-backups": format_prune_backups(self.prune_backups) or None,
            "enabled": self.enabled,
            "notes-template": self.notes_template,
            "comment": self.comment,
            "node": self.node,
        }


class VolumeInfo(PveItem):
    """``GET /nodes/{node}/storage/{storage}/content/{volume}``: where an archive lives."""

    path: PveStr = ""
    size: PveInt = 0
    format: PveStr = ""
    notes: PveText = None
    protected: PveBool = False


NETWORK_STORAGES = frozenset({"nfs", "cifs", "pbs", "cephfs", "rbd", "glusterfs", "iscsi"})


class StorageConfig(PveItem):
    """``GET /storage/{storage}``: a storage's ``storage.cfg`` section."""

    storage: PveStr = ""
    type: PveStr = ""
    path: PveText = None
    content: PveList = ()
    shared: PveBool = False

    @model_validator(mode="before")
    @classmethod
    def _network_storage_is_shared(cls, data: Any) -> Any:
        # Network storages are shared by nature; local ones only when flagged.
        if isinstance(data, Mapping) and data.get("type") in NETWORK_STORAGES:
            return {**data, "shared": 1}
        return data


class TaskSummary(PveItem):
    """One entry of ``GET /nodes/{node}/tasks``; ``status`` is the exit status (``OK``,
    ``WARNINGS: n``, the error text) or ``RUNNING`` (reference §6.4)."""

    upid: PveStr = ""
    node: PveStr = ""
    type: PveStr = ""
    id: PveStr = ""
    user: PveStr = ""
    starttime: PveInt = 0
    endtime: PveOptionalInt = None
    status: PveStr = ""

    @property
    def failed(self) -> bool:
        return self.status not in ("OK", "RUNNING") and not self.status.startswith("WARNINGS")


class ProxmoxBackups:
    """Storage listing, backup archives, vzdump and backup jobs."""

    def __init__(self, transport: ProxmoxTransport) -> None:
        self._transport = transport

    async def storages(self, node: str, *, content: str | None = None) -> list[StorageInfo]:
        data = await self._transport.read(
            "storage.list", ("nodes", node, "storage"), {"content": content}, node=node
        )
        return StorageInfo.parse_list(expect_list(data, "storage.list"))

    async def backups(
        self, node: str, storage: str, *, vmid: int | None = None
    ) -> list[BackupVolume]:
        """Backup archives in ``storage`` as seen from ``node``, oldest first."""
        data = await self._transport.read(
            "storage.content",
            ("nodes", node, "storage", storage, "content"),
            {"content": "backup", "vmid": vmid},
            node=node,
            vmid=vmid,
        )
        volumes = BackupVolume.parse_list(expect_list(data, "storage.content"))
        return sorted(volumes, key=lambda v: (v.ctime, v.volid))

    async def volume(self, node: str, storage: str, volid: str) -> VolumeInfo | None:
        """An archive's attributes and path as ``node`` sees it; ``None`` if it is gone."""
        try:
            data = await self._transport.read(
                "storage.volume", ("nodes", node, "storage", storage, "content", volid), node=node
            )
        except NotFound:
            return None
        return VolumeInfo.parse(expect_dict(data, "storage.volume"))

    async def storage_config(self, storage: str) -> StorageConfig | None:
        try:
            data = await self._transport.read("storage.config", ("storage", storage))
        except NotFound:
            return None
        return StorageConfig.parse(expect_dict(data, "storage.config"))

    async def vzdump_runs(
        self, node: str, *, since: int | None = None, errors: bool = False, limit: int = 50
    ) -> list[TaskSummary]:
        """Finished vzdump tasks on ``node`` (scheduled jobs' and on-demand), newest first."""
        data = await self._transport.read(
            "tasks.list",
            ("nodes", node, "tasks"),
            {"typefilter": "vzdump", "since": since, "errors": errors or None, "limit": limit},
            node=node,
        )
        runs = TaskSummary.parse_list(expect_list(data, "tasks.list"))
        return sorted(runs, key=lambda r: (r.starttime, r.upid), reverse=True)

    async def restore(
        self,
        node: str,
        *,
        vmid: int,
        archive: str,
        storage: str | None = None,
        unique: bool = True,
        force: bool = False,
        options: Mapping[str, ParamValue] | None = None,
    ) -> TaskRef:
        """``qmrestore`` ``archive`` into ``vmid`` on ``node``; ``options`` override the
        restored config (e.g. ``name``, ``description``, ``onboot``)."""
        params: dict[str, ParamValue] = {
            **(options or {}),
            "vmid": vmid,
            "archive": archive,
            "storage": storage,
            "unique": unique or None,
            "force": force or None,
        }
        data = await self._transport.write(
            "POST", "qemu.restore", ("nodes", node, "qemu"), params, node=node, vmid=vmid
        )
        return TaskRef.of(expect_upid(data, "qemu.restore"))

    async def vzdump(
        self,
        node: str,
        *,
        vmids: Sequence[int],
        storage: str,
        mode: str = "snapshot",
        compress: str = "zstd",
        prune_backups: Mapping[str, int] | None = None,
        notes_template: str | None = "{{guestname}}",
        protected: bool | None = None,
    ) -> TaskRef | None:
        """Back up ``vmids`` now; ``None`` when none of them is on ``node`` (PVE answers "OK")."""
        params: dict[str, ParamValue] = {
            "vmid": ",".join(str(v) for v in vmids),
            "storage": storage,
            "mode": mode,
            "compress": compress,
            "prune-backups": format_prune_backups(prune_backups) if prune_backups else None,
            "notes-template": notes_template,
            "protected": protected,
        }
        data = await self._transport.write(
            "POST", "vzdump", ("nodes", node, "vzdump"), params, node=node
        )
        if isinstance(data, str) and data.startswith("UPID:"):
            return TaskRef.of(data)
        return None

    async def jobs(self) -> list[BackupJob]:
        data = await self._transport.read("backup.list", ("cluster", "backup"))
        return BackupJob.parse_list(expect_list(data, "backup.list"))

    async def job(self, job_id: str) -> BackupJob | None:
        try:
            data = await self._transport.read("backup.get", ("cluster", "backup", job_id))
        except NotFound:
            return None
        return BackupJob.parse(expect_dict(data, "backup.get"))

    async def create_job(self, job_id: str, spec: BackupJobSpec) -> None:
        params = {"id": job_id, **spec.params()}
        await self._transport.write("POST", "backup.create", ("cluster", "backup"), params)

    async def update_job(
        self, job_id: str, spec: BackupJobSpec, *, delete: Sequence[str] = ()
    ) -> None:
        params = {**spec.params(), "delete": ",".join(delete) if delete else None}
        await self._transport.write(
            "PUT", "backup.update", ("cluster", "backup", job_id), params, idempotent=True
        )

    async def delete_job(self, job_id: str) -> bool:
        """Remove the job; ``False`` if it did not exist."""
        try:
            await self._transport.write(
                "DELETE", "backup.delete", ("cluster", "backup", job_id), idempotent=True
            )
        except NotFound:
            return False
        return True
