"""``homeport restore`` as a request the policy's reconciler runs: the pure part.

The CLI writes a ``RestoreRequest`` into the policy's ``restore`` slot; the policy
observes it (``restorenow_io.py``) and this plan decides: refuse a wrong request with the
fix (exit 2), choose and record a free vmid for a new VM, stop the VM restored over,
restore (journaled under the leader's fencing token), follow a qmrestore started but not
recorded (a crash between the two), and answer with the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.reconcilers.backuppolicy.actions import (
    AnswerRestore,
    ChooseRestoreVmid,
    FollowRestoreTask,
    RestoreArchive,
    StopForRestore,
)
from homeport.reconcilers.backuppolicy.ondemand import BackupTask
from homeport.reconcilers.base import Action
from homeport.reconcilers.slots import RestoreRequest

WRONG = 2
"""The exit status of a wrong request (unknown archive, name taken, VM not suspended)."""


@dataclass(frozen=True)
class RestoreSeen:
    """An open restore request and what the world says about it."""

    request: RestoreRequest
    vmid: int | None = None
    node: str | None = None
    """The VM's vmid and node."""
    suspended: bool = False
    running: bool = False
    static_ipconfigs: tuple[str, ...] = ()
    archive_found: bool = False
    name_taken: bool = False
    free_vmid: int | None = None
    created: bool = False
    """A VM with the request's recorded vmid exists (a new VM: the restore made it)."""
    task: BackupTask | None = None
    """Its qmrestore task: recorded, or found running for the target vmid."""


def archive_vmid(volid: str) -> int | None:
    """The vmid in a vzdump archive's name (``vzdump-qemu-<vmid>-<time>.vma…``)."""
    parts = volid.rsplit("/", 1)[-1].split("-")
    return int(parts[2]) if len(parts) > 2 and parts[0] == "vzdump" and parts[2].isdigit() else None


def plan_restore(seen: RestoreSeen) -> list[Action]:
    request, name = seen.request, seen.request["vm"]
    if seen.vmid is None or seen.node is None:
        return _refuse(name, f"VM {name!r} has no vmid/node yet: wait until it is Ready")
    node = request.get("node") or seen.node
    started = bool(request.get("upid")) or seen.task is not None
    if not started:
        wrong = _wrong(seen, node)
        if wrong:
            return _refuse(name, wrong)
    new_name = request.get("name")
    if new_name and not request.get("vmid"):
        if seen.free_vmid is None:
            return [AnswerRestore(name, False, "no free vmid outside homeport's ranges", 1)]
        return [ChooseRestoreVmid(name, seen.free_vmid)]
    target = request.get("vmid") or seen.vmid
    return _restore(seen, node, target, new_name)


def _wrong(seen: RestoreSeen, node: str) -> str | None:
    """Why the request cannot be run as asked (None: it can)."""
    request, name, volid = seen.request, seen.request["vm"], seen.request["volid"]
    if not seen.archive_found:
        return (
            f"archive {volid} not found on {node} (node-local archives are seen only on "
            "their node: pass --node)"
        )
    found = archive_vmid(volid)
    if found is not None and found != seen.vmid:
        return f"{volid} is an archive of vmid {found}, not of {name}"
    new_name = request.get("name")
    if new_name:
        if seen.name_taken and not request.get("vmid"):
            return f"a VM named {new_name!r} already exists: pick another name"
        return None
    if not seen.suspended:
        return (
            f"VM {name} is reconciled by the daemon, which would start it mid-restore: set "
            f"spec.suspend: true on VM/{name} and push it first, or restore with --as NEW-NAME"
        )
    if not request.get("yes"):
        return f"restoring over VM {name} replaces its disks: confirm with --yes"
    if node != seen.node:
        return f"VM {name} lives on {seen.node}: restore it there (--node)"
    return None


def _restore(seen: RestoreSeen, node: str, target: int, new_name: str | None) -> list[Action]:
    request, name, volid = seen.request, seen.request["vm"], seen.request["volid"]
    task = seen.task
    if task is None:
        if request.get("upid"):
            return []  # recorded but not readable this pass: looked at again
        if new_name and seen.created:  # restored before a crash, its task already gone
            return [_done(seen, node, target, new_name)]
        if new_name is None and seen.running:
            return [StopForRestore(name, target, node)]
        return [
            RestoreArchive(
                request_at=request["at"],
                vm=name,
                volid=volid,
                vmid=target,
                node=node,
                storage=request.get("storage"),
                new_name=new_name,
                dhcp=seen.static_ipconfigs if new_name else (),
            )
        ]
    if not request.get("upid"):
        return [FollowRestoreTask(name, task.upid)]
    if task.running:
        return []
    if not task.ok:
        tail = " | ".join(task.log[-3:])
        message = f"restore failed: {task.exitstatus}; log: {tail}"
        return [AnswerRestore(name, False, message, 1, target)]
    return [_done(seen, node, target, new_name)]


def _done(seen: RestoreSeen, node: str, target: int, new_name: str | None) -> AnswerRestore:
    name, volid = seen.request["vm"], seen.request["volid"]
    if new_name:
        message = f"restored {volid} as VM {target} {new_name!r} on {node} (stopped)"
    else:
        message = f"restored {volid} over VM {target} {name!r} (stopped; unsuspend it to resume)"
    return AnswerRestore(name, True, message, 0, target)


def _refuse(name: str, message: str) -> list[Action]:
    return [AnswerRestore(name, False, message, WRONG)]
