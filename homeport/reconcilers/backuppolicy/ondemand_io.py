"""``homeport backup now`` requests: observing one and performing its steps (the I/O
around the pure ``ondemand.py``)."""

from __future__ import annotations

from datetime import datetime

from homeport.clients.errors import ProxmoxError
from homeport.reconcilers.backuppolicy.actions import (
    AnswerBackupNow,
    FollowBackupTask,
    StartBackupNow,
)
from homeport.reconcilers.backuppolicy.observe import px_of
from homeport.reconcilers.backuppolicy.observed import SelectedVM
from homeport.reconcilers.backuppolicy.ondemand import BackupTask, OnDemand, is_open
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.slots import BACKUP_REQUEST, BackupRequest

CLOCK_SLACK = 5
"""Seconds a vzdump's start may precede the request's time (node and control-plane clocks)."""


async def observe_on_demand(
    ctx: ReconcileContext, vms: tuple[SelectedVM, ...], storage: str
) -> OnDemand | None:
    """The open request with its VM and task (None: no open request)."""
    request = BACKUP_REQUEST.recall(ctx)
    if request is None or not is_open(request):
        return None
    vm = next((v for v in vms if v.name == request["vm"]), None)
    if vm is None or vm.vmid is None or vm.node is None:
        return OnDemand(request)
    since = int(datetime.fromisoformat(request["at"]).timestamp()) - CLOCK_SLACK
    upid = request.get("upid") or await _started_since(ctx, vm.node, vm.vmid, since)
    if upid is None:
        return OnDemand(request, vm.vmid, vm.node)
    try:
        task = await read_task(ctx, vm.node, upid)
    except ProxmoxError:
        return OnDemand(request, vm.vmid, vm.node)  # read again on the next pass
    volid = None
    if task.ok:
        archives = await px_of(ctx).backups.backups(
            vm.node, request.get("storage") or storage, vmid=vm.vmid
        )
        newest = max(archives, key=lambda a: (a.ctime, a.volid)) if archives else None
        volid = newest.volid if newest and newest.ctime >= since else None
    return OnDemand(request, vm.vmid, vm.node, task, volid)


async def _started_since(ctx: ReconcileContext, node: str, vmid: int, since: int) -> str | None:
    """A vzdump run of ``vmid`` started since the request: running, or finished."""
    px = px_of(ctx)
    for active in await px.tasks.active():
        if active.type == "vzdump" and active.node == node and active.id == str(vmid):
            return active.upid
    runs = await px.backups.vzdump_runs(node, since=since)
    found = [r for r in runs if r.id == str(vmid) and r.starttime >= since]
    return found[0].upid if found else None


async def read_task(ctx: ReconcileContext, node: str, upid: str) -> BackupTask:
    """A task of the request as Proxmox reports it (with its log tail when it failed)."""
    px = px_of(ctx)
    status = await px.tasks.status(node, upid)
    if status.running:
        return BackupTask(upid, running=True)
    if status.succeeded:
        return BackupTask(upid, running=False, ok=True, exitstatus=status.exitstatus or "OK")
    log = await px.tasks.log_tail(node, upid)
    return BackupTask(upid, False, False, status.exitstatus or "unknown", tuple(log))


async def act_on_demand(
    action: StartBackupNow | FollowBackupTask | AnswerBackupNow, ctx: ReconcileContext
) -> None:
    request = BACKUP_REQUEST.recall(ctx)
    if request is None:
        return  # withdrawn meanwhile
    if isinstance(action, StartBackupNow):
        await _start(action, ctx, request)
    elif isinstance(action, FollowBackupTask):
        _record(ctx, request, state="running", upid=action.upid)
    else:
        _answer(action, ctx, request)


async def _start(action: StartBackupNow, ctx: ReconcileContext, request: BackupRequest) -> None:
    refused: str | None = None
    try:
        task = await px_of(ctx).backups.vzdump(
            action.node,
            vmids=[action.vmid],
            storage=action.storage,
            mode=action.mode,
            compress=action.compress,
            notes_template=action.notes_template,
        )
    except ProxmoxError as exc:
        if exc.transient:
            raise  # the next pass tries again (or finds the run a lost answer started)
        # Refused outright (an unknown storage, a permission): the request is answered,
        # not left open for the operator's command to wait on.
        task, refused = None, f"Proxmox refused the backup: {exc}"
    if task is None:
        message = refused or f"VM {action.vmid} is not on {action.node} (did it move? retry)"
        _record(ctx, request, state="failed", message=message)
        ctx.event("BackupFailed", f"on-demand backup of VM {action.vm}: {message}", warning=True)
        return
    _record(
        ctx,
        request,
        state="running",
        upid=task.upid,
        vmid=action.vmid,
        message=f"backup of {action.vm} started: {task.upid}",
    )


def _answer(action: AnswerBackupNow, ctx: ReconcileContext, request: BackupRequest) -> None:
    state = "done" if action.ok else "failed"
    _record(ctx, request, state=state, vmid=action.vmid, volid=action.volid, message=action.message)
    reason = "BackupNow" if action.ok else "BackupFailed"
    ctx.event(reason, action.describe(), warning=not action.ok)


def _record(ctx: ReconcileContext, request: BackupRequest, **changes: object) -> None:
    updated: BackupRequest = {**request, **changes}  # type: ignore[typeddict-item]
    BACKUP_REQUEST.remember(ctx, updated)
