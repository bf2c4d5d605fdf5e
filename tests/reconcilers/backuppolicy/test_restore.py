"""Restore tests end to end: the newest archive restored to a scratch VM, isolated, booted,
its App health-checked at the guest agent's address, the result recorded and the scratch
VM destroyed — also when the archive is corrupt, and when the daemon dies half-way and
forgets the test it was running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from homeport.controller.store import Store
from testkit.harness import until
from tests.reconcilers.backuppolicy.simestate import BackupEstate, app, backup_estate, policy, vm

pytestmark = pytest.mark.integration

TESTED = policy(
    "daily",
    """  selector: {names: [web]}
  schedule: "02:00"
  restoreTest: {everyDays: 1, timeoutSeconds: 1800}
""",
)
START = datetime(2025, 11, 3, 12, 0, tzinfo=UTC)
SCRATCH = range(9900, 10000)


def _night(day: int) -> datetime:
    return (START + timedelta(days=day)).replace(hour=2, minute=30)


def _scratch(estate: BackupEstate) -> list[Any]:
    return [v for v in estate.world.vms.values() if v.vmid in SCRATCH]


def _result(estate: BackupEstate) -> dict[str, Any]:
    return dict(estate.memory("daily").get("tests", {}).get("web") or {})


def _allocations(estate: BackupEstate) -> set[int]:
    return set(estate.read(lambda s: s.allocations.taken("restore-vmid")) or set())


async def test_restore_tests_pass_fail_and_clean_up_after_a_crash(tmp_path: Path) -> None:
    manifests = vm("web") + app("web", "web") + TESTED
    async with backup_estate(tmp_path, manifests, start=START) as estate:
        await estate.ready({"VM", "App", "BackupPolicy"}, timeout=90)
        await estate.jump_to(_night(1))
        (archive,) = estate.archives(estate.vmid("web"))

        # The scratch VM: restored from the archive, renamed and marked, isolated, booted.
        await until(lambda: any(v.running for v in _scratch(estate)), what="a booted scratch VM")
        (scratch,) = _scratch(estate)
        assert scratch.conf["name"] == "restore-test-web"
        assert scratch.conf["tags"] == "homeport-restore-test"
        assert scratch.conf["onboot"] == 0
        assert "managed by homeport: BackupPolicy/daily" in scratch.conf["description"]
        assert {
            k: scratch.firewall_options.get(k) for k in ("enable", "policy_in", "policy_out")
        } == {
            "enable": 1,
            "policy_in": "DROP",
            "policy_out": "DROP",
        }
        assert [r["dport"] for r in scratch.firewall_rules] == ["8080"]
        assert "firewall=1" in scratch.conf["net0"]
        await until(lambda: _result(estate).get("result") == "passed", what="a passed test")
        result = _result(estate)
        assert result["volid"] == archive and result["durationSeconds"] > 0
        await until(lambda: _scratch(estate) == [] and not _allocations(estate), what="cleanup")
        assert estate.read(lambda s: s.backups.get(archive))["restore_test"]["result"] == "passed"
        assert len(estate.events("daily", "RestoreTestPassed")) == 1
        devices = estate.estate.tailnet.devices.values() if estate.estate.tailnet else []
        assert not [d for d in devices if d.hostname.startswith("restore-test")]

        # A corrupted archive: the restore fails half-way; nothing is left behind.
        await estate.stop_daemon()
        await estate.jump_to(_night(2))
        corrupt = estate.archives(estate.vmid("web"))[-1]
        estate.pve.faults.corrupt_archive(corrupt, "pve1")
        await estate.start_daemon()
        await until(lambda: _result(estate).get("volid") == corrupt, what="the second test")
        assert _result(estate)["result"] == "failed"
        reason = _result(estate)["reason"]
        assert reason.startswith("restore failed: unable to restore VM")
        assert "Restored data doesn't match checksum" in reason  # the task log's last lines
        await until(
            lambda: (estate.condition("daily", "Degraded") or ("", ""))[1] == "RestoreTestFailed",
            what="Degraded/RestoreTestFailed",
        )
        await until(lambda: _scratch(estate) == [] and not _allocations(estate), what="cleanup")

        # The daemon dies while the next test runs, and its memory of the test is lost:
        # the scratch VM is found by its marker and destroyed, then the test runs again.
        # Its guest agent stays silent until the daemon is gone, so the test cannot pass and
        # remove the scratch VM between its boot and the daemon's death (on a loaded
        # machine it did).
        silent = estate.pve.faults.api_error(
            r"^/nodes/[^/]+/qemu/99\d\d/agent/",
            status=500,
            message="QEMU guest agent is not running",
        )
        await estate.jump_to(_night(3))
        await until(lambda: any(v.running for v in _scratch(estate)), what="a third scratch VM")
        await until(lambda: silent.hits > 0, what="the daemon asking the scratch VM's agent")
        await estate.stop_daemon()
        estate.pve.faults.api_rules.remove(silent)
        (orphan,) = _scratch(estate)
        store = Store.open(estate.settings.store.path)
        try:
            memory = store.memory.get("BackupPolicy", "daily")
            memory.pop("test")
            store.memory.set("BackupPolicy", "daily", memory, now="crash")
        finally:
            store.close()
        await estate.start_daemon()
        await until(lambda: orphan.vmid not in estate.world.vms, what="the orphan destroyed")
        await until(lambda: _result(estate).get("result") == "passed", what="the test redone")
        await until(
            lambda: estate.condition("daily", "Degraded") is None and not _scratch(estate),
            what="healthy again",
        )
        assert _allocations(estate) == set()
        journal = estate.read(lambda s: s.journal.for_object("BackupPolicy", "daily", 500)) or []
        assert any(
            f"destroy scratch VM {orphan.vmid}" in e.description
            and "interrupted restore test" in e.description
            for e in journal
        )
        assert estate.pve.check() == []
