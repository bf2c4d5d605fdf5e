"""Proxmox tasks still running on a VM: a VM is not Ready while one that changes it runs.

A config lock is not enough to tell: a task may run before it takes the lock or after it
dropped it, and a daemon restarted in the middle of a migration (its journal marks the
action interrupted) must not call the VM Ready while the migration goes on. One
``/cluster/tasks`` read per resync, shared by every VM (``observe.py``).
"""

from __future__ import annotations

from homeport.clients.proxmox_tasks import ActiveTask
from homeport.reconcilers.base import ClientAccess

ACTIVE_TASKS = "proxmox.active_tasks"
VM_TASKS = frozenset(
    {
        "qmclone",
        "qmigrate",
        "hamigrate",
        "qmstart",
        "qmstop",
        "qmshutdown",
        "qmreboot",
        "qmresize",
        "qmconfig",
        "qmdestroy",
    }
)
"""The task types of what the VM reconciler does to a VM (never a backup: ``vzdump``
belongs to the BackupPolicy and must not hold the VM's dependants back)."""


async def running_tasks(ctx: ClientAccess, vmid: int) -> tuple[str, ...]:
    px = ctx.clients.proxmox
    tasks: list[ActiveTask] = await ctx.shared(ACTIVE_TASKS, px.tasks.active)
    return tuple(sorted({t.type for t in tasks if t.id == str(vmid) and t.type in VM_TASKS}))
