"""Phase durations from a failover's timeline; backup ages from BackupPolicy details."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from homeport.services.telemetry.readings import (
    BackupAge,
    PhaseDuration,
    backup_ages,
    phase_durations,
    read_backup_ages,
)
from tests.services.telemetry.backup_store import NOW, store_with_policies

TIMELINE = [
    {"phase": "FailureStarted", "at": "2026-03-01T12:00:00+00:00"},
    {"phase": "Detected", "at": "2026-03-01T12:00:02.500000+00:00"},
    {"phase": "Fencing", "at": "2026-03-01T12:00:02.600000+00:00"},
    {"phase": "Fenced", "at": "2026-03-01T12:00:04.600000+00:00"},
]


def test_each_step_is_timed_from_the_one_before() -> None:
    assert phase_durations(TIMELINE, last_only=False) == [
        PhaseDuration("Detected", 2.5),
        PhaseDuration("Fencing", 0.1),
        PhaseDuration("Fenced", 2.0),
    ]


def test_a_re_recorded_timeline_times_only_its_new_step() -> None:
    assert phase_durations(TIMELINE, last_only=True) == [PhaseDuration("Fenced", 2.0)]
    assert phase_durations(TIMELINE[:1], last_only=True) == []


def test_unreadable_times_are_skipped_not_fatal() -> None:
    broken = [{"phase": "Fencing", "at": "soon"}, {"phase": "Fenced", "at": "12:00"}]
    assert phase_durations(broken, last_only=False) == []


def test_backup_age_per_vm_from_the_newest_archive() -> None:
    hour_ago = (NOW - timedelta(hours=1)).isoformat()
    details = {
        "vms": {
            "shop-a": {"newestBackupAt": hour_ago, "ageHours": 1.0},
            "shop-b": {"newestBackupAt": None},  # no backup yet: no series
        }
    }
    assert backup_ages([("daily", details), ("fresh", {})], NOW) == [
        BackupAge("shop-a", "daily", 3600.0)
    ]


def test_backup_ages_are_read_from_the_store(tmp_path: Path) -> None:
    day_ago = (NOW - timedelta(days=1)).isoformat()
    store = store_with_policies(
        tmp_path / "state.db",
        {"daily": {"vms": {"web": {"newestBackupAt": day_ago}}}, "weekly": {}},
    )
    assert read_backup_ages(store, NOW) == [BackupAge("web", "daily", 86400.0)]
    assert read_backup_ages(tmp_path / "missing.db", NOW) == []
