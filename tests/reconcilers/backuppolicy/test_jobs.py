"""The example estate's policies as Proxmox backup jobs: created with every declared field,
converged without a call to spare, others' jobs left alone, and a removed policy taking
only its own job with it — never an archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeport.controller.clock import SystemClock
from homeport.controller.preview import preview
from homeport.controller.store import Store
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from testkit.harness import ROOT, EstateHarness, until

pytestmark = pytest.mark.integration

PRODUCTION = ("caddy-router", "community-a", "community-b", "shop-a", "shop-b")


def _vmid(h: EstateHarness, name: str) -> int:
    obj = h.object("VM", name)
    assert obj is not None
    return int(obj.status.details["vmid"])


async def _plans(h: EstateHarness) -> tuple[dict[str, list[str]], int]:
    """What ``homeport plan`` would do for the policies, and the mutating calls it made."""
    clients = await build_clients(h.settings)
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        report = await preview(
            store=store,
            reconcilers={"BackupPolicy": build_reconcilers(h.settings)["BackupPolicy"]},
            clients=clients,
            clock=SystemClock(),
        )
        mutations = clients.proxmox.stats.snapshot().total_mutations
    finally:
        store.close()
        await close_clients(clients)
    plans = {o.name: o.actions for o in report.objects if o.kind == "BackupPolicy"}
    return plans, mutations


async def test_example_estate_policies_become_owned_jobs(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, time_scale=50) as h:
        await h.converged({"VM", "BackupPolicy"}, timeout=80)
        jobs: dict[str, Any] = {j.id: j.props for j in h.estate.pve.world.backup_jobs.jobs.values()}
        production = ",".join(str(v) for v in sorted(_vmid(h, n) for n in PRODUCTION))
        assert jobs["homeport-daily-production"] == {
            "schedule": "02:00",
            "storage": "local",
            "vmid": production,
            "mode": "snapshot",
            "compress": "zstd",
            "prune-backups": "keep-daily=7,keep-monthly=12,keep-weekly=4",
            "enabled": 1,
            "notes-template": "{{guestname}} (managed by homeport: BackupPolicy/daily-production)",
            "comment": "managed by homeport: BackupPolicy/daily-production",
        }
        weekly = jobs["homeport-weekly-dev"]
        assert (weekly["schedule"], weekly["vmid"]) == ("sat 03:00", str(_vmid(h, "dev-1")))
        assert weekly["prune-backups"] == "keep-monthly=3,keep-weekly=4"

        # Converged: observing and planning again changes nothing, with no mutating call.
        plans, mutations = await _plans(h)
        assert plans == {"daily-production": [], "weekly-dev": []} and mutations == 0

        # Someone's own job, and an archive of dev-1, exist beside homeport's.
        px = h.clients.proxmox
        from homeport.clients.proxmox_backups import BackupJobSpec

        await px.backups.create_job(
            "nightly-by-hand", BackupJobSpec(schedule="23:00", storage="local", vmids=[9001])
        )
        node = h.object("VM", "dev-1").status.details["node"]  # type: ignore[union-attr]
        task = await px.backups.vzdump(node, vmids=[_vmid(h, "dev-1")], storage="local")
        await px.tasks.wait(task, timeout=60)
        # The jobs' own runs may add archives too: the simulated clock starts at the wall
        # clock's time and runs 20 times as fast, so a test near 02:00 (or Saturday 03:00)
        # sees the scheduled backups run, as on a real node.
        found = await px.backups.backups(node, "local")
        assert any(a.vmid == _vmid(h, "dev-1") for a in found)
        archives = {a.volid for a in found}

        daily = (ROOT / "manifests" / "backups" / "daily.yaml").read_text()
        await h.push(
            {"manifests/backups/daily.yaml": daily.split("\n---\n")[0] + "\n"}, "no dev backups"
        )
        await until(lambda: h.object("BackupPolicy", "weekly-dev") is None, what="the prune")
        left = {j.id for j in h.estate.pve.world.backup_jobs.jobs.values()}
        assert left == {"homeport-daily-production", "nightly-by-hand"}
        # Removing a policy and its job deletes no archive, its own VMs' included.
        assert archives <= {a.volid for a in await px.backups.backups(node, "local")}
