"""vzdump, backup volumes, retention, restore."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from proxmoxer import ResourceException

from tests.simulator.proxmox.target import Target, wait_for

DAY = 86400
ARCHIVE = re.compile(
    r"^local:backup/vzdump-qemu-(\d+)-(\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2})\.vma\.zst$"
)


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def _backups(
    target: Target, node: str, vmid: int | None = None, storage: str = "local"
) -> list[dict[str, object]]:
    params: dict[str, object] = {"content": "backup"}
    if vmid is not None:
        params["vmid"] = vmid
    return list(target.api.nodes(node).storage(storage).content.get(**params))


def test_vzdump_writes_an_archive(sim: Target) -> None:
    sim.clone("pve2", 9001, 600, name="web1")
    upid = sim.api.nodes("pve2").vzdump.post(
        vmid="600",
        storage="local",
        compress="zstd",
        mode="snapshot",
        **{"notes-template": "{{guestname}} on {{node}}"},
    )
    assert ":vzdump:600:" in upid
    sim.ok("pve2", upid)
    log = sim.task_log("pve2", upid)
    assert log[0].startswith("INFO: starting new backup job: vzdump 600")
    assert "INFO: Backup job finished successfully" in log
    (backup,) = _backups(sim, "pve2", 600)
    match = ARCHIVE.match(str(backup["volid"]))
    assert match and match.group(1) == "600"
    stamp = dt.datetime.strptime(match.group(2), "%Y_%m_%d-%H_%M_%S").replace(tzinfo=dt.UTC)
    assert backup["ctime"] == int(stamp.timestamp())
    assert backup["format"] == "vma.zst" and backup["subtype"] == "qemu" and backup["vmid"] == 600
    assert backup["notes"] == "web1 on pve2"
    assert "protected" not in backup and int(str(backup["size"])) > 0
    volume = sim.api.nodes("pve2").storage("local").content(backup["volid"]).get()
    assert volume["path"] == f"/var/lib/vz/dump/{str(backup['volid']).split('/', 1)[1]}"


def test_vzdump_of_guests_living_elsewhere_answers_ok(sim: Target) -> None:
    assert sim.api.nodes("pve3").vzdump.post(vmid="9001") == "OK"


def test_vzdump_parameter_checks(sim: Target) -> None:
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").vzdump.post(storage="local")
    assert err.value.status_code == 400 and "vmid" in err.value.errors
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").vzdump.post(vmid="9001", all=1)
    assert err.value.errors == {"all": "option conflicts with option 'vmid'"}
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").vzdump.post(vmid="9001", storage="local-lvm")
    assert err.value.content == "can't use storage 'local-lvm' for backups - wrong content type"


def test_backup_holds_lock_backup(sim: Target) -> None:
    sim.clone("pve2", 9001, 601)
    stuck = sim.faults.stick_tasks("vzdump")
    upid = sim.api.nodes("pve2").vzdump.post(vmid="601")
    wait_for(
        lambda: sim.api.nodes("pve2").qemu(601).config.get().get("lock") == "backup",
        what="lock: backup",
    )
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(601).config.put(cores=4)
    assert err.value.content == "VM is locked (backup)"
    second = sim.wait_task("pve2", sim.api.nodes("pve2").vzdump.post(vmid="601", lockwait=0))
    assert second["exitstatus"] == "can't lock file '/var/run/vzdump.lock@pve2' - got timeout"
    sim.faults.release(stuck)
    sim.ok("pve2", upid)
    assert "lock" not in sim.api.nodes("pve2").qemu(601).config.get()


def test_vzdump_prunes_with_keep_last(sim: Target) -> None:
    sim.clone("pve2", 9001, 602)
    for _ in range(4):
        sim.ok(
            "pve2",
            sim.api.nodes("pve2").vzdump.post(vmid="602", **{"prune-backups": "keep-last=2"}),
        )
        sim.advance(3600)
    assert len(_backups(sim, "pve2", 602)) == 2


@pytest.mark.pve_refusal_expected
def test_protected_and_notes_need_a_storage(sim: Target) -> None:
    """PVE's schema: `protected` and `notes-template` each `requires` `storage`."""
    for extra in ({"protected": 1}, {"notes-template": "{{guestname}}"}):
        with pytest.raises(ResourceException) as err:
            sim.api.nodes("pve2").vzdump.post(vmid="9001", **extra)
        assert err.value.status_code == 400
        assert err.value.errors == {
            "storage": f"missing property - '{next(iter(extra))}' requires this property"
        }


