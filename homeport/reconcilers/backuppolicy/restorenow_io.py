"""``homeport restore`` requests: observing one and performing its steps (the I/O around
the pure ``restorenow.py``)."""

from __future__ import annotations

from typing import Any

from homeport.clients.errors import ProxmoxError
from homeport.kinds import VM
from homeport.reconcilers.backuppolicy.actions import (
    AnswerRestore,
    ChooseRestoreVmid,
    FollowRestoreTask,
    RestoreArchive,
    StopForRestore,
)
from homeport.reconcilers.backuppolicy.observe import BackupSettings, px_of, resources
from homeport.reconcilers.backuppolicy.observed import SelectedVM
from homeport.reconcilers.backuppolicy.ondemand import BackupTask, is_open
from homeport.reconcilers.backuppolicy.ondemand_io import read_task
from homeport.reconcilers.backuppolicy.restorenow import RestoreSeen
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.cluster import RESOURCES
from homeport.reconcilers.slots import RESTORE_REQUEST, RestoreRequest

STOP_TIMEOUT = 600.0
RESTORED_TAG = "homeport-restored"


async def observe_restore(
    ctx: ReconcileContext, vms: tuple[SelectedVM, ...], settings: BackupSettings
) -> RestoreSeen | None:
    """The open restore request with its VM, archive and task (None: none open)."""
    request = RESTORE_REQUEST.recall(ctx)
    if request is None or not is_open(request):
        return None
    vm = next((v for v in vms if v.name == request["vm"]), None)
    if vm is None or vm.vmid is None or vm.node is None:
        return RestoreSeen(request)
    node = request.get("node") or vm.node
    volid = request["volid"]
    if not request.get("upid"):
        # Not started: the plan may pick a vmid and a name for a new VM, or check what
        # runs; a list of the window read before the last restore made its VM would let
        # a second VM of that name (or on that vmid) through. A fresh read, rare: an
        # operator's request.
        ctx.invalidate(RESOURCES)
    snapshot = await resources(ctx)
    target = request.get("vmid") or vm.vmid
    new_name = request.get("name")
    manifests = {r.name: r for r, _ in ctx.objects("VM") if isinstance(r, VM)}
    upid = request.get("upid") or await _restoring(ctx, node, target)
    task: BackupTask | None = None
    if upid is not None:
        try:
            task = await read_task(ctx, node, upid)
        except ProxmoxError:
            task = None
    return RestoreSeen(
        request,
        vm.vmid,
        vm.node,
        suspended=bool(manifests.get(vm.name) and manifests[vm.name].suspended),
        running=any(v.vmid == vm.vmid and v.status == "running" for v in snapshot.vms),
        static_ipconfigs=vm.static_ipconfigs,
        archive_found=":" in volid
        and await px_of(ctx).backups.volume(node, volid.split(":", 1)[0], volid) is not None,
        name_taken=bool(new_name)
        and (any(v.name == new_name for v in snapshot.vms) or new_name in manifests),
        free_vmid=_free_vmid(ctx, {v.vmid for v in snapshot.vms}, settings)
        if new_name and not request.get("vmid")
        else None,
        created=bool(request.get("vmid")) and any(v.vmid == target for v in snapshot.vms),
        task=task,
    )


async def _restoring(ctx: ReconcileContext, node: str, vmid: int) -> str | None:
    for active in await px_of(ctx).tasks.active():
        if active.type == "qmrestore" and active.node == node and active.id == str(vmid):
            return active.upid
    return None


def _free_vmid(ctx: ReconcileContext, used: set[int], settings: BackupSettings) -> int | None:
    """The lowest vmid outside homeport's own ranges (the VMs' and the restore tests'
    scratch VMs'), so no reconciler ever wants it."""
    taken = used | ctx.taken("vmid") | ctx.taken("restore-vmid")
    ranges = (
        (settings.vmid_min, settings.vmid_max),
        (settings.scratch_vmid_min, settings.scratch_vmid_max),
    )
    return next(
        (
            v
            for v in range(100, 1_000_000_000)
            if v not in taken and not any(low <= v <= high for low, high in ranges)
        ),
        None,
    )


Step = ChooseRestoreVmid | StopForRestore | RestoreArchive | FollowRestoreTask | AnswerRestore


async def act_restore(action: Step, ctx: ReconcileContext) -> None:
    request = RESTORE_REQUEST.recall(ctx)
    if request is None:
        return  # withdrawn meanwhile
    px = px_of(ctx)
    if isinstance(action, ChooseRestoreVmid):
        _record(ctx, request, vmid=action.vmid)
    elif isinstance(action, StopForRestore):
        try:
            task = await px.stop_vm(action.node, action.vmid)
            if task is not None:
                await px.tasks.wait(task, timeout=STOP_TIMEOUT)
        finally:  # the next pass sees it stopped (or not), not the shared snapshot's past
            ctx.invalidate(RESOURCES)
    elif isinstance(action, RestoreArchive):
        ctx.invalidate(RESOURCES)  # a VM is made (or replaced): the next look sees it
        try:
            task = await px.backups.restore(
                action.node,
                vmid=action.vmid,
                archive=action.volid,
                storage=action.storage,
                unique=action.new_name is not None,
                force=action.new_name is None,
                options=_options(action),
            )
        except ProxmoxError as exc:
            if exc.transient:
                raise  # the next pass tries again (or follows the task a lost answer started)
            # Refused outright: answered, not left open for the operator's command to wait on.
            message = f"Proxmox refused the restore: {exc}"
            _record(ctx, request, state="failed", message=message, code=1)
            ctx.event("RestoreFailed", f"restore of VM {action.vm}: {message}", warning=True)
            return
        _record(ctx, request, state="running", vmid=action.vmid, node=action.node, upid=task.upid)
    elif isinstance(action, FollowRestoreTask):
        _record(ctx, request, state="running", upid=action.upid)
    else:
        state = "done" if action.ok else "failed"
        _record(ctx, request, state=state, message=action.message, code=action.code)
        ctx.event(
            "Restored" if action.ok else "RestoreFailed", action.describe(), warning=not action.ok
        )


def _options(action: RestoreArchive) -> dict[str, Any] | None:
    """A new VM: its name, a description saying what it is, no ownership marker (not
    homeport's to prune), not started on boot, DHCP instead of static addresses."""
    if action.new_name is None:
        return None
    return {
        "name": action.new_name,
        "description": f"restored by homeport from {action.volid} (a copy of VM/{action.vm}); "
        "homeport leaves it alone unless a manifest adopts it (homeport.dev/adopt: 'true')",
        "tags": RESTORED_TAG,
        "onboot": False,
        "protection": False,
        **dict.fromkeys(action.dhcp, "ip=dhcp"),
    }


def _record(ctx: ReconcileContext, request: RestoreRequest, **changes: object) -> None:
    updated: RestoreRequest = {**request, **changes}  # type: ignore[typeddict-item]
    RESTORE_REQUEST.remember(ctx, updated)
