"""Removing a VM that left git, by its ``spec.deletionPolicy``. Pure.

Destroying disks cannot be undone, so it is never one push away. Whatever the policy,
homeport first records the removal (``BeginRemoval``: a durable slot, before anything
changes) and stops the VM. Then:

- ``Hold`` (the default): a final backup when a BackupPolicy covers the VM, then the
  destruction is held — the hold names the VM, its disks and its last backup — until
  ``homeport approve VM/<name>`` approves *this* removal (an approval names the removal's
  start, so it can never apply to a later one); only then is the VM destroyed.
- ``Destroy``: the final backup, then destroyed without waiting (disposable VMs).
- ``Retain``: kept stopped with its disks, and detached: homeport's tag and marker are
  removed, so homeport never touches it again; its vmid is released.

Every step is planned from what is observed (the VM, its archives, the slots), so a
crash at any point replans the same step: a final backup is recognised by its note,
and ``DestroyVM`` is planned only while an approval of this removal is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from homeport.reconcilers.base import Plan
from homeport.reconcilers.vm.actions import (
    BeginRemoval,
    DestroyVM,
    DetachVM,
    FinalBackup,
    HoldDestruction,
    PowerVM,
)

DeletionPolicy = Literal["Hold", "Destroy", "Retain"]


@dataclass(frozen=True)
class FinalBackupTarget:
    """Where a covering BackupPolicy puts the VM's archives, and how."""

    policy: str
    storage: str
    mode: str = "snapshot"
    compress: str = "zstd"


@dataclass(frozen=True)
class Removal:
    """What ``observe.py`` learns about a VM being removed (None fields: not yet)."""

    policy: DeletionPolicy = "Hold"
    """From the last adopted manifest."""
    since: str | None = None
    """When homeport began removing it (``BeginRemoval``); names this removal."""
    held: bool = False
    approval: str | None = None
    """The removal start named by the recorded approval (``homeport approve VM/<name>``):
    only an approval of *this* removal (the same ``since``) lets it be destroyed."""
    retained: bool = False
    """``Retain`` done: detached; nothing of it is homeport's any more."""
    backup: FinalBackupTarget | None = None
    """A BackupPolicy covers the VM: a final backup is due before destroying."""
    final_backup: str | None = None
    """The volid of this removal's final backup, once taken."""
    last_backup: str | None = None
    disks: tuple[str, ...] = ()

    @property
    def approved(self) -> bool:
        return self.since is not None and self.approval == self.since


def final_backup_note(name: str, since: str) -> str:
    return f"final backup of VM/{name} (removed from git {since})"


def hold_message(name: str, vmid: int, removal: Removal) -> str:
    disks = ", ".join(removal.disks) or "none found"
    backup = removal.final_backup or removal.last_backup or "none"
    return (
        f"VM {name} (vmid {vmid}) left git: stopped, destruction held; disks: {disks}; "
        f"last backup: {backup}. Destroy it with `homeport approve VM/{name}`, "
        "or put it back in git to keep it"
    )


def removal_started(removal: Removal, vmid: int, *, now: datetime) -> Plan | None:
    """The first step: record the removal before changing anything."""
    if removal.since is not None:
        return None
    return Plan(actions=(BeginRemoval(vmid, removal.policy, now.isoformat()),))


def plan_removal(name: str, node: str, vmid: int, running: bool, removal: Removal) -> Plan:
    """The step after ``BeginRemoval`` for an owned, unlocked, unprotected VM."""
    assert removal.since is not None
    if running:
        return Plan(actions=(PowerVM(node, vmid, "stop", "left git"),))
    if removal.policy == "Retain":
        return Plan(actions=(DetachVM(node, vmid, name),))
    target = removal.backup
    if target is not None and removal.final_backup is None:
        note = final_backup_note(name, removal.since)
        return Plan(
            actions=(
                FinalBackup(
                    node, vmid, target.policy, target.storage, target.mode, target.compress, note
                ),
            )
        )
    if removal.policy == "Hold" and not removal.approved:
        if not removal.held:
            last = removal.final_backup or removal.last_backup
            return Plan(actions=(HoldDestruction(name, vmid, node, removal.disks, last),))
        return Plan(
            waiting=hold_message(name, vmid, removal),
            state_reason="DestructionHeld",
            details={"vmid": vmid, "node": node, "status": "stopped", "deletionHeld": True},
        )
    return Plan(actions=(DestroyVM(node, vmid),))
