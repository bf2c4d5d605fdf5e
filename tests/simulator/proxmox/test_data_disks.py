"""Data disks as PVE handles them: `scsiN: STORAGE:GiB,...` allocates a volume with its
options, `delete=scsiN` detaches it to `unusedN` (volume kept), a shrink is refused, and
vzdump leaves `backup=0` drives and unused volumes out of the archive."""

from __future__ import annotations

from tests.simulator.proxmox.target import Target


def test_a_data_disk_is_allocated_detached_and_kept(sim: Target) -> None:
    sim.clone("pve2", 9001, 640, name="nas")
    vm = sim.api.nodes("pve2").qemu(640)
    vm.config.put(
        scsi1="local-lvm:2,discard=on,ssd=1,cache=writeback", scsi2="local-lvm:1,backup=0"
    )
    config = vm.config.get()
    assert config["scsi1"] == "local-lvm:vm-640-disk-1,cache=writeback,discard=on,size=2G,ssd=1"
    assert str(config["scsi2"]).endswith(",backup=0,size=1G")
    shrink = sim.wait_task("pve2", vm.resize.put(disk="scsi1", size="1G"))
    assert shrink["exitstatus"] == "shrinking disks is not supported"
    sim.ok("pve2", vm.resize.put(disk="scsi1", size="3G"))
    assert "size=3G" in vm.config.get()["scsi1"]
    vm.config.put(delete="scsi1")
    config = vm.config.get()
    assert "scsi1" not in config and config["unused0"] == "local-lvm:vm-640-disk-1"
    volumes = sim.api.nodes("pve2").storage("local-lvm").content.get(vmid=640)
    assert "local-lvm:vm-640-disk-1" in {v["volid"] for v in volumes}


def test_vzdump_leaves_out_backup_0_drives_and_unused_volumes(sim: Target) -> None:
    sim.clone("pve2", 9001, 641, name="db")
    vm = sim.api.nodes("pve2").qemu(641)
    vm.config.put(scsi1="local-lvm:1,backup=0", scsi2="local-lvm:1")
    vm.config.put(delete="scsi2")
    log = sim.task_log(
        "pve2", sim.ok("pve2", sim.api.nodes("pve2").vzdump.post(vmid="641"))["upid"]
    )
    assert "INFO: exclude disk 'scsi1' 'local-lvm:vm-641-disk-1' (backup=no)" in log
    assert any(line.startswith("INFO: include disk 'scsi0'") for line in log)
    assert not any("vm-641-disk-2" in line for line in log)
