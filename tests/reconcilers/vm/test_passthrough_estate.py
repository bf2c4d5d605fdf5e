"""A GPU VM on the simulator (seed 000's GPU node): it waits for its PCI mapping to exist
in Proxmox rather than failing start after start, then its mapped device and q35 are set
and it starts; moved to another Machine it is stopped, migrated offline and started there —
PVE refuses to live-migrate a VM with hostpci — and a converged estate costs zero
mutating calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.simulator.pve.vms import vm_on_node
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration

MACHINES = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec:
  node: pve1
  capacity: {cores: 16, memoryMiB: 65536}
  pciDevices: [{address: "0000:01:00", mapping: gpu}]
---
apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m2}
spec:
  node: pve2
  capacity: {cores: 16, memoryMiB: 65536}
  pciDevices: [{address: "0000:41:00", mapping: gpu}]
"""
GPU_VM = """---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: llm}
spec:
  machine: MACHINE
  disk: {sizeGiB: 8}
  machineType: q35
  pciDevices: [{mapping: gpu, pcie: true}]
"""
MAPPING = {
    "description": "RTX 3090",
    "map": [
        "node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14",
        "node=pve2,path=0000:41:00,id=10de:2204,iommugroup=14",
    ],
}


async def test_a_gpu_vm_starts_with_its_device_and_moves_stopped(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "estate.yaml").write_text(MACHINES)
    async with EstateHarness.running(tmp_path, manifests=folder) as h:
        assert h.estate.pve is not None
        world = h.estate.pve.world
        await h.push({"manifests/estate.yaml": MACHINES + GPU_VM.replace("MACHINE", "m1")}, "llm")

        def waits_for_the_mapping() -> bool:
            found = h.object("VM", "llm")
            return found is not None and any(
                c.reason == "PciMappingMissing" for c in found.status.conditions
            )

        await until(waits_for_the_mapping, timeout=90, what="llm waiting for its PCI mapping")
        world.pci_mappings["gpu"] = MAPPING  # the operator's Datacenter → Resource Mappings
        await h.converged(timeout=90)
        vm = h.object("VM", "llm")
        assert vm is not None
        vmid = vm.status.details["vmid"]
        conf = vm_on_node(world, "pve1", vmid).conf
        assert conf["hostpci0"] == "mapping=gpu,pcie=1" and conf["machine"] == "q35"
        assert vm_on_node(world, "pve1", vmid).running

        px = h.clients.proxmox
        before = px.stats.snapshot()
        assert h.daemon is not None and h.daemon.engine is not None
        engine = h.daemon.engine
        engine.enqueue_all()
        await until(lambda: not engine.queue.busy(), what="a full resync")
        assert px.stats.snapshot().minus(before).mutations == {}

        await h.push({"manifests/estate.yaml": MACHINES + GPU_VM.replace("MACHINE", "m2")}, "move")

        def moved() -> bool:
            found = h.object("VM", "llm")
            return found is not None and found.ready and found.status.details["node"] == "pve2"

        await until(moved, timeout=90, what="llm running on pve2")
        assert vm_on_node(world, "pve2", vmid).running
        # One offline migration between a shutdown and a start: never a live attempt.
        assert px.stats.snapshot().minus(before).mutations == {
            "POST qemu.shutdown": 1,
            "POST qemu.migrate": 1,
            "POST qemu.start": 1,
        }
