"""Storage replication: jobs, node-local status, scheduled syncs, failures, direction."""

from __future__ import annotations

import pytest
from proxmoxer import ResourceException

from tests.simulator.proxmox.target import Target, wait_for

# Storage replication needs ZFS: a full clone of the node's template onto `local-zfs`.
ZFS = {"full": 1, "storage": "local-zfs"}


def _status(sim: Target, node: str, job: str) -> dict[str, object]:
    return dict(sim.api.nodes(node).replication(job).status.get())


def test_job_runs_at_once_then_on_schedule(sim: Target) -> None:
    sim.clone("pve2", 9001, 700, **ZFS)
    assert (
        sim.api.cluster.replication.post(
            id="700-0", type="local", target="pve3", schedule="*/15", rate=50
        )
        is None
    )
    (job,) = sim.api.cluster.replication.get()
    assert job == {
        "id": "700-0",
        "type": "local",
        "guest": 700,
        "jobnum": 0,
        "target": "pve3",
        "schedule": "*/15",
        "rate": "50",
        "source": "pve2",
    }
    status = wait_for(
        lambda: (s := _status(sim, "pve2", "700-0"))["last_sync"] and s, what="the first sync"
    )
    assert status["fail_count"] == 0 and "error" not in status
    assert status["next_sync"] > status["last_sync"]
    assert {"last_try", "duration", "vmtype", "schedule"} <= set(status)
    first = status["last_sync"]
    sim.advance(900)
    wait_for(
        lambda: _status(sim, "pve2", "700-0")["last_sync"] > first, what="the next scheduled sync"
    )
    log = [line["t"] for line in sim.api.nodes("pve2").replication("700-0").log.get()]
    assert log[0].endswith("700-0: start replication job") and log[-1].endswith(
        "end replication job"
    )
    listed = sim.api.nodes("pve2").replication.get(guest=700)
    assert [j["id"] for j in listed] == ["700-0"]


def test_status_is_node_local(sim: Target) -> None:
    sim.clone("pve2", 9001, 701, **ZFS)
    sim.api.cluster.replication.post(id="701-0", type="local", target="pve3")
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve3").replication("701-0").status.get()
    assert err.value.content == "no such replication job '701-0'"
    assert sim.api.nodes("pve3").replication.get() == []


@pytest.mark.pve_refusal_expected
def test_job_validation(sim: Target) -> None:
    sim.clone("pve2", 9001, 702, **ZFS)
    with pytest.raises(ResourceException) as err:
        sim.api.cluster.replication.post(id="702-0", target="pve3")
    assert err.value.status_code == 400 and "type" in err.value.errors
    with pytest.raises(ResourceException) as err:
        sim.api.cluster.replication.post(id="7020", type="local", target="pve3")
    assert err.value.errors == {"id": "value does not match the regex pattern"}
    sim.api.cluster.replication.post(id="702-0", type="local", target="pve3")
    with pytest.raises(ResourceException) as err:
        sim.api.cluster.replication.post(id="702-0", type="local", target="pve1")
    assert err.value.status_code == 500


def test_replicated_vm_needs_purge_to_be_destroyed(sim: Target) -> None:
    sim.clone("pve2", 9001, 703, **ZFS)
    sim.api.cluster.replication.post(id="703-0", type="local", target="pve3")
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(703).delete()
    assert (
        err.value.content
        == "There is a replication job '703-0' for guest '703' - Please remove that first."
    )
    sim.ok("pve2", sim.api.nodes("pve2").qemu(703).delete(purge=1))
    assert sim.api.cluster.replication.get() == []


