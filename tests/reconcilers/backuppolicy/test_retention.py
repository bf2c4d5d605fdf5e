"""Retention through the job a policy creates: simulated months pass, the scheduler runs the
job, and PVE's prune after each run leaves exactly what keep-daily=7, keep-weekly=4,
keep-monthly=12 keep — across month ends, a leap day and a year boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.reconcilers.backuppolicy.simestate import backup_estate, policy, vm

pytestmark = pytest.mark.integration

DAILY = policy(
    "daily",
    """  selector: {names: [db]}
  schedule: "02:00"
  retention: {keepDaily: 7, keepWeekly: 4, keepMonthly: 12}
  restoreTest: null
""",
)
# When simulated time jumps to 02:30 on these days, the 02:00 job runs once (a jump of
# several days runs a missed job once, as pvescheduler does).
MONTH_ENDS_2024 = [
    "2024-01-31",
    "2024-02-15",
    "2024-02-29",
    "2024-03-31",
    "2024-04-30",
    "2024-05-31",
    "2024-06-30",
    "2024-07-31",
    "2024-08-31",
    "2024-09-30",
    "2024-10-31",
    "2024-11-30",
    "2024-12-30",
    "2024-12-31",
    "2025-01-31",
]
WEEKS_2025 = ["2025-02-03", "2025-02-05", "2025-02-12", "2025-02-16", "2025-02-19"]
LAST_DAYS = ["2025-02-26", "2025-02-28"] + [f"2025-03-{d:02d}" for d in range(1, 11)]
EXPECTED = [
    # keep-monthly=12: the newest archive of each month not already kept by the rules
    # above. 2024-01 would be the 13th month: pruned. Feb 2024 keeps its leap day, not
    # the 15th; December keeps the 31st, not the 30th.
    "2024-02-29",
    "2024-03-31",
    "2024-04-30",
    "2024-05-31",
    "2024-06-30",
    "2024-07-31",
    "2024-08-31",
    "2024-09-30",
    "2024-10-31",
    "2024-11-30",
    "2024-12-31",
    "2025-01-31",
    # keep-weekly=4: the newest of each ISO week not covered by the daily keeps. Sunday
    # Mar 2 keeps week 9, so Feb 26 and the month end Feb 28 in that week are pruned (and
    # February is already covered for the monthly rule); Feb 12 and Feb 3 lose to the
    # Sunday Feb 16 and Wednesday Feb 5 of their weeks.
    "2025-02-05",
    "2025-02-16",
    "2025-02-19",
    "2025-03-02",
    # keep-daily=7: Mar 4..10. Mar 3 is in week 10 and March, both already kept: pruned.
    "2025-03-04",
    "2025-03-05",
    "2025-03-06",
    "2025-03-07",
    "2025-03-08",
    "2025-03-09",
    "2025-03-10",
]


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T02:30:00").replace(tzinfo=UTC)


async def test_retention_keeps_exactly_7_daily_4_weekly_12_monthly(tmp_path: Path) -> None:
    start = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)
    async with backup_estate(tmp_path, vm("db") + DAILY, start=start, time_scale=200) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        (job,) = estate.world.backup_jobs.jobs.values()
        assert job.id == "homeport-daily"
        assert job.props["prune-backups"] == "keep-daily=7,keep-monthly=12,keep-weekly=4"
        # The daemon's part is done: months now pass for the scheduler alone.
        await estate.stop_daemon()
        vmid = estate.vmid("db")
        for day in MONTH_ENDS_2024 + WEEKS_2025 + LAST_DAYS:
            (run,) = await estate.jump_to(_at(day))
            assert run.exitstatus == "OK", run.lines[-3:]
        kept = sorted(
            volid.split(f"vzdump-qemu-{vmid}-", 1)[1][:10].replace("_", "-")
            for volid in estate.archives(vmid)
        )
        assert kept == EXPECTED
        assert estate.pve.check() == []
