"""Performing the data disk actions of ``disks.py`` through the Proxmox config API.

Each write reads the config again and carries its digest, so a concurrent edit fails
instead of landing on a changed VM. An attach is recorded in the VM's ``data-disks`` slot
*before* the POST that allocates the volume: a crash in between leaves a record of a slot
that holds nothing (ignored, and dropped by the next disk write), never a disk homeport
would not know to detach. An attach that finds its slot already filled (an answer lost on
the way back) allocates nothing. A detach is a ``delete`` without ``force``: Proxmox keeps
the volume as ``unusedN``.
"""

from __future__ import annotations

from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import TaskRef, VmConfig
from homeport.reconcilers.base import Action, ReconcileContext
from homeport.reconcilers.slots import VM_DATA_DISKS
from homeport.reconcilers.vm.disks import AttachDisk, DetachDisk, SetDiskOptions

TASK_TIMEOUT = 300.0


async def apply_disk(px: ProxmoxClient, action: Action, ctx: ReconcileContext) -> None:
    if isinstance(action, AttachDisk):
        await _attach(px, action, ctx)
    elif isinstance(action, SetDiskOptions):
        config = await px.vm_config(action.node, action.vmid)
        await _write(px, action.node, action.vmid, config, {action.slot: action.value})
    elif isinstance(action, DetachDisk):
        config = await px.vm_config(action.node, action.vmid)
        if config.text(action.slot) is not None:
            await _write(px, action.node, action.vmid, config, {}, delete=(action.slot,))
        _record(ctx, config, drop=action.slot)
        ctx.event(
            "DiskDetached",
            f"data disk {action.name!r} ({action.slot}) detached; its volume "
            f"{action.volume} is kept as an unused disk of VM {action.vmid}",
        )
    else:
        raise TypeError(f"not a data disk action: {action!r}")


async def _attach(px: ProxmoxClient, action: AttachDisk, ctx: ReconcileContext) -> None:
    config = await px.vm_config(action.node, action.vmid)
    _record(ctx, config, add=(action.slot, action.name))
    if config.text(action.slot) is None:
        await _write(px, action.node, action.vmid, config, {action.slot: action.value})


def _record(
    ctx: ReconcileContext,
    config: VmConfig,
    *,
    add: tuple[str, str] | None = None,
    drop: str | None = None,
) -> None:
    """Rewrite the record of attached slots: only slots that hold a disk, plus ``add``."""
    record = VM_DATA_DISKS.recall(ctx)
    recorded = record.get("slots") if record else None
    slots = dict(recorded) if isinstance(recorded, dict) else {}
    slots = {s: n for s, n in slots.items() if config.text(s) is not None and s != drop}
    if add is not None:
        slots[add[0]] = add[1]
    VM_DATA_DISKS.remember(ctx, {"slots": slots})


async def _write(
    px: ProxmoxClient,
    node: str,
    vmid: int,
    config: VmConfig,
    changes: dict[str, str],
    *,
    delete: tuple[str, ...] = (),
) -> None:
    # POST: allocating a volume (or unplugging one) runs as a qmconfig task.
    task: TaskRef | None = await px.update_config(
        node, vmid, changes=dict(changes), delete=delete, digest=config.digest
    )
    if task is not None:
        await px.tasks.wait(task, timeout=TASK_TIMEOUT)
