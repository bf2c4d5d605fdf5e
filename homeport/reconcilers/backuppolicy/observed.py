"""What the world says about one BackupPolicy: built by ``observe.py``, read by the pure plan.

Everything here is a frozen value: the policy's job as PVE shows it (normalised), each
selected VM with its archives, failed runs, offsite copies (from the store) and Apps, the
scratch VMs of restore tests, and the durable memory of the policy (``memory``: coverage
times, reported failures, restore-test results and the test in progress).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeport.reconcilers.backuppolicy.actions import CopyTarget
from homeport.reconcilers.backuppolicy.ondemand import OnDemand
from homeport.reconcilers.backuppolicy.restorenow import RestoreSeen


@dataclass(frozen=True)
class Archive:
    """A backup archive of a VM in the policy's storage, as ``node`` lists it."""

    volid: str
    ctime: int
    size: int
    node: str


@dataclass(frozen=True)
class BackupFailure:
    """A vzdump run that failed for a VM (scheduled or on demand)."""

    upid: str
    node: str
    at: int
    exitstatus: str
    log: tuple[str, ...]


@dataclass(frozen=True)
class OffsiteCopy:
    """The store's record of one archive's copy to one target."""

    state: str  # verified | mismatch | failed
    at: str
    attempts: int = 1
    error: str | None = None
    ctime: int = 0
    """The archive's creation time (it may have been pruned from the backup storage since)."""


@dataclass(frozen=True)
class AppCheck:
    """An App running on a selected VM, as a restore test checks it."""

    name: str
    port: int
    type: str  # http | tcp
    path: str
    checkable: bool
    """False for an App bound to localhost: not reachable from the control plane."""
    timeout: float = 2.0
    expect_status: int = 200


@dataclass(frozen=True)
class SelectedVM:
    name: str
    vmid: int | None = None
    node: str | None = None
    archives: tuple[Archive, ...] = ()
    """Newest first."""
    failures: tuple[BackupFailure, ...] = ()
    """Failed runs newer than the newest archive, newest first."""
    copies: Mapping[str, Mapping[str, OffsiteCopy]] = field(default_factory=dict)
    """volid → target key → copy."""
    apps: tuple[AppCheck, ...] = ()
    static_ipconfigs: tuple[str, ...] = ()
    """``ipconfigN`` keys with a static address (a restored copy gets DHCP instead)."""
    unreachable: str | None = None
    """Why its node's archives could not be read (nothing is judged about it meanwhile)."""

    @property
    def newest(self) -> Archive | None:
        return self.archives[0] if self.archives else None


@dataclass(frozen=True)
class ObservedJob:
    """The policy's ``/cluster/backup`` job, its declared fields normalised."""

    id: str
    owner: str | None
    """The ``Kind/name`` its comment's marker names (None: not homeport's)."""
    fields: Mapping[str, str]


@dataclass(frozen=True)
class ScratchVM:
    """A restore test's scratch VM (tag ``homeport-restore-test``) owned by this policy."""

    vmid: int
    node: str
    status: str = "stopped"
    lock: str | None = None
    isolated: bool = False
    open_nics: tuple[str, ...] = ()
    """NICs without ``firewall=1`` (not yet cut with ``link_down=1``)."""
    address: str | None = None
    """The guest's address as its agent reports it (None until the agent answers)."""
    health: Mapping[str, str | None] = field(default_factory=dict)
    """App name → None when healthy, else the error."""


@dataclass(frozen=True)
class BackupObserved:
    name: str
    job_id: str
    job: ObservedJob | None = None
    vms: tuple[SelectedVM, ...] = ()
    missing: tuple[str, ...] = ()
    """VMs named in the selector that are not in the adopted revision."""
    storage_use: Mapping[str, float] = field(default_factory=dict)
    """Node → used fraction of the policy's storage there."""
    node_hosts: Mapping[str, str] = field(default_factory=dict)
    """Node → its SSH address (tailnet), for reading archives."""
    targets: tuple[CopyTarget, ...] = ()
    shared_storages: frozenset[str] = frozenset()
    """Storages every node sees (network storages, or flagged shared)."""
    target_problems: tuple[str, ...] = ()
    """Why a declared offsite target cannot be used (e.g. a storage without a path)."""
    scratch: tuple[ScratchVM, ...] = ()
    scratch_allocated: int | None = None
    scratch_candidate: int | None = None
    restore_node: str | None = None
    """The node of ``restoreTest.machine`` (None: each VM's own node)."""
    machine_storage: Mapping[str, str] = field(default_factory=dict)
    """Node → the disk storage of its Machine (where scratch VMs' disks go)."""
    health_source: str | None = None
    memory: Mapping[str, Any] = field(default_factory=dict)
    on_demand: OnDemand | None = None
    """An open ``homeport backup now`` request (``ondemand.py``)."""
    restore: RestoreSeen | None = None
    """An open ``homeport restore`` request (``restorenow.py``)."""
