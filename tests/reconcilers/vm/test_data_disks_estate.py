"""A NAS VM's data disks on the simulator (seed 004): created in their slots with their
options, one grown in place, one removed from the middle of the list — detached to an
``unusedN`` entry with its volume kept, the others untouched — and a converged estate
costs zero mutating calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.simulator.pve import storage as st
from homeport.simulator.pve.vms import vm_on_node
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration

GIB = 1 << 30
MACHINE = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536}}
---
"""
NAS = """apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: nas}
spec:
  machine: m1
  disk: {sizeGiB: 8}
  dataDisks:
    - {name: media, slot: scsi1, sizeGiB: 4, discard: true}
    - {name: photos, slot: scsi2, sizeGiB: 2, ssd: true, cache: writeback}
    - {name: scratch, slot: scsi3, sizeGiB: 1, backup: false}
"""
CHANGED = NAS.replace("sizeGiB: 4,", "sizeGiB: 6,").replace(
    "    - {name: photos, slot: scsi2, sizeGiB: 2, ssd: true, cache: writeback}\n", ""
)


async def test_data_disks_are_created_grown_and_detached_never_destroyed(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "estate.yaml").write_text(MACHINE + NAS)
    async with EstateHarness.running(tmp_path, manifests=folder) as h:
        await h.converged(timeout=60)
        vm = h.object("VM", "nas")
        assert vm is not None
        vmid = vm.status.details["vmid"]
        px = h.clients.proxmox
        config = await px.vm_config("pve1", vmid)
        assert config.prop("scsi1", default_key="file")["discard"] == "on"
        assert config.prop("scsi2", default_key="file")["cache"] == "writeback"
        assert config.prop("scsi2", default_key="file")["ssd"] == "1"
        assert config.prop("scsi3", default_key="file")["backup"] == "0"
        assert [config.disk_size(s) for s in ("scsi1", "scsi2", "scsi3")] == [
            4 * GIB,
            2 * GIB,
            1 * GIB,
        ]
        photos = config.prop("scsi2", default_key="file")["file"]
        scratch = config.text("scsi3")

        await h.push({"manifests/estate.yaml": MACHINE + CHANGED}, "grow media, drop photos")

        assert h.estate.pve is not None
        world = h.estate.pve.world

        def changed() -> bool:
            conf = vm_on_node(world, "pve1", vmid).conf
            return "size=6G" in str(conf.get("scsi1")) and "scsi2" not in conf

        await until(changed, timeout=60, what="media grown and photos detached")
        await h.settled(timeout=60)
        config = await px.vm_config("pve1", vmid)
        unused = [str(v) for k, v in config.values.items() if k.startswith("unused")]
        assert unused == [photos], "the removed disk is detached, not destroyed"
        assert config.text("scsi3") == scratch, "the disk after it keeps its slot and volume"
        kept = st.find_volume(world, "pve1", photos)
        assert kept is not None and kept.size == 2 * GIB

        # -- converged: a full resync costs no mutating call ----------------------------
        before = px.stats.snapshot()
        assert h.daemon is not None and h.daemon.engine is not None
        engine = h.daemon.engine
        engine.enqueue_all()
        await until(lambda: not engine.queue.busy(), what="a full resync")
        assert px.stats.snapshot().minus(before).mutations == {}


async def test_a_smaller_data_disk_stalls_and_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "estate.yaml").write_text(MACHINE + NAS)
    async with EstateHarness.running(tmp_path, manifests=folder) as h:
        await h.converged(timeout=60)
        px = h.clients.proxmox
        vm = h.object("VM", "nas")
        assert vm is not None
        vmid = vm.status.details["vmid"]
        await h.push({"manifests/estate.yaml": MACHINE + NAS.replace("sizeGiB: 4,", "sizeGiB: 3,")})

        def refused() -> bool:
            found = h.object("VM", "nas")
            return found is not None and any(
                c.reason == "DiskShrinkRefused" for c in found.status.conditions
            )

        await until(refused, timeout=60, what="the shrink refused")
        config = await px.vm_config("pve1", vmid)
        assert config.disk_size("scsi1") == 4 * GIB