def test_schedule_now_and_removal(sim: Target) -> None:
    sim.clone("pve2", 9001, 704, **ZFS)
    sim.api.cluster.replication.post(id="704-0", type="local", target="pve3", schedule="sat 02:00")
    first = wait_for(lambda: _status(sim, "pve2", "704-0")["last_sync"], what="the first sync")
    sim.advance(120)
    sim.api.nodes("pve2").replication("704-0").schedule_now.post()
    wait_for(lambda: _status(sim, "pve2", "704-0")["last_sync"] > first, what="the forced sync")
    sim.api.cluster.replication("704-0").delete()
    assert sim.api.cluster.replication("704-0").get()["remove_job"] == "full"
    sim.advance(60)
    wait_for(lambda: sim.api.cluster.replication.get() == [], what="the job to be removed")


def test_migrating_to_the_target_turns_the_job_around(sim: Target) -> None:
    sim.clone("pve2", 9001, 705, **ZFS)
    sim.api.cluster.replication.post(id="705-0", type="local", target="pve3")
    wait_for(lambda: _status(sim, "pve2", "705-0")["last_sync"], what="the first sync")
    sim.start("pve2", 705)
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(705).migrate.post(target="pve1", online=1)
    assert (
        err.value.content
        == "Cannot live-migrate replicated VM to node 'pve1' - not a replication target"
    )
    upid = sim.api.nodes("pve2").qemu(705).migrate.post(target="pve3", online=1)
    sim.ok("pve2", upid)
    assert any("replicated disk" in line for line in sim.task_log("pve2", upid))
    job = sim.api.cluster.replication("705-0").get()
    assert job["target"] == "pve2" and job["source"] == "pve3"
    assert _status(sim, "pve3", "705-0")["target"] == "pve2"


def test_job_needs_the_replicate_feature_on_every_replicated_volume(sim: Target) -> None:
    # On local-lvm (lvmthin): refused synchronously, naming the volume; no job is written.
    sim.clone("pve2", 9001, 706, full=1, storage="local-lvm")
    with pytest.raises(ResourceException) as err:
        sim.api.cluster.replication.post(id="706-0", type="local", target="pve3")
    assert err.value.status_code == 500
    assert err.value.content == "missing replicate feature on volume 'local-lvm:vm-706-disk-0'"
    assert sim.api.cluster.replication.get() == []
    # The first such volume in config order, even when another one is on ZFS.
    sim.ok(
        "pve2",
        sim.api.nodes("pve2").qemu.post(
            vmid=707, scsi0="local-zfs:4", scsi1="local-lvm:1", virtio0="local-lvm:1"
        ),
    )
    with pytest.raises(ResourceException) as err:
        sim.api.cluster.replication.post(id="707-0", type="local", target="pve3")
    assert err.value.content == "missing replicate feature on volume 'local-lvm:vm-707-disk-0'"
    # On local-zfs: accepted although the cloud-init drive, a CD-ROM, a `replicate=0` disk
    # (all on local-lvm) and a disk on shared storage are not on ZFS: none is replicated.
    upid = sim.api.nodes("pve2").qemu.post(
        vmid=708,
        scsi0="local-zfs:4",
        ide2="local-lvm:cloudinit",
        ide0="none,media=cdrom",
        scsi1="local-lvm:1,replicate=0",
        scsi2="nas:1",
    )
    sim.ok("pve2", upid)
    config = sim.api.nodes("pve2").qemu(708).config.get()
    assert config["scsi0"].startswith("local-zfs:vm-708-disk-0,")
    assert config["ide2"] == "local-lvm:vm-708-cloudinit,media=cdrom"
    assert sim.api.cluster.replication.post(id="708-0", type="local", target="pve3") is None
    status = wait_for(
        lambda: (s := _status(sim, "pve2", "708-0"))["last_sync"] and s, what="the first sync"
    )
    assert status["fail_count"] == 0 and "error" not in status
    disks = {
        d["volid"]: d["replicated"]
        for d in sim.api.nodes("pve2").qemu(708).migrate.get()["local_disks"]
    }
    assert disks["local-zfs:vm-708-disk-0"] == 1
    assert disks["local-lvm:vm-708-cloudinit"] == 0 and disks["local-lvm:vm-708-disk-0"] == 0
