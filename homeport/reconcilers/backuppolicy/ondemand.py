"""``homeport backup now`` as a request the policy's reconciler runs: the pure part.

The CLI writes a ``BackupRequest`` into the policy's ``request`` slot (``slots.py``). The
policy observes it with the VM's vzdump task (``ondemand_io.py``) and this plan
decides the next step: start the one vzdump run (journaled under the leader's fencing
token), follow a run started since the request that the request does not record yet (a
crash between the two), wait while it runs, then answer the request with the archive or
the failure. A request answered (``done``/``failed``) is left for the CLI to read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from homeport.kinds import BackupPolicy
from homeport.reconcilers.backuppolicy.actions import (
    AnswerBackupNow,
    FollowBackupTask,
    StartBackupNow,
)
from homeport.reconcilers.backuppolicy.job import COMPRESS, owner_marker
from homeport.reconcilers.base import Action
from homeport.reconcilers.slots import BackupRequest

OPEN = ("requested", "running")
POLL = 2.0
"""Look at a running vzdump task again this soon."""


@dataclass(frozen=True)
class BackupTask:
    """The request's vzdump task as Proxmox reports it."""

    upid: str
    running: bool
    ok: bool = False
    exitstatus: str = ""
    log: tuple[str, ...] = ()


@dataclass(frozen=True)
class OnDemand:
    """An open request and what the world says about it."""

    request: BackupRequest
    vmid: int | None = None
    node: str | None = None
    task: BackupTask | None = None
    """Its recorded task, or one started since the request (None: none yet)."""
    volid: str | None = None
    """The VM's newest archive since the request, once its task has finished."""


def is_open(request: Mapping[str, object] | None) -> bool:
    """An operator's request (a backup's or a restore's) not answered yet."""
    return request is not None and request.get("state") in OPEN


def plan_on_demand(policy: BackupPolicy, seen: OnDemand) -> list[Action]:
    """The next step of an open request: [] while its task runs."""
    request, name = seen.request, seen.request["vm"]
    if seen.vmid is None or seen.node is None:
        return [
            AnswerBackupNow(
                name, False, f"VM {name!r} has no vmid/node yet: wait until it is Ready"
            )
        ]
    task = seen.task
    if task is None:
        if request.get("upid"):
            return []  # recorded but not readable right now: looked at again
        return [_start(policy, seen, seen.vmid, seen.node)]
    if not request.get("upid"):
        return [FollowBackupTask(name, task.upid)]
    if task.running:
        return []
    if not task.ok:
        tail = " | ".join(task.log[-3:])
        message = f"backup failed: {task.exitstatus}; log: {tail}"
        return [AnswerBackupNow(name, False, message, seen.vmid)]
    shown = seen.volid or "archive not listed yet"
    message = f"backed up {name} (vmid {seen.vmid}): {shown}"
    return [AnswerBackupNow(name, True, message, seen.vmid, seen.volid)]


def _start(policy: BackupPolicy, seen: OnDemand, vmid: int, node: str) -> StartBackupNow:
    """Storage, mode and compression of the policy (the request may name another storage);
    the archive's notes carry the policy's marker. No retention: it prunes nothing."""
    spec = policy.spec
    return StartBackupNow(
        request_at=seen.request["at"],
        vm=seen.request["vm"],
        vmid=vmid,
        node=node,
        storage=seen.request.get("storage") or spec.storage,
        mode=spec.mode,
        compress=COMPRESS[spec.compress],
        notes_template=f"{{{{guestname}}}} ({owner_marker(policy.name)})",
    )
