"""A VM's removal survives ``kill -9`` at every step: never destroyed without an approval,
never a second final backup.

The daemon runs as a process. A VM covered by a BackupPolicy leaves git (deletionPolicy
``Hold``); each life of the daemon is killed as soon as it has journaled the intent of
the next removal step (recording the removal, the stop, the final backup, the hold), so
every step is interrupted once, in flight. Then the VM must be held with exactly one
final backup, and a killed life while held destroys nothing. After ``homeport approve``
a life is killed the moment it starts destroying; the next one finishes: the VM is gone,
its final backup kept, the approval consumed.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from homeport.clients.proxmox import ProxmoxClient
from homeport.controller.approvals import approve
from homeport.controller.config import load_settings
from homeport.controller.store import Store
from homeport.controller.wiring import build_clients, close_clients
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.settings import EstateConfig
from homeport.source.hooks import init_repository
from testkit.gitwork import WorkClone
from testkit.harness import FAST, until
from tests.scenarios.daemon_process import DaemonProcess, StoreWatch, crash_config

pytestmark = [pytest.mark.scenario]

LEASE = {"lease_duration": 1.0, "renew_interval": 0.25}
STEPS = ("begin-removal", "power", "final-backup", "hold-destruction")
ESTATE = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536}}
---
apiVersion: homeport.dev/v1alpha1
kind: BackupPolicy
metadata: {name: nightly}
spec: {selector: {matchLabels: {backup: nightly}}, storage: local, restoreTest: null}
"""
VM = """apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}, labels: {{backup: nightly}}}}
spec: {{machine: m1, disk: {{sizeGiB: 8}}, tailnet: {{join: false}}}}
"""


class Lives:
    """Daemon processes, one after the other, each ended with ``kill -9``."""

    def __init__(self, config: Path, tmp: Path, watch: StoreWatch) -> None:
        self.config, self.tmp, self.watch = config, tmp, watch
        self.count = 0
        self.log: list[str] = []

    async def start(self) -> DaemonProcess:
        self.count += 1
        daemon = await DaemonProcess.start(self.config, self.tmp / f"daemon-{self.count}.log")
        await daemon.wait_leader(self.watch, timeout=60)
        return daemon

    def journaled(self, verb: str, since: int) -> bool:
        return any(
            (k, n, v) == ("VM", "db", verb) for _, k, n, v, _ in self.watch.journal_since(since)
        )

    async def kill_at_intent(self, verb: str, *, since: int, timeout: float = 60.0) -> None:
        """One life, killed as soon as it journaled the intent of ``verb`` on VM/db; none
        when an earlier life already got past it (a kill can land a step later)."""
        if self.journaled(verb, since):
            self.log.append(f"{verb}: already done by an earlier life")
            return
        daemon = await self.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not self.journaled(verb, since):
                if loop.time() > deadline:
                    raise AssertionError(f"no {verb} intent; {self.log}\n{daemon.tail()}")
                await asyncio.sleep(0.005)
        finally:
            await daemon.kill()
        self.log.append(f"life {self.count}: killed with {verb} in flight")

    async def run_until(self, condition: str, what: str) -> None:
        """One life that runs until the VM's Ready reason is ``condition``, then dies."""
        daemon = await self.start()
        try:
            await until(lambda: ready_reason(self.watch) == condition, timeout=90, what=what)
        finally:
            await daemon.kill()


def ready_reason(watch: StoreWatch) -> str:
    rows = watch.query("SELECT status FROM objects WHERE kind = 'VM' AND name = 'db'")
    if not rows:
        return "gone"
    return "DestructionHeld" if "DestructionHeld" in str(rows[0][0]) else "other"


async def final_archives(px: ProxmoxClient, vmid: int) -> list[str]:
    archives = await px.backups.backups("pve1", "local", vmid=vmid)
    return [a.volid for a in archives if "final backup of VM/db" in (a.notes or "")]


async def test_kill_minus_nine_at_each_removal_step(tmp_path: Path) -> None:
    estate = SimulatedEstate(
        EstateConfig(state_dir=tmp_path / "estate", time_scale=20.0, tls="off", timings=FAST)
    )
    await estate.start()
    watch: StoreWatch | None = None
    lives: Lives | None = None
    clients: dict[str, object] = {}
    try:
        settings = load_settings(estate.config_path)
        assert settings.source.repo is not None
        init_repository(settings.source.repo)
        config = crash_config(estate.config_path, tmp_path / "crash.toml", coordination=LEASE)
        work = WorkClone(settings.source.repo, tmp_path / "work")
        (work.path / "manifests").mkdir(parents=True)
        work.write("manifests/estate.yaml", ESTATE)
        for name in ("anchor", "db"):
            work.write(f"manifests/{name}.yaml", VM.format(name=name))
        work.commit("the estate")
        assert work.push().returncode == 0
        watch = StoreWatch(settings.store.path)
        lives = Lives(config, tmp_path, watch)
        clients = await build_clients(settings)
        px = clients.proxmox

        daemon = await lives.start()
        try:
            await until(
                lambda: (
                    len(watch.query("SELECT 1 FROM objects WHERE status LIKE '%Converged%'")) == 4
                ),
                timeout=120,
                what="the estate converged",
            )
        finally:
            await daemon.kill()
        vmid = int(
            watch.query("SELECT value FROM allocations WHERE pool = 'vmid' AND name = 'db'")[0][0]
        )

        removal = watch.last_journal_id()
        work.remove("manifests/db.yaml")
        work.commit("db goes")
        assert work.push().returncode == 0
        for verb in STEPS:
            await lives.kill_at_intent(verb, since=removal)
        await lives.run_until("DestructionHeld", "db held")
        await lives.run_until("DestructionHeld", "db still held after a kill")

        assert len(await final_archives(px, vmid)) == 1, lives.log
        assert (await px.vm_status("pve1", vmid)).status == "stopped"
        destroys = watch.query("SELECT 1 FROM journal WHERE name = 'db' AND verb = 'destroy'")
        assert destroys == [], "destroyed without an approval"

        store = Store.open(settings.store.path)
        try:
            approve(store, "VM/db", by="test", now="2026-01-01T00:00:00+00:00")
        finally:
            store.close()
        await lives.kill_at_intent("destroy", since=removal)
        daemon = await lives.start()
        try:
            await until(lambda: ready_reason(watch) == "gone", timeout=90, what="db forgotten")
        finally:
            await daemon.kill()
        assert (await px.cluster_resources()).vm(vmid) is None
        assert len(await final_archives(px, vmid)) == 1
        slots = watch.query("SELECT kind FROM memory WHERE name = 'db'")
        assert slots == [], f"left behind: {slots}"
        assert estate.pve is not None
        assert estate.pve.check() == []
        print("\n".join(lives.log))  # shown with -s: where the kills landed
    finally:
        if clients:
            await close_clients(clients)
        if watch is not None:
            watch.close()
        await estate.stop()
        shutil.rmtree(tmp_path / "work", ignore_errors=True)
