"""Proxmox storage replication of a pair's primary VM (``replication.storage``): pure parts.

One pvesr job per pair, marked in its comment, replicating the *current* primary's VM to
the standby's node; after a failover the old primary's job goes and the new primary's
comes. Proxmox replicates ZFS volumes only: a VM with a disk elsewhere is reported, not
attempted. What the jobs report (last sync, failures) is published in the pair's status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from homeport.clients.proxmox_wire import parse_property_string
from homeport.kinds import StandbyPair
from homeport.reconcilers.base import Action, ConditionUpdate
from homeport.reconcilers.ownership import marker

REPLICATING_TYPES = frozenset({"zfspool"})
"""Storage plugin types with Proxmox's ``replicate`` feature."""
_DRIVE = re.compile(r"^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$")


@dataclass(frozen=True)
class StorageJob:
    """A replication job as Proxmox lists it, with its state from the source node."""

    id: str
    guest: int
    target: str
    schedule: str = "*/15"
    rate: float | None = None
    comment: str | None = None
    removing: bool = False
    last_sync: int = 0
    fail_count: int = 0
    error: str | None = None


@dataclass(frozen=True)
class StorageView:
    """What the pair's observation found about storage replication."""

    jobs: tuple[StorageJob, ...] = ()
    """Every replication job in the cluster (the pair's own are recognised by comment)."""
    unsupported: str | None = None
    """Why the primary's VM cannot be replicated (a volume without the replicate feature)."""


@dataclass(frozen=True)
class CreateStorageJob(Action):
    job_id: str
    target: str
    schedule: str
    rate: float | None
    comment: str
    verb = "storage-replicate"

    def describe(self) -> str:
        return f"replicate VM {self.job_id.split('-')[0]}'s disks to {self.target} ({self.schedule}, job {self.job_id})"


@dataclass(frozen=True)
class UpdateStorageJob(Action):
    job_id: str
    schedule: str
    rate: float | None
    verb = "storage-replicate"

    def describe(self) -> str:
        rate = f", {self.rate:g} MB/s" if self.rate else ""
        return f"set replication job {self.job_id} to {self.schedule}{rate}"


@dataclass(frozen=True)
class RemoveStorageJob(Action):
    job_id: str
    why: str
    verb = "storage-unreplicate"

    def describe(self) -> str:
        return f"remove replication job {self.job_id} ({self.why})"


@dataclass
class StoragePlan:
    actions: list[Action] = field(default_factory=list)
    conditions: list[ConditionUpdate] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def replicated_volumes(config: Mapping[str, object]) -> list[tuple[str, str]]:
    """(drive, volid) of the VM's volumes that Proxmox would replicate: no CD-ROM, no
    cloud-init drive, no ``replicate=0``."""
    volumes = []
    for key, value in config.items():
        if not _DRIVE.match(key) or not isinstance(value, str):
            continue
        options = parse_property_string(value, default_key="file")
        volid = options.get("file", "")
        if (
            ":" not in volid
            or options.get("media") == "cdrom"
            or "cloudinit" in volid
            or options.get("replicate") == "0"
        ):
            continue
        volumes.append((key, volid))
    return volumes


def unsupported_volume(
    config: Mapping[str, object],
    storage_types: Mapping[str, str],
    vmid: int,
    *,
    shared: frozenset[str] = frozenset(),
) -> str | None:
    """Why Proxmox would refuse to replicate this VM, or None. Volumes on shared storage
    are skipped by Proxmox (every node sees them already)."""
    for drive, volid in replicated_volumes(config):
        storage = volid.split(":", 1)[0]
        if storage in shared:
            continue
        kind = storage_types.get(storage, "unknown")
        if kind not in REPLICATING_TYPES:
            return (
                f"VM {vmid}'s {drive} is on {storage} ({kind}); Proxmox replicates ZFS "
                "(zfspool) volumes only: set the Machines' storage to a ZFS storage, or "
                "remove replication.storage"
            )
    return None


def plan_storage(
    desired: StandbyPair,
    view: StorageView | None,
    *,
    primary_vmid: int | None,
    primary_node: str | None,
    standby_node: str | None,
) -> StoragePlan:
    """The pair's replication job: wanted for the current primary while configured."""
    result = StoragePlan()
    if view is None:
        return result  # the API did not answer: decide nothing about jobs now
    comment = marker("StandbyPair", desired.name)
    ours = [j for j in view.jobs if j.comment == comment]
    spec = desired.spec.replication.storage
    wanted = None
    if spec is not None:
        if view.unsupported:
            result.conditions.append(
                ConditionUpdate(
                    "Degraded", "True", "StorageReplicationUnsupported", view.unsupported
                )
            )
        elif primary_vmid and standby_node and primary_node and primary_node != standby_node:
            wanted = (primary_vmid, standby_node)
    for job in ours:
        if job.removing:
            continue
        if wanted is None or (job.guest, job.target) != wanted:
            why = (
                "the pair no longer replicates storage"
                if spec is None
                else "not the current primary to the standby's node"
            )
            result.actions.append(RemoveStorageJob(job.id, why))
    if wanted is None or spec is None:
        return result
    current = next((j for j in ours if (j.guest, j.target) == wanted and not j.removing), None)
    if current is None:
        foreign = next((j for j in view.jobs if (j.guest, j.target) == wanted), None)
        if foreign is not None:
            result.details["storageReplication"] = {
                "job": foreign.id,
                "target": foreign.target,
                "note": "a replication job homeport does not own already does this",
            }
            return result
        taken = {_jobnum(j.id) for j in view.jobs if j.guest == wanted[0]}
        number = next(n for n in range(len(taken) + 1) if n not in taken)
        result.actions.append(
            CreateStorageJob(
                f"{wanted[0]}-{number}", wanted[1], spec.schedule, spec.rate_mbps, comment
            )
        )
        return result
    if current.schedule != spec.schedule or current.rate != spec.rate_mbps:
        result.actions.append(UpdateStorageJob(current.id, spec.schedule, spec.rate_mbps))
    result.details["storageReplication"] = {
        "job": current.id,
        "target": current.target,
        "lastSync": datetime.fromtimestamp(current.last_sync, UTC).isoformat()
        if current.last_sync
        else None,
        "failCount": current.fail_count,
        "error": current.error,
    }
    if current.fail_count:
        result.conditions.append(
            ConditionUpdate(
                "Degraded",
                "True",
                "StorageReplicationFailing",
                f"replication job {current.id} failed {current.fail_count} time(s): "
                f"{current.error or 'no error given'}",
            )
        )
    return result


def _jobnum(job_id: str) -> int:
    """``<vmid>-<jobnum>``: the job number."""
    return int(job_id.rsplit("-", 1)[1])
