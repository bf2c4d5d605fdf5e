"""The pair's Proxmox storage replication job: pure planning, no sockets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.kinds import StandbyPair
from homeport.reconcilers.base import Plan
from homeport.reconcilers.ownership import marker
from homeport.reconcilers.standbypair import StandbyPairReconciler
from homeport.reconcilers.standbypair.storagerepl import (
    CreateStorageJob,
    StorageJob,
    StorageView,
    UpdateStorageJob,
    plan_storage,
    replicated_volumes,
    unsupported_volume,
)
from tests.reconcilers.fixtures import Case, resource
from tests.reconcilers.standbypair.test_plan_fixtures import NOW, observed_for

OURS = marker("StandbyPair", "shop")


def pair(storage: dict[str, Any] | None = None) -> StandbyPair:
    replication: dict[str, Any] = {"intervalSeconds": 30}
    if storage is not None:
        replication["storage"] = storage
    made = resource(
        "StandbyPair",
        "shop",
        {"primary": "shop-a", "standby": "shop-b", "replication": replication},
    )
    assert isinstance(made, StandbyPair)
    return made


def plan(desired: StandbyPair, view: StorageView | None, primary: int = 1001) -> Any:
    return plan_storage(
        desired, view, primary_vmid=primary, primary_node="pve1", standby_node="pve2"
    )


def job(job_id: str, target: str = "pve2", **kw: Any) -> StorageJob:
    return StorageJob(job_id, int(job_id.split("-")[0]), target, comment=OURS, **kw)


def describe(actions: list[Any]) -> list[str]:
    return [a.describe() for a in actions]


def test_a_configured_pair_gets_a_job_for_its_primary_to_the_standbys_node() -> None:
    result = plan(pair({"schedule": "*/5", "rateMBps": 50}), StorageView())
    assert result.actions == [CreateStorageJob("1001-0", "pve2", "*/5", 50.0, OURS)]
    assert result.conditions == []


def test_the_job_number_skips_numbers_other_jobs_of_the_vm_use() -> None:
    other = StorageJob("1001-0", 1001, "pve3", comment="by hand")
    result = plan(pair({}), StorageView((other,)))
    assert [a.job_id for a in result.actions] == ["1001-1"]


def test_a_converged_job_changes_nothing_and_reports_its_last_sync() -> None:
    synced = int(datetime(2026, 1, 1, 11, 45, tzinfo=UTC).timestamp())
    result = plan(pair({}), StorageView((job("1001-0", last_sync=synced),)))
    assert result.actions == [] and result.conditions == []
    assert result.details["storageReplication"] == {
        "job": "1001-0",
        "target": "pve2",
        "lastSync": "2026-01-01T11:45:00+00:00",
        "failCount": 0,
        "error": None,
    }


def test_a_changed_schedule_or_rate_updates_the_job() -> None:
    result = plan(pair({"schedule": "*/5"}), StorageView((job("1001-0", rate=20.0),)))
    assert result.actions == [UpdateStorageJob("1001-0", "*/5", None)]


def test_after_a_failover_the_job_follows_the_new_primary() -> None:
    old = job("1001-0")
    result = plan_storage(
        pair({}), StorageView((old,)), primary_vmid=1002, primary_node="pve2", standby_node="pve1"
    )
    assert describe(result.actions) == [
        "remove replication job 1001-0 (not the current primary to the standby's node)",
        "replicate VM 1002's disks to pve1 (*/15, job 1002-0)",
    ]


def test_a_failing_job_is_degraded_with_proxmoxs_error() -> None:
    failing = job("1001-0", fail_count=2, error="zfs error: cannot receive")
    result = plan(pair({}), StorageView((failing,)))
    assert [(c.type, c.reason) for c in result.conditions] == [
        ("Degraded", "StorageReplicationFailing")
    ]
    assert "cannot receive" in result.conditions[0].message


def test_a_vm_off_zfs_is_reported_and_never_attempted() -> None:
    why = unsupported_volume(
        {"scsi0": "local-lvm:vm-1001-disk-0,size=32G"}, {"local-lvm": "lvmthin"}, 1001
    )
    assert why is not None and "local-lvm (lvmthin)" in why
    result = plan(pair({}), StorageView((job("1001-0"),), unsupported=why))
    assert describe(result.actions) == [
        "remove replication job 1001-0 (not the current primary to the standby's node)"
    ]
    assert [c.reason for c in result.conditions] == ["StorageReplicationUnsupported"]


def test_only_replicated_volumes_count() -> None:
    config = {
        "scsi0": "local-zfs:vm-1001-disk-0,size=32G",
        "scsi1": "local-lvm:vm-1001-disk-1,replicate=0",
        "ide2": "local-lvm:vm-1001-cloudinit,media=cdrom",
        "ide0": "none,media=cdrom",
        "net0": "virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0",
    }
    assert replicated_volumes(config) == [("scsi0", "local-zfs:vm-1001-disk-0")]
    types = {"local-zfs": "zfspool", "local-lvm": "lvmthin", "nas": "nfs"}
    assert unsupported_volume(config, types, 1001) is None
    on_nas = {**config, "scsi2": "nas:1001/vm-1001-disk-2.qcow2"}
    assert unsupported_volume(on_nas, types, 1001) is not None
    assert unsupported_volume(on_nas, types, 1001, shared=frozenset({"nas"})) is None


def test_a_pair_without_storage_replication_removes_its_job() -> None:
    result = plan(pair(None), StorageView((job("1001-0"), job("1002-0", removing=True))))
    assert describe(result.actions) == [
        "remove replication job 1001-0 (the pair no longer replicates storage)"
    ]


def test_a_job_by_someone_else_doing_the_same_is_left_alone() -> None:
    theirs = StorageJob("1001-0", 1001, "pve2", comment="made by hand")
    result = plan(pair({}), StorageView((theirs,)))
    assert result.actions == []
    assert result.details["storageReplication"]["note"].startswith("a replication job")


def test_an_unanswered_api_decides_nothing() -> None:
    result = plan(pair({}), None)
    assert result.actions == [] and result.conditions == [] and result.details == {}


def _case(desired: StandbyPair, observed: dict[str, Any]) -> Case:
    return Case("storage", desired, observed, {})


def test_a_failover_is_never_delayed_by_storage_replication() -> None:
    seen = observed_for(
        _case(
            pair({}),
            {"primary_probe": {"healthy": False, "failures": 3, "last_error": "timeout"}},
        )
    )
    seen = replace(seen, storage=StorageView())
    result = StandbyPairReconciler(secrets_dir=Path("/x"), ssh_port=22).plan(
        pair({}), seen, now=NOW
    )
    assert isinstance(result, Plan)
    assert not any(isinstance(a, CreateStorageJob) for a in result.actions)
    assert result.actions and "failover" in result.actions[0].describe()


def test_a_healthy_pair_creates_its_job_and_a_removed_pair_removes_it() -> None:
    seen = replace(observed_for(_case(pair({}), {})), storage=StorageView())
    reconciler = StandbyPairReconciler(secrets_dir=Path("/x"), ssh_port=22)
    created = reconciler.plan(pair({}), seen, now=NOW)
    assert describe(list(created.actions)) == [
        "replicate VM 1001's disks to pve2 (*/15, job 1001-0)"
    ]
    removed = reconciler.plan(None, StorageView((job("1001-0"),)), now=NOW)
    assert removed.gone and describe(list(removed.actions)) == [
        "remove replication job 1001-0 (the pair was removed)"
    ]
    assert reconciler.plan(None, StorageView(), now=NOW).actions == ()


@pytest.mark.parametrize("schedule", ["*/15", "mon..fri 22:00", "21:00"])
def test_schedules_are_proxmox_calendar_events(schedule: str) -> None:
    assert pair({"schedule": schedule}).spec.replication.storage is not None


def test_a_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match=r"schedule|calendar"):
        pair({"schedule": "every tuesday-ish"})
