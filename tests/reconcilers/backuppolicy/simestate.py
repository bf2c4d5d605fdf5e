"""A simulated estate for the backup tests, with a daemon whose "now" is simulated time.

Backups are judged against the schedule in simulated time (archives carry the simulator's
timestamps and ``SimClock.advance`` makes days pass), so the daemon under test reads the
simulator's clock for ``now`` while its intervals (resync, backoff) stay in wall time; it
is the only daemon, so it leads without a lease (a lease in simulated time would expire
with every jump). Everything else goes through the config's sockets as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homeport.clients.bundle import Clients
from homeport.controller.config import Settings, load_settings
from homeport.controller.daemon import Daemon
from homeport.controller.store import Store, StoredObject
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.pve.tasks import Task
from homeport.simulator.pve.world import World
from homeport.simulator.settings import EstateConfig
from homeport.simulator.simulator import ProxmoxSimulator
from homeport.source.hooks import init_repository
from testkit.gitwork import WorkClone
from testkit.harness import FAST, assert_sound, until
from tests.controller.fakes import AlwaysLeader

MACHINES = (Path(__file__).parents[3] / "manifests" / "machines" / "machines.yaml").read_text()
DAY = 86400.0


class SimulatedNow:
    """``now`` from the simulator's clock; monotonic time and sleeps from the wall."""

    def __init__(self, estate: SimulatedEstate) -> None:
        self.estate = estate

    def now(self) -> datetime:
        assert self.estate.pve is not None
        return datetime.fromtimestamp(self.estate.pve.clock.now(), UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(max(seconds, 0.0))


def vm(name: str, machine: str = "dell", labels: str = "{env: production}") -> str:
    return f"""---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}, labels: {labels}}}
spec: {{machine: {machine}, cores: 1, memoryMiB: 1024, disk: {{sizeGiB: 8}}}}
"""


def app(name: str, vm_name: str, port: int = 8080) -> str:
    return f"""---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: {name}}}
spec:
  vm: {vm_name}
  source: {{repo: https://git.example.com/edge/shop.git, ref: main}}
  execStart: /usr/bin/python3 app.py
  port: {port}
  healthCheck: {{path: /healthz, timeoutSeconds: 2, startupGraceSeconds: 5}}
  secretEnv: [{{name: DATABASE_URL, secret: shop/database_url}}]
"""


def policy(name: str, spec: str) -> str:
    return f"""---
apiVersion: homeport.dev/v1alpha1
kind: BackupPolicy
metadata: {{name: {name}}}
spec:
{spec}"""


@dataclass
class BackupEstate:
    """The estate, its repository and the simulated-time daemon, and ways to look at them."""

    estate: SimulatedEstate
    settings: Settings
    work: WorkClone
    clients: Clients = field(default_factory=Clients)
    daemon: Daemon | None = None
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def pve(self) -> ProxmoxSimulator:
        assert self.estate.pve is not None
        return self.estate.pve

    @property
    def world(self) -> World:
        return self.pve.world

    async def start_daemon(self) -> None:
        self.clients = await build_clients(self.settings)
        daemon = Daemon(
            settings=self.settings,
            reconcilers=build_reconcilers(self.settings),
            clients=self.clients,
            clock=SimulatedNow(self.estate),
            leadership=AlwaysLeader(),
        )
        self.daemon = daemon
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(daemon.run(self._stop))

    async def stop_daemon(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 30)
            self._task = None
        await close_clients(self.clients)  # an empty set (never started) closes nothing
        self.clients = Clients()

    # -- the store ---------------------------------------------------------------------
    def read(self, look: Callable[[Store], Any]) -> Any:
        if not self.settings.store.path.exists():
            return None
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            return look(store)
        finally:
            store.close()

    def object(self, kind: str, name: str) -> StoredObject | None:
        return self.read(lambda s: s.objects.get((kind, name)))  # type: ignore[no-any-return]

    def condition(self, name: str, kind: str) -> tuple[str, str, str] | None:
        obj = self.object("BackupPolicy", name)
        found = next((c for c in obj.status.conditions if c.type == kind), None) if obj else None
        return (found.status, found.reason, found.message) if found else None

    def details(self, name: str) -> dict[str, Any]:
        obj = self.object("BackupPolicy", name)
        return dict(obj.status.details) if obj else {}

    def events(self, name: str, reason: str) -> list[str]:
        found = self.read(lambda s: s.events.for_object("BackupPolicy", name, limit=500)) or []
        return [e.message for e in found if e.reason == reason]

    def memory(self, name: str) -> dict[str, Any]:
        return self.read(lambda s: s.memory.get("BackupPolicy", name)) or {}  # type: ignore[no-any-return]

    async def ready(self, kinds: set[str], timeout: float = 60.0) -> None:
        def done() -> bool:
            objects = self.read(lambda s: s.objects.all()) or []
            wanted = [o for o in objects if o.kind in kinds]
            return bool(wanted) and all(o.ready for o in wanted)

        await until(done, timeout=timeout, what=f"{sorted(kinds)} Ready")

    # -- the simulated world -----------------------------------------------------------
    def vmid(self, vm_name: str) -> int:
        obj = self.object("VM", vm_name)
        assert obj is not None
        return int(obj.status.details["vmid"])

    def archives(self, vmid: int | None = None, storage: str = "local") -> list[str]:
        return sorted(
            v.volid
            for v in self.world.volumes.by_key.values()
            if v.content == "backup" and v.storage == storage and vmid in (None, v.vmid)
        )

    def push(self, files: dict[str, str | None], message: str = "change") -> None:
        for name, content in files.items():
            if content is None:
                self.work.remove(name)
            else:
                self.work.write(name, content)
        self.work.commit(message)
        pushed = self.work.push()
        assert pushed.returncode == 0, pushed.stderr

    def runs_since(self, when: float) -> list[Task]:
        """vzdump tasks started at or after ``when`` (simulated epoch), finished or not."""
        return [
            t
            for t in self.world.tasks.tasks.values()
            if t.upid.type == "vzdump" and t.upid.starttime >= int(when)
        ]

    async def damaged_night(self, when: datetime, vmid: int, policy: str = "daily") -> str:
        """Damage the next read from pve1, run the backup at ``when`` and wait for the
        damaged copy to be caught (Degraded, one event); the VM's new archive."""
        self.pve.faults.corrupt_reads("pve1", count=1)
        await self.jump_to(when)
        newest = self.archives(vmid)[-1]
        await until(
            lambda: (self.condition(policy, "Degraded") or ("", ""))[1] == "OffsiteCopyFailed",
            what="the mismatch reported",
        )
        assert "checksum mismatch" in (self.condition(policy, "Degraded") or ("", "", ""))[2]
        assert len(self.events(policy, "OffsiteCopyFailed")) == 1
        return newest

    async def jump_to(self, when: datetime, *, runs: int = 1) -> list[Task]:
        """Make simulated time pass until ``when`` and wait for the ``runs`` vzdump runs the
        scheduled jobs start then to finish."""
        delta = when.timestamp() - self.pve.clock.now()
        assert delta > 0, f"{when} is in the simulated past"
        self.pve.clock.advance(delta)

        def finished() -> bool:
            started = self.runs_since(when.timestamp())
            return len(started) >= runs and all(t.status == "stopped" for t in started)

        await until(finished, timeout=30, what=f"{runs} backup run(s) at {when}")
        return self.runs_since(when.timestamp())


@contextlib.asynccontextmanager
async def backup_estate(
    tmp_path: Path,
    manifests: str,
    *,
    start: datetime | None = None,
    time_scale: float = 50.0,
    prepare: Callable[[Settings], None] | None = None,
) -> AsyncIterator[BackupEstate]:
    """An estate with ``manifests`` (plus the Machines) pushed and the daemon running;
    ``prepare`` runs before the push (e.g. to write secret files)."""
    estate = SimulatedEstate(
        EstateConfig(
            state_dir=tmp_path / "estate",
            time_scale=time_scale,
            tls="off",
            timings=FAST,
            start_epoch=start.timestamp() if start else None,
        )
    )
    await estate.start()
    backups: BackupEstate | None = None
    try:
        loaded = load_settings(estate.config_path)
        controller = loaded.controller.model_copy(update={"resync_interval": 2.0})
        settings = loaded.model_copy(update={"controller": controller})
        assert settings.source.repo is not None
        init_repository(settings.source.repo)
        if prepare is not None:
            prepare(settings)
        backups = BackupEstate(estate, settings, WorkClone(settings.source.repo, tmp_path / "work"))
        backups.push({"machines.yaml": MACHINES, "estate.yaml": manifests}, "the estate")
        await backups.start_daemon()
        yield backups
        await backups.stop_daemon()
        assert_sound(estate)
    finally:
        if backups is not None:
            await backups.stop_daemon()
        await estate.stop()
