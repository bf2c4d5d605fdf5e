"""A running VM whose Machine changes is live-migrated, local disks and all, on the
simulator: PVE aborts a live migration of local disks unless it is allowed to copy them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration

ESTATE = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536}}
---
apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m2}
spec: {node: pve2, capacity: {cores: 16, memoryMiB: 65536}}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: mover}
spec: {machine: MACHINE, disk: {sizeGiB: 8}}
"""


@contextlib.asynccontextmanager
async def mover_estate(tmp_path: Path) -> AsyncIterator[tuple[EstateHarness, int]]:
    """The estate converged, with VM ``mover`` running on pve1; yields it and its vmid."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "estate.yaml").write_text(ESTATE.replace("MACHINE", "m1"))
    async with EstateHarness.running(tmp_path, manifests=folder) as h:
        await h.converged(timeout=60)
        vm = h.object("VM", "mover")
        assert vm is not None and vm.status.details["node"] == "pve1"
        yield h, int(vm.status.details["vmid"])


async def test_a_running_vm_moves_to_its_new_machine(tmp_path: Path) -> None:
    async with mover_estate(tmp_path) as (h, vmid):
        await h.push({"manifests/estate.yaml": ESTATE.replace("MACHINE", "m2")}, "move it")

        def moved() -> bool:
            found = h.object("VM", "mover")
            return found is not None and found.ready and found.status.details["node"] == "pve2"

        await until(moved, timeout=90, what="mover running on pve2")
        px = h.clients.proxmox
        status = await px.vm_status("pve2", vmid)
        assert status.status == "running"
        resources = await px.cluster_resources()
        assert [(v.node, v.vmid) for v in resources.vms if v.name == "mover"] == [("pve2", vmid)]
