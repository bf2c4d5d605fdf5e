"""Create, power, migrate, resize, template and destroy."""

from __future__ import annotations

import pytest
from proxmoxer import ResourceException

from tests.simulator.proxmox.target import Target, wait_for


def test_create_allocates_disks_and_writes_the_config(sim: Target) -> None:
    upid = sim.api.nodes("pve3").qemu.post(
        vmid=200,
        name="fresh",
        cores=2,
        memory="4096",
        scsi0="local-lvm:10,iothread=1",
        ide2="local-lvm:cloudinit",
        net0="virtio,bridge=vmbr0,firewall=1",
        agent="1",
        onboot=1,
    )
    assert ":qmcreate:200:" in upid
    sim.ok("pve3", upid)
    config = sim.api.nodes("pve3").qemu(200).config.get()
    assert config["scsi0"] == "local-lvm:vm-200-disk-0,iothread=1,size=10G"
    assert config["ide2"] == "local-lvm:vm-200-cloudinit,media=cdrom"
    assert config["net0"].startswith("virtio=BC:24:11:") and config["net0"].endswith(
        ",bridge=vmbr0,firewall=1"
    )
    assert config["cores"] == 2 and config["onboot"] == 1 and config["memory"] == "4096"
    assert config["smbios1"].startswith("uuid=") and "vmgenid" in config and "meta" in config


def test_create_refuses_an_existing_vmid(sim: Target) -> None:
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve3").qemu.post(vmid=9000)
    assert err.value.content == "unable to create VM 9000 - VM 9000 already exists on node 'pve1'"


def test_create_with_start(sim: Target) -> None:
    sim.ok("pve3", sim.api.nodes("pve3").qemu.post(vmid=201, start=1, scsi0="local-lvm:4"))
    assert sim.api.nodes("pve3").qemu(201).status.current.get()["status"] == "running"


def test_start_stop_and_runtime_errors_inside_tasks(sim: Target) -> None:
    sim.clone("pve2", 9001, 210)
    vm = sim.api.nodes("pve2").qemu(210)
    assert vm.status.current.get()["status"] == "stopped"
    start = vm.status.start.post()
    assert ":qmstart:210:" in start
    sim.ok("pve2", start)
    current = vm.status.current.get()
    assert current["status"] == "running" and current["qmpstatus"] == "running"
    assert current["agent"] == 1 and current["ha"] == {"managed": 0} and current["pid"] > 0
    again = sim.wait_task("pve2", vm.status.start.post())
    assert again["exitstatus"] == "VM 210 already running"
    assert sim.task_log("pve2", again["upid"])[-1] == "TASK ERROR: VM 210 already running"
    sim.ok("pve2", vm.status.stop.post())
    assert vm.status.current.get()["status"] == "stopped"
    sim.ok("pve2", vm.status.stop.post())


def test_templates_do_not_start(sim: Target) -> None:
    status = sim.wait_task("pve2", sim.api.nodes("pve2").qemu(9001).status.start.post())
    assert status["exitstatus"] == "you can't start a vm if it's a template"


def test_shutdown_and_its_timeout(sim: Target) -> None:
    sim.clone("pve2", 9001, 211)
    sim.start("pve2", 211)
    vm = sim.api.nodes("pve2").qemu(211)
    failed = sim.wait_task("pve2", vm.status.shutdown.post(timeout=1))
    assert failed["exitstatus"] == "VM quit/powerdown failed - got timeout"
    assert vm.status.current.get()["status"] == "running"
    sim.ok("pve2", vm.status.shutdown.post(timeout=1, forceStop=1))
    assert vm.status.current.get()["status"] == "stopped"
    sim.start("pve2", 211)
    sim.ok("pve2", vm.status.shutdown.post())
    assert vm.status.current.get()["status"] == "stopped"


def test_reboot_of_a_stopped_vm_fails_synchronously(sim: Target) -> None:
    sim.clone("pve2", 9001, 212)
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(212).status.reboot.post()
    assert err.value.status_code == 500
    assert err.value.content == "VM 212 not running"


def test_reboot_applies_pending_changes(sim: Target) -> None:
    sim.clone("pve2", 9001, 213)
    sim.start("pve2", 213)
    vm = sim.api.nodes("pve2").qemu(213)
    vm.config.put(cores=4)
    assert vm.config.get(current=1)["cores"] == 2
    sim.ok("pve2", vm.status.reboot.post())
    assert vm.config.get(current=1)["cores"] == 4
    assert all("pending" not in item for item in vm.pending.get())


