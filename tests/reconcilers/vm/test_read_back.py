"""After acting on a VM, the VM reconciler reads that VM alone (``GET .../status/current``)
instead of dropping the shared cluster list: its next look sees the VM as it is now over a
list read before the act, and the estate's other VMs keep the window's list (a read of
every VM per action was the largest growing cost of a large estate's convergence). When
that read fails, the list is dropped as before. On the simulated estate, no daemon."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from homeport.clients.errors import ProxmoxError
from homeport.controller.config import load_settings
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.reconcilers.cluster import RESOURCES, listing
from homeport.reconcilers.vm import VMReconciler
from homeport.reconcilers.vm.actions import PowerVM
from homeport.simulator.estate import SimulatedEstate
from tests.reconcilers.vm.acting import VMID, ActContext, running_vm

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def running(estate: SimulatedEstate) -> AsyncIterator[tuple[VMReconciler, ActContext]]:
    """The VM reconciler and a context to act with, on a running VM ``VMID``."""
    settings = load_settings(estate.config_path)
    clients = await build_clients(settings)
    try:
        await running_vm(clients.proxmox)
        reconciler = build_reconcilers(settings)["VM"]
        assert isinstance(reconciler, VMReconciler)
        yield reconciler, ActContext(clients)
    finally:
        await close_clients(clients)


async def test_a_stopped_vm_is_seen_stopped_over_a_list_read_before(
    estate: SimulatedEstate,
) -> None:
    async with running(estate) as (reconciler, ctx):
        clients = ctx.clients
        before = await listing(ctx, clients.proxmox)  # type: ignore[arg-type]
        assert before.resources.vm(VMID).status == "running"  # type: ignore[union-attr]

        await reconciler.act(PowerVM("pve1", VMID, "stop"), ctx)  # type: ignore[arg-type]
        seen = reconciler.fresh.over(before).vm(VMID)
        assert seen is not None and seen.status == "stopped"
        assert RESOURCES not in ctx.invalidated  # the window's list is kept for the others
        after = await listing(ctx, clients.proxmox)  # type: ignore[arg-type]
        assert reconciler.fresh.over(after).vm(VMID).status == "stopped"  # type: ignore[union-attr]
        assert len(reconciler.fresh) == 0  # a list read since has it: the note is gone


async def test_when_the_vm_cannot_be_read_back_the_list_is_dropped(
    estate: SimulatedEstate, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(estate) as (reconciler, ctx):

        async def unreachable(node: str, vmid: int) -> object:
            raise ProxmoxError(595, "no route to host", operation="qemu.status")

        monkeypatch.setattr(ctx.clients.proxmox, "vm_status", unreachable)
        await reconciler.act(PowerVM("pve1", VMID, "stop"), ctx)  # type: ignore[arg-type]
        assert ctx.invalidated == [RESOURCES]
        assert len(reconciler.fresh) == 0
