"""Clone: linked and full, target nodes, locks during the clone, task timing, errors."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from proxmoxer import ResourceException

from homeport.simulator.settings import Timings
from tests.simulator.proxmox.target import Target, wait_for

MAC = re.compile(r"virtio=(BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2}),")


def test_linked_clone_of_a_template(sim: Target) -> None:
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=101, name="web1")
    assert re.fullmatch(
        r"UPID:pve2:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:qmclone:9001:homeport@pve!homeport:", upid
    )
    status = sim.ok("pve2", upid)
    assert status["type"] == "qmclone" and status["id"] == "9001"
    assert status["user"] == "homeport@pve" and status["tokenid"] == "homeport"
    log = sim.task_log("pve2", upid)
    assert "create linked clone of drive scsi0 (local-lvm:base-9001-disk-0)" in log
    assert log[-1] == "TASK OK"
    config = sim.api.nodes("pve2").qemu(101).config.get()
    template = sim.api.nodes("pve2").qemu(9001).config.get()
    assert config["name"] == "web1"
    assert "template" not in config and "lock" not in config
    assert config["scsi0"] == "local-lvm:base-9001-disk-0/vm-101-disk-0,size=32G"
    assert config["ide2"] == "local-lvm:vm-101-cloudinit,media=cdrom"
    mac, template_mac = MAC.match(config["net0"]), MAC.match(template["net0"])
    assert mac and template_mac and mac.group(1) != template_mac.group(1)
    assert config["smbios1"] != template["smbios1"]
    assert re.fullmatch(r"[0-9a-f]{40}", config["digest"])


def test_full_clone_takes_time_and_holds_lock_clone(make_sim: Callable[..., Target]) -> None:
    sim = make_sim(timings=Timings(full_clone_per_32g=100))  # 1 s of wall time at 100x
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=102, full=1, name="db1")
    assert sim.api.nodes("pve2").tasks(upid).status.get()["status"] == "running"
    config = wait_for(lambda: _config_or_none(sim, "pve2", 102), what="the clone's config")
    assert config["lock"] == "clone"
    entry = next(r for r in sim.api.cluster.resources.get(type="vm") if r["vmid"] == 102)
    assert entry["lock"] == "clone"
    status = sim.ok("pve2", upid)
    assert status["exitstatus"] == "OK"
    assert any(
        "transferred 32.0 GiB of 32.0 GiB (100.00%)" in line for line in sim.task_log("pve2", upid)
    )
    config = sim.api.nodes("pve2").qemu(102).config.get()
    assert config["scsi0"] == "local-lvm:vm-102-disk-0,size=32G"
    assert "lock" not in config


def _config_or_none(target: Target, node: str, vmid: int) -> dict[str, object] | None:
    try:
        config: dict[str, object] = target.api.nodes(node).qemu(vmid).config.get()
    except ResourceException:
        return None
    return config


def test_clone_name_defaults_to_copy_of(sim: Target) -> None:
    sim.clone("pve2", 9001, 103)
    assert sim.api.nodes("pve2").qemu(103).config.get()["name"] == "Copy-of-VM-ubuntu-2404-base"


def test_clone_to_another_node_needs_shared_storage(sim: Target) -> None:
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(9001).clone.post(newid=104, target="pve3")
    assert err.value.content == "can't clone VM to node 'pve3' (VM uses local storage)"
    sim.clone("pve1", 9000, 104, target="pve3", full=1, name="remote")
    assert (
        sim.api.nodes("pve3").qemu(104).config.get()["scsi0"]
        == "nas:104/vm-104-disk-0.qcow2,size=32G"
    )
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve1").qemu(9000).clone.post(
            newid=105, target="pve3", full=1, storage="local-lvm"
        )
    assert err.value.content == "can't clone to non-shared storage 'local-lvm'"


def test_full_clone_of_the_shared_template_onto_local_storage(sim: Target) -> None:
    sim.clone("pve1", 9000, 106, full=1, storage="local-lvm")
    config = sim.api.nodes("pve1").qemu(106).config.get()
    assert config["scsi0"] == "local-lvm:vm-106-disk-0,size=32G"
    content = sim.api.nodes("pve1").storage("local-lvm").content.get(vmid=106)
    assert {c["volid"] for c in content} == {
        "local-lvm:vm-106-disk-0",
        "local-lvm:vm-106-cloudinit",
    }


def test_clone_errors(sim: Target) -> None:
    sim.clone("pve2", 9001, 107)
    cases = [
        ({"newid": 107}, "unable to create VM 107: config file already exists"),
        ({"newid": 9000}, "VM 9000 already exists on node 'pve1'"),
        (
            {"newid": 108, "storage": "local-lvm"},
            "parameter 'storage' not allowed for linked clones",
        ),
        ({"newid": 108, "target": "nowhere"}, "no such cluster node 'nowhere'"),
    ]
    for params, message in cases:
        with pytest.raises(ResourceException) as err:
            sim.api.nodes("pve2").qemu(9001).clone.post(**params)
        assert err.value.status_code == 500
        assert err.value.content == message
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve1").qemu(9001).clone.post(newid=108)
    assert (
        err.value.content == "Configuration file 'nodes/pve1/qemu-server/9001.conf' does not exist"
    )
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(107).clone.post(newid=108, full=0)
    assert err.value.content == "Linked clone feature is not supported for drive 'ide2'"


def test_config_update_during_a_clone_times_out_on_the_flock(sim: Target) -> None:
    slow_disk = sim.faults.stick_tasks("qmclone")  # the copy cannot end before we look
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=110, full=1)
    wait_for(lambda: _config_or_none(sim, "pve2", 110), what="the clone's config")
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(110).config.put(cores=4)
    timeout = "can't lock file '/var/lock/qemu-server/lock-110.conf' - got timeout"
    assert err.value.content == timeout
    sim.faults.release(slow_disk)
    sim.ok("pve2", upid)
    sim.api.nodes("pve2").qemu(110).config.put(cores=4)


def test_operations_checking_the_lock_see_lock_clone(sim: Target) -> None:
    slow_disk = sim.faults.stick_tasks("qmclone")
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=111, full=1)
    wait_for(lambda: _config_or_none(sim, "pve2", 111), what="the clone's config")
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(111).clone.post(newid=112)
    assert err.value.content == "VM is locked (clone)"
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(111).migrate.post(target="pve3")
    assert err.value.content == "VM is locked (clone)"
    start = sim.wait_task("pve2", sim.api.nodes("pve2").qemu(111).status.start.post())
    assert (
        start["exitstatus"] == "can't lock file '/var/lock/qemu-server/lock-111.conf' - got timeout"
    )
    sim.faults.release(slow_disk)
    sim.ok("pve2", upid)


def test_parallel_clones_of_one_template(sim: Target) -> None:
    upids = [sim.api.nodes("pve2").qemu(9001).clone.post(newid=n) for n in range(130, 136)]
    for upid in upids:
        sim.ok("pve2", upid)
    names = {r["vmid"] for r in sim.api.cluster.resources.get(type="vm")}
    assert set(range(130, 136)) <= names


def test_cloning_a_running_vm_twice_contends_for_its_flock(sim: Target) -> None:
    sim.clone("pve2", 9001, 140, full=1)
    sim.start("pve2", 140)
    first = sim.api.nodes("pve2").qemu(140).clone.post(newid=141)
    second = sim.api.nodes("pve2").qemu(140).clone.post(newid=142)
    results = {
        sim.wait_task("pve2", first)["exitstatus"],
        sim.wait_task("pve2", second)["exitstatus"],
    }
    assert "OK" in results
    assert "can't lock file '/var/lock/qemu-server/lock-140.conf' - got timeout" in results