def test_migrate_offline_and_online(sim: Target) -> None:
    sim.clone("pve2", 9001, 220, full=1)
    vm = sim.api.nodes("pve2").qemu(220)
    pre = vm.migrate.get()
    assert pre["running"] == 0 and set(pre["allowed_nodes"]) == {"pve1", "pve3"}
    assert {d["volid"] for d in pre["local_disks"]} >= {"local-lvm:vm-220-disk-0"}
    with pytest.raises(ResourceException) as err:
        vm.migrate.post(target="pve2")
    assert err.value.status_code == 400 and err.value.errors == {"target": "target is local node."}
    upid = vm.migrate.post(target="pve3")
    assert ":qmigrate:220:" in upid
    sim.ok("pve2", upid)
    moved = sim.api.nodes("pve3").qemu(220)
    assert moved.config.get()["scsi0"].startswith("local-lvm:vm-220-disk-0")
    assert {
        c["volid"] for c in sim.api.nodes("pve3").storage("local-lvm").content.get(vmid=220)
    } >= {"local-lvm:vm-220-disk-0"}
    sim.start("pve3", 220)
    with pytest.raises(ResourceException) as err:
        moved.migrate.post(target="pve1")
    assert err.value.content == "can't migrate running VM without --online"
    refused = sim.wait_task("pve3", moved.migrate.post(target="pve1", online=1))
    assert refused["exitstatus"] == "migration aborted"
    sim.ok("pve3", moved.migrate.post(target="pve1", online=1, **{"with-local-disks": 1}))
    assert sim.api.nodes("pve1").qemu(220).status.current.get()["status"] == "running"


def test_resize(sim: Target) -> None:
    sim.clone("pve2", 9001, 230, full=1)
    vm = sim.api.nodes("pve2").qemu(230)
    upid = vm.resize.put(disk="scsi0", size="+8G")
    assert ":resize:230:" in upid
    sim.ok("pve2", upid)
    assert vm.config.get()["scsi0"].endswith("size=40G")
    shrink = sim.wait_task("pve2", vm.resize.put(disk="scsi0", size="20G"))
    assert shrink["exitstatus"] == "shrinking disks is not supported"
    missing = sim.wait_task("pve2", vm.resize.put(disk="scsi5", size="+1G"))
    assert missing["exitstatus"] == "disk 'scsi5' does not exist"
    sim.ok("pve2", vm.resize.put(disk="scsi0", size="40G"))


def test_convert_to_template(sim: Target) -> None:
    sim.clone("pve2", 9001, 240, full=1)
    vm = sim.api.nodes("pve2").qemu(240)
    upid = vm.template.post()
    assert ":qmtemplate:240:" in upid
    sim.ok("pve2", upid)
    config = vm.config.get()
    assert config["template"] == 1
    assert config["scsi0"].startswith("local-lvm:base-240-disk-0")
    with pytest.raises(ResourceException) as err:
        vm.template.post()
    assert err.value.content == "you can't convert a template to a template"
    sim.clone("pve2", 240, 241)
    assert (
        sim.api.nodes("pve2")
        .qemu(241)
        .config.get()["scsi0"]
        .startswith("local-lvm:base-240-disk-0/vm-241-disk-0")
    )


def test_destroy_checks_and_purge(sim: Target) -> None:
    sim.clone("pve2", 9001, 250)
    vm = sim.api.nodes("pve2").qemu(250)
    vm.config.put(protection=1)
    with pytest.raises(ResourceException) as err:
        vm.delete()
    assert err.value.content == "can't remove VM 250 - protection mode enabled"
    vm.config.put(delete="protection")
    sim.start("pve2", 250)
    with pytest.raises(ResourceException) as err:
        vm.delete()
    assert err.value.content == "VM 250 is running - destroy failed"
    sim.ok("pve2", vm.status.stop.post())
    sim.api.cluster.ha.resources.post(sid="vm:250", state="stopped")
    with pytest.raises(ResourceException) as err:
        vm.delete()
    assert (
        err.value.content
        == "unable to remove VM 250 - used in HA resources and purge parameter not set."
    )
    upid = vm.delete(purge=1)
    assert ":qmdestroy:250:" in upid
    sim.ok("pve2", upid)
    with pytest.raises(ResourceException) as err:
        vm.config.get()
    assert (
        err.value.content == "Configuration file 'nodes/pve2/qemu-server/250.conf' does not exist"
    )
    assert sim.api.cluster.ha.resources.get() == []
    assert sim.api.nodes("pve2").storage("local-lvm").content.get(vmid=250) == []


