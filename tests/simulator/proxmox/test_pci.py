"""PCI passthrough as PVE handles it: devices per node, cluster resource mappings, and
PVE's refusals — a missing or busy device at start, PCIe without q35, any live migration
of a VM with hostpci, an offline move of a raw device or to a node the mapping lacks."""

from __future__ import annotations

from tests.simulator.proxmox.target import Target

GPU = "node={node},path={path},id=10de:2204,iommugroup=14"


def _start_failure(sim: Target, node: str, vmid: int) -> str:
    status = sim.wait_task(node, sim.api.nodes(node).qemu(vmid).status.start.post())
    return str(status["exitstatus"])


def _migrate_log(sim: Target, node: str, vmid: int, **params: object) -> list[str]:
    upid = sim.api.nodes(node).qemu(vmid).migrate.post(**params)
    assert sim.wait_task(node, upid)["exitstatus"] == "migration aborted"
    return sim.task_log(node, upid)


def test_each_node_lists_its_own_pci_devices(sim: Target) -> None:
    ids = [d["id"] for d in sim.api.nodes("pve1").hardware.pci.get()]
    assert ids == ["0000:01:00.0", "0000:01:00.1"]
    (gpu, _) = sim.api.nodes("pve2").hardware.pci.get()
    assert gpu["id"] == "0000:41:00.0" and gpu["vendor"] == "0x10de"
    assert gpu["class"] == "0x030000" and gpu["iommugroup"] == 14
    assert sim.api.nodes("pve3").hardware.pci.get() == []


def test_a_raw_device_starts_once_needs_q35_for_pcie_and_never_moves(sim: Target) -> None:
    sim.clone("pve2", 9001, 650, name="gpu1")
    sim.clone("pve2", 9001, 651, name="gpu2")
    sim.clone("pve2", 9001, 652, name="nogpu")
    first = sim.api.nodes("pve2").qemu(650)
    first.config.put(hostpci0="0000:41:00,pcie=1")
    assert _start_failure(sim, "pve2", 650) == "q35 machine model is not enabled"
    first.config.put(machine="q35")
    sim.start("pve2", 650)
    sim.api.nodes("pve2").qemu(651).config.put(hostpci0="0000:41:00.0")
    refused = _start_failure(sim, "pve2", 651)
    assert refused == "PCI device '0000:41:00.0' already in use by VMID '650'"
    sim.api.nodes("pve2").qemu(652).config.put(hostpci0="0000:05:00")
    assert _start_failure(sim, "pve2", 652) == "no pci device info for device '0000:05:00'"
    log = _migrate_log(sim, "pve2", 650, target="pve1", online=1, **{"with-local-disks": 1})
    assert (
        "ERROR: migration aborted (duration 00:00:00): can't migrate VM which uses local "
        "devices: hostpci0"
    ) in log
    assert first.migrate.get()["local_resources"] == ["hostpci0"]
    sim.ok("pve2", first.status.stop.post())
    log = _migrate_log(sim, "pve2", 650, target="pve1")
    assert any("can't migrate VM which uses local devices: hostpci0" in line for line in log)


def test_a_mapped_device_moves_only_stopped_and_only_where_mapped(sim: Target) -> None:
    sim.api.cluster.mapping.pci.post(
        id="gpu",
        map=[
            GPU.format(node="pve1", path="0000:01:00"),
            GPU.format(node="pve2", path="0000:41:00"),
        ],
        description="RTX 3090",
    )
    (mapping,) = sim.api.cluster.mapping.pci.get()
    assert mapping["id"] == "gpu" and len(mapping["map"]) == 2
    sim.clone("pve2", 9001, 660, name="llm", full=1)
    vm = sim.api.nodes("pve2").qemu(660)
    vm.config.put(hostpci0="mapping=gpu,pcie=1", machine="q35")
    sim.start("pve2", 660)
    log = _migrate_log(sim, "pve2", 660, target="pve1", online=1, **{"with-local-disks": 1})
    assert any(
        "can't migrate running VM which uses mapped devices: hostpci0" in line for line in log
    )
    sim.ok("pve2", vm.status.stop.post())
    log = _migrate_log(sim, "pve2", 660, target="pve3")
    assert any("can't migrate to 'pve3': missing mapped devices gpu" in line for line in log)
    sim.ok("pve2", vm.migrate.post(target="pve1"))
    sim.start("pve1", 660)
    sim.clone("pve3", 9002, 661, name="nowhere")
    sim.api.nodes("pve3").qemu(661).config.put(hostpci0="mapping=gpu", machine="q35")
    assert _start_failure(sim, "pve3", 661) == "PCI device mapping not found for 'gpu'"
