"""``ctx.allocate``: only "another object holds it" is answered by picking another value
(``AllocationTaken`` → retry in 0.1 s); any other failure (the store, the shared replica)
propagates as what it is — before, every exception was taken for a taken vmid."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from homeport.clients.bundle import Clients
from homeport.clients.proxmox_models import ClusterResources
from homeport.controller.clock import FakeClock
from homeport.controller.context import ControllerContext, ObjectContext
from homeport.controller.store import Store
from homeport.reconcilers.backuppolicy import BackupPolicyReconciler, BackupSettings
from homeport.reconcilers.backuppolicy.actions import BeginRestoreTest
from homeport.reconcilers.backuppolicy.observe import SCRATCH_POOL
from homeport.reconcilers.base import Action, AllocationTaken, Reconciler
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.vm import VMReconciler, VMSettings
from homeport.reconcilers.vm.actions import AllocateVmid


class BrokenStoreContext(ObjectContext):
    def allocate(
        self, pool: str, value: int, *, high: int | None = None, unavailable: Iterable[int] = ()
    ) -> int:
        raise sqlite3.OperationalError("disk I/O error")


class EmptyCluster:
    """A Proxmox cluster with no VM yet (the VM reconciler lists it before reserving)."""

    async def cluster_resources(self) -> ClusterResources:
        return ClusterResources()


@pytest.fixture
def base(tmp_path: Path) -> ControllerContext:
    store = Store.open(tmp_path / "state.db")
    return ControllerContext(
        store=store, clock=FakeClock(), clients=Clients(proxmox=EmptyCluster())
    )


def test_a_value_another_object_holds_is_allocation_taken(base: ControllerContext) -> None:
    base.for_object(("VM", "a")).allocate("vmid", 9100)
    with pytest.raises(AllocationTaken) as taken:
        base.for_object(("VM", "b")).allocate("vmid", 9100)
    assert (taken.value.pool, taken.value.value) == ("vmid", 9100)
    base.for_object(("VM", "a")).allocate("vmid", 9100)  # its own: idempotent


VM = VMReconciler(VMSettings(vmid_min=100, vmid_max=200, ssh_port=22, homeport_public_key="k"))
POLICY = BackupPolicyReconciler(BackupSettings())
CASES: list[tuple[Reconciler[Any, Any], Action, str]] = [
    (VM, AllocateVmid(9100), "vmid"),
    (POLICY, BeginRestoreTest("web", "local:backup/x", 9100, "pve1", "local"), SCRATCH_POOL),
]


@pytest.mark.parametrize(("reconciler", "action", "pool"), CASES, ids=["VM", "BackupPolicy"])
async def test_taken_retries_and_anything_else_propagates(
    base: ControllerContext, reconciler: Reconciler[Any, Any], action: Action, pool: str
) -> None:
    base.for_object(("Other", "holder")).allocate(pool, 9100)
    with pytest.raises(TemporaryError) as retry:
        await reconciler.act(action, base.for_object(("X", "mine")))
    assert retry.value.delay == 0.1 and "taken" in str(retry.value)
    with pytest.raises(sqlite3.OperationalError):
        await reconciler.act(action, BrokenStoreContext(base, ("X", "mine")))