def test_destroying_a_template_with_linked_clones_fails(sim: Target) -> None:
    sim.clone("pve2", 9001, 251)
    status = sim.wait_task("pve2", sim.api.nodes("pve2").qemu(9001).delete())
    assert status["exitstatus"] == "base volume 'base-9001-disk-0' is still in use by linked cloned"


def test_vm_list_on_a_node(sim: Target) -> None:
    sim.clone("pve2", 9001, 260, name="listed")
    items = {vm["vmid"]: vm for vm in sim.api.nodes("pve2").qemu.get()}
    assert set(items) == {9001, 260}
    assert items[9001]["template"] == 1 and items[9001]["status"] == "stopped"
    assert items[260]["name"] == "listed" and "template" not in items[260]
    assert items[260]["maxmem"] == 2048 * 1024 * 1024 and items[260]["cpus"] == 2


def test_ha_managed_start_only_requests_a_state(sim: Target) -> None:
    sim.clone("pve2", 9001, 270)
    sim.api.cluster.ha.resources.post(sid="270", state="stopped")
    upid = sim.api.nodes("pve2").qemu(270).status.start.post()
    assert ":hastart:270:" in upid
    sim.ok("pve2", upid)
    wait_for(
        lambda: sim.api.nodes("pve2").qemu(270).status.current.get()["status"] == "running",
        what="the HA manager to start the VM",
    )
    entry = next(r for r in sim.api.cluster.resources.get(type="vm") if r["vmid"] == 270)
    assert entry["hastate"] == "started"
    assert sim.api.nodes("pve2").qemu(270).status.current.get()["ha"] == {
        "managed": 1,
        "state": "started",
    }


def test_local_zfs_works_like_local_lvm(sim: Target) -> None:
    """Full clone, create, resize, migrate, backup/restore and destroy on `local-zfs`."""
    sim.clone("pve2", 9001, 260, full=1, storage="local-zfs")
    vm = sim.api.nodes("pve2").qemu(260)
    config = vm.config.get()
    assert config["scsi0"].startswith("local-zfs:vm-260-disk-0,")
    assert config["ide2"] == "local-zfs:vm-260-cloudinit,media=cdrom"
    content = sim.api.nodes("pve2").storage("local-zfs").content.get(vmid=260)
    assert {(c["volid"], c["format"]) for c in content} == {
        ("local-zfs:vm-260-disk-0", "raw"),
        ("local-zfs:vm-260-cloudinit", "raw"),
    }
    volume = sim.api.nodes("pve2").storage("local-zfs").content("vm-260-disk-0").get()
    assert volume["path"] == "/dev/zvol/rpool/data/vm-260-disk-0"
    sim.ok("pve2", vm.resize.put(disk="scsi0", size="+8G"))
    assert vm.config.get()["scsi0"].endswith("size=40G")
    sim.ok("pve2", vm.config.post(scsi1="local-zfs:2"))
    assert vm.config.get()["scsi1"].startswith("local-zfs:vm-260-disk-1,")
    sim.ok("pve2", sim.api.nodes("pve2").vzdump.post(vmid="260"))
    (backup,) = sim.api.nodes("pve2").storage("local").content.get(content="backup", vmid=260)
    upid = sim.api.nodes("pve2").qemu.post(vmid=261, archive=backup["volid"], storage="local-zfs")
    sim.ok("pve2", upid)
    assert (
        sim.api.nodes("pve2").qemu(261).config.get()["scsi0"].startswith("local-zfs:vm-261-disk-0,")
    )
    sim.ok("pve2", vm.migrate.post(target="pve3"))
    moved = sim.api.nodes("pve3").qemu(260)
    assert moved.config.get()["scsi0"].startswith("local-zfs:vm-260-disk-0,")
    assert {
        c["volid"] for c in sim.api.nodes("pve3").storage("local-zfs").content.get(vmid=260)
    } == {
        "local-zfs:vm-260-disk-0",
        "local-zfs:vm-260-disk-1",
        "local-zfs:vm-260-cloudinit",
    }
    assert sim.api.nodes("pve2").storage("local-zfs").content.get(vmid=260) == []
    sim.ok("pve3", moved.delete(purge=1))
    sim.ok("pve2", sim.api.nodes("pve2").qemu(261).delete(purge=1))
    assert sim.api.nodes("pve3").storage("local-zfs").content.get() == []
    assert sim.api.nodes("pve2").storage("local-zfs").content.get() == []