def test_protected_backups_survive_pruning_and_deletion(sim: Target) -> None:
    sim.clone("pve2", 9001, 603)
    sim.ok("pve2", sim.api.nodes("pve2").vzdump.post(vmid="603", storage="local", protected=1))
    sim.advance(3600)
    sim.ok(
        "pve2", sim.api.nodes("pve2").vzdump.post(vmid="603", **{"prune-backups": "keep-last=1"})
    )
    backups = _backups(sim, "pve2", 603)
    assert len(backups) == 2 and sum(1 for b in backups if b.get("protected")) == 1
    protected = next(b for b in backups if b.get("protected"))
    volume = sim.api.nodes("pve2").storage("local").content(protected["volid"])
    failed = sim.wait_task("pve2", volume.delete())
    assert failed["exitstatus"].startswith("cannot remove protected archive")
    volume.put(protected=0, notes="kept by hand")
    assert volume.get()["notes"] == "kept by hand"
    sim.ok("pve2", volume.delete())
    assert len(_backups(sim, "pve2", 603)) == 1


def test_retention_7_4_12_across_a_month_boundary(make_sim: Callable[..., Target]) -> None:
    sim = make_sim(start_epoch=_epoch("2025-01-25T21:00:00"))
    sim.clone("pve2", 9001, 610)
    for _ in range(40):
        sim.ok("pve2", sim.api.nodes("pve2").vzdump.post(vmid="610", remove=0))
        sim.advance(DAY)
    keep = "keep-daily=7,keep-weekly=4,keep-monthly=12"
    marks = (
        sim.api.nodes("pve2")
        .storage("local")
        .prunebackups.get(**{"prune-backups": keep, "vmid": 610})
    )
    kept = sorted(_day(m["ctime"]) for m in marks if m["mark"] == "keep")
    # Weekly keeps the newest of each ISO week not yet covered (Feb 23, 16, 9, 2) and marks the
    # rest of those weeks for removal, so January's monthly keep is the 26th, not the 31st.
    expected = [
        "01-26",
        "02-02",
        "02-09",
        "02-16",
        "02-23",
        "02-27",
        "02-28",
        "03-01",
        "03-02",
        "03-03",
        "03-04",
        "03-05",
    ]
    assert kept == expected
    upid = (
        sim.api.nodes("pve2")
        .storage("local")
        .prunebackups.delete(**{"prune-backups": keep, "vmid": 610})
    )
    sim.ok("pve2", upid)
    assert sorted(_day(b["ctime"]) for b in _backups(sim, "pve2", 610)) == expected


def _day(ctime: object) -> str:
    return dt.datetime.fromtimestamp(int(str(ctime)), dt.UTC).strftime("%m-%d")


def test_restore_into_a_new_vm_and_over_an_existing_one(sim: Target) -> None:
    sim.clone("pve2", 9001, 620, name="source")
    sim.api.nodes("pve2").qemu(620).config.put(cores=3)
    sim.ok("pve2", sim.api.nodes("pve2").vzdump.post(vmid="620"))
    (backup,) = _backups(sim, "pve2", 620)
    upid = sim.api.nodes("pve2").qemu.post(vmid=621, archive=backup["volid"], unique=1)
    assert ":qmrestore:621:" in upid
    sim.ok("pve2", upid)
    restored = sim.api.nodes("pve2").qemu(621).config.get()
    original = sim.api.nodes("pve2").qemu(620).config.get()
    assert restored["cores"] == 3 and restored["name"] == "source"
    assert restored["scsi0"].startswith("local-lvm:vm-621-disk-0")
    assert restored["net0"] != original["net0"]
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu.post(vmid=620, archive=backup["volid"])
    assert err.value.content == "unable to restore VM 620 - VM 620 already exists on node 'pve2'"
    sim.start("pve2", 620)
    running = sim.wait_task(
        "pve2", sim.api.nodes("pve2").qemu.post(vmid=620, archive=backup["volid"], force=1)
    )
    assert running["exitstatus"] == "unable to restore VM 620 - vm is running"
    sim.ok("pve2", sim.api.nodes("pve2").qemu(620).status.stop.post())
    sim.ok("pve2", sim.api.nodes("pve2").qemu.post(vmid=620, archive=backup["volid"], force=1))


def test_backups_on_shared_storage_are_visible_from_every_node(sim: Target) -> None:
    sim.clone("pve2", 9001, 630)
    sim.ok("pve2", sim.api.nodes("pve2").vzdump.post(vmid="630", storage="nas"))
    (backup,) = _backups(sim, "pve3", 630, storage="nas")
    assert str(backup["volid"]).startswith("nas:backup/vzdump-qemu-630-")
    sim.ok("pve3", sim.api.nodes("pve3").qemu.post(vmid=631, archive=backup["volid"]))
    assert (
        sim.api.nodes("pve3").qemu(631).config.get()["scsi0"].startswith("local-lvm:vm-631-disk-0")
    )
    assert _backups(sim, "pve3", 630) == []
