"""Freshness and failed runs as conditions: a good night, a failed vzdump, a full storage,
and the recovery — each judged in simulated time against the schedule plus the grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from testkit.harness import until
from tests.reconcilers.backuppolicy.simestate import backup_estate, policy, vm

pytestmark = pytest.mark.integration

NIGHTLY = policy(
    "nightly",
    """  selector: {matchLabels: {env: production}}
  schedule: "02:00"
  graceHours: 2
  restoreTest: null
""",
)
START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _night(day: int) -> datetime:
    return (START + timedelta(days=day)).replace(hour=2, minute=30)


async def test_stale_failed_and_full_backups_surface_as_conditions(tmp_path: Path) -> None:
    manifests = vm("web") + vm("scratchpad", labels="{env: staging}") + NIGHTLY
    async with backup_estate(tmp_path, manifests, start=START) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        (job,) = estate.world.backup_jobs.jobs.values()
        assert job.props["vmid"] == str(estate.vmid("web"))  # labels select web only
        assert estate.condition("nightly", "BackupStale")[:2] == ("Unknown", "NoBackupYet")

        await estate.jump_to(_night(1))
        await until(
            lambda: estate.condition("nightly", "BackupStale")[:2] == ("False", "Fresh"),
            what="a fresh backup",
        )
        assert estate.condition("nightly", "Degraded") is None

        estate.pve.faults.fail_tasks("vzdump", message="job errors")
        (failed,) = await estate.jump_to(_night(2))
        assert failed.exitstatus == "job errors"
        await until(
            lambda: (estate.condition("nightly", "Degraded") or ("", ""))[1] == "BackupFailed",
            what="Degraded/BackupFailed",
        )
        assert "job errors" in estate.condition("nightly", "Degraded")[2]
        web = estate.details("nightly")["vms"]["web"]
        assert web["failedBackup"]["upid"] == failed.text
        assert web["failedBackup"]["log"][-1] == "TASK ERROR: job errors"
        await until(lambda: len(estate.events("nightly", "BackupFailed")) == 1, what="event")

        estate.pve.faults.disk_full("local")
        (full,) = await estate.jump_to(_night(3))
        assert full.exitstatus == "job errors"
        await until(
            lambda: "No space left on device" in estate.condition("nightly", "Degraded")[2],
            what="the full storage in Degraded",
        )
        # Two nights without a backup: the newest is ~48h old, beyond 24h + 2h grace.
        stale = estate.condition("nightly", "BackupStale")
        assert stale[:2] == ("True", "NoRecentBackup") and "web: newest backup 48." in stale[2]
        assert len(estate.events("nightly", "BackupFailed")) == 2  # one per failed run

        estate.pve.faults.clear()
        await estate.jump_to(_night(4))
        await until(
            lambda: (
                estate.condition("nightly", "BackupStale")[:2] == ("False", "Fresh")
                and estate.condition("nightly", "Degraded") is None
            ),
            what="recovery",
        )
        assert estate.details("nightly")["vms"]["web"]["failedBackup"] is None
