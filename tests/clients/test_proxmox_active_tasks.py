"""``ProxmoxTasks.active``: the tasks still running in the cluster, from ``/cluster/tasks``."""

from __future__ import annotations

import pytest

from homeport.clients.proxmox import ProxmoxClient

pytestmark = pytest.mark.integration


async def test_a_running_clone_is_active_until_it_ends(proxmox: ProxmoxClient) -> None:
    vmid = await proxmox.next_vmid()
    task = await proxmox.clone_vm("pve1", 9000, newid=vmid, name="web-1", full=True)
    assert task is not None
    active = await proxmox.tasks.active()
    # PVE names a clone task after its source (the template), like the UPID does.
    assert [(t.type, t.id, t.node) for t in active if t.upid == task.upid] == [
        ("qmclone", "9000", "pve1")
    ]
    await proxmox.tasks.wait(task, timeout=120)
    assert all(t.upid != task.upid for t in await proxmox.tasks.active())
