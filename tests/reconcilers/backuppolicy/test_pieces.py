"""The BackupPolicy reconciler's small pure pieces: selection, job fields both ways, which
guests a failed vzdump run failed for, and the long-name job id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from homeport.kinds import VM, BackupPolicy
from homeport.reconcilers.backuppolicy import job_spec
from homeport.reconcilers.backuppolicy.assess import freshness
from homeport.reconcilers.backuppolicy.failures import vmids_failed
from homeport.reconcilers.backuppolicy.job import desired_fields, job_id, observed_fields
from homeport.reconcilers.backuppolicy.observed import Archive, SelectedVM
from homeport.reconcilers.backuppolicy.selection import selects


def _policy(spec: dict[str, Any], name: str = "daily") -> BackupPolicy:
    return BackupPolicy.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "BackupPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def _vm(name: str, labels: dict[str, str]) -> VM:
    return VM.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "VM",
            "metadata": {"name": name, "labels": labels},
            "spec": {"machine": "dell"},
        }
    )


def test_selection_is_the_union_of_names_and_all_labels() -> None:
    policy = _policy({"selector": {"names": ["db"], "matchLabels": {"env": "prod", "tier": "web"}}})
    assert selects(policy, _vm("db", {}))
    assert selects(policy, _vm("web", {"env": "prod", "tier": "web", "x": "y"}))
    assert not selects(policy, _vm("half", {"env": "prod"}))
    assert not selects(_policy({"selector": {"names": ["db"]}}), _vm("web", {}))


def test_job_fields_round_trip_through_the_client_spec_and_pve_defaults() -> None:
    policy = _policy({"selector": {"names": ["db"]}, "compress": "none", "schedule": "mon  21:00"})
    wanted = desired_fields(policy, [103, 101, 103])
    assert wanted["vmid"] == "101,103" and wanted["compress"] == "0"
    assert wanted["schedule"] == "mon 21:00"
    spec = job_spec(wanted)
    assert spec.params()["prune-backups"] == wanted["prune-backups"]
    seen = observed_fields(
        schedule="mon 21:00",
        storage=None,  # PVE omits what was never set: vzdump's defaults apply
        mode=None,
        compress="0",
        prune_backups=spec.prune_backups,
        vmids=(103, 101),
        enabled=True,
        notes_template=wanted["notes-template"],
        comment=wanted["comment"],
    )
    assert seen == wanted


def test_a_failed_run_is_attributed_to_the_guests_it_failed_for() -> None:
    per_guest = [
        "INFO: starting new backup job: vzdump 101 102 --mode snapshot --storage local",
        "ERROR: Backup of VM 102 failed - unable to find VM 102",
        "INFO: Backup job finished with errors",
        "TASK ERROR: job errors",
    ]
    assert vmids_failed("", per_guest) == {102}
    whole = ["INFO: starting new backup job: vzdump 101 102", "TASK ERROR: got timeout"]
    assert vmids_failed("", whole) == {101, 102}
    assert vmids_failed("101", ["TASK ERROR: job errors"]) == {101}
    assert vmids_failed("", ["TASK ERROR: job errors"]) == set()


def test_long_policy_names_get_a_job_id_within_pve_limits() -> None:
    assert job_id("daily") == "homeport-daily"
    long = job_id("a" * 63)
    assert len(long) == 50 and long.startswith("homeport-aaa") and long != job_id("a" * 62)


def test_an_archive_stamped_after_now_is_zero_old_never_negative() -> None:
    # A node's clock a few seconds ahead of the control plane's: `newest -0.2h old` was printed.
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ahead = Archive("local:backup/vzdump-qemu-1000.vma.zst", int(now.timestamp()) + 720, 1, "pve1")
    fresh = freshness(SelectedVM("web", archives=(ahead,)), timedelta(hours=26), {}, now)
    assert fresh.age == timedelta(0)
    assert fresh.stale is False
    assert fresh.describe("web") == "web: newest backup 0.0h old"
