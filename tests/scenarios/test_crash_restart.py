"""Crash safety: ``kill -9`` the daemon at seeded random points of a convergence, 50 times.

One simulated estate (Proxmox VE, guests, tailnet, real Caddy) runs in this process; the
daemon runs as a separate process (``python -m homeport run``) with a short leader lease,
so each restart takes over quickly. Every life of the daemon is killed at a point drawn
from ``random.Random(f"{seed}:{life}")``: after a few new journal entries (mostly with an
action in flight), after a random delay, or while it is still starting. When the estate
converges before the kills are used up, the next wave of changes is pushed (a VM with an
App and a route added, changed, removed again), so most kills land mid-convergence.

Then one last daemon converges the estate and is stopped cleanly, and the world is
audited (``estate_audit``): one VM per manifest and none without one, one Caddy route
per ProxyRoute, one successful clone per VM, no half-fetched release or stray auth key
on a guest, the journal clean, the simulator's invariants hold, and a fresh ``plan`` of
every object is empty. Replay a failure with ``HOMEPORT_CRASH_SEED=<seed>``.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from homeport.controller.clock import SystemClock
from homeport.controller.config import Settings, load_settings
from homeport.controller.preview import preview
from homeport.controller.source_keys import ADOPTED
from homeport.controller.store import Store
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.settings import EstateConfig
from homeport.source.hooks import init_repository
from testkit.gitwork import WorkClone
from testkit.harness import EXAMPLES, FAST, ROOT, until
from tests.scenarios import estate_audit as audit
from tests.scenarios.daemon_process import DaemonProcess, StoreWatch, crash_config

pytestmark = [pytest.mark.scenario, pytest.mark.slow]

KILLS = 50
SEED = int(os.environ.get("HOMEPORT_CRASH_SEED", "1"))
TIME_SCALE = 50.0
LEASE = {"lease_duration": 1.0, "renew_interval": 0.25}


# -- where a life ends ------------------------------------------------------------------
@dataclass(frozen=True)
class KillPoint:
    """When to ``kill -9`` one life of the daemon, drawn from a seeded RNG."""

    mode: str  # journal | delay | startup
    entries: int = 0
    """journal: kill once this many new journal entries exist (the last is often in flight)."""
    delay: float = 0.0
    """journal: extra seconds after that; delay: seconds after taking the lease;
    startup: seconds after the process started."""

    @classmethod
    def draw(cls, rng: random.Random) -> KillPoint:
        roll = rng.random()
        if roll < 0.6:
            extra = rng.choice([0.0, 0.0, rng.uniform(0.0, 0.3)])
            return cls("journal", entries=rng.randint(1, 4), delay=extra)
        if roll < 0.94:
            return cls("delay", delay=rng.uniform(0.05, 1.5))
        return cls("startup", delay=rng.uniform(0.2, 1.2))

    def __str__(self) -> str:
        if self.mode == "journal":
            return f"after {self.entries} journal entries +{self.delay:.2f}s"
        return f"{self.mode} +{self.delay:.2f}s"


JOURNAL_PATIENCE = 5.0  # a life that journals nothing this long (clones, boots) dies anyway


async def reach(point: KillPoint, daemon: DaemonProcess, watch: StoreWatch) -> str:
    """Wait for ``point`` in this life; what was in flight when it was reached."""
    if point.mode == "startup":
        await asyncio.sleep(point.delay)  # a kill schedule, not a wait for state
        return "starting"
    await daemon.wait_leader(watch, timeout=60)
    if point.mode == "delay":
        start = watch.last_journal_id()
        await asyncio.sleep(point.delay)
        return _in_flight(watch.journal_since(start))
    start = watch.last_journal_id()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + JOURNAL_PATIENCE
    while len(watch.journal_since(start)) < point.entries and loop.time() < deadline:
        if not daemon.alive:
            raise AssertionError(f"daemon {daemon.pid} died on its own:\n{daemon.tail()}")
        await asyncio.sleep(0.005)
    if point.delay:
        await asyncio.sleep(point.delay)
    return _in_flight(watch.journal_since(start))


def _in_flight(entries: list[tuple[int, str, str, str, str]]) -> str:
    busy = [f"{kind}/{name} {verb}" for _, kind, name, verb, state in entries if state == "intent"]
    return ", ".join(busy) or f"{len(entries)} new entries, none in flight"


# -- waves of changes -----------------------------------------------------------------
def extra_objects(n: int, *, memory: int = 1024, log_level: str = "info") -> str:
    """A VM with an App and a public route: what a wave adds, changes and removes."""
    name = f"crash-extra-{n}"
    return f"""apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}}}
spec:
  machine: ava
  layer: 4
  cores: 1
  memoryMiB: {memory}
  disk: {{sizeGiB: 32}}
  deletionPolicy: Destroy  # disposable: a removal wave destroys it without an approval
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: {name}}}
spec:
  vm: {name}
  source: {{repo: https://git.example.com/edge/shop.git, ref: main}}
  execStart: /usr/bin/python3 app.py
  port: 8080
  healthCheck: {{path: /healthz, timeoutSeconds: 2}}
  env: {{LOG_LEVEL: {log_level}}}
---
apiVersion: homeport.dev/v1alpha1
kind: ProxyRoute
metadata: {{name: {name}}}
spec: {{host: {name}.example.com, app: {name}}}
"""


def waves() -> list[tuple[str, Callable[[WorkClone], None]]]:
    """Changes pushed each time the estate converges with kills still to come."""

    def add(n: int) -> Callable[[WorkClone], None]:
        return lambda work: work.write(f"manifests/extra/{n}.yaml", extra_objects(n))

    def change(n: int) -> Callable[[WorkClone], None]:
        return lambda work: work.write(
            f"manifests/extra/{n}.yaml", extra_objects(n, memory=2048, log_level="debug")
        )

    def remove(n: int) -> Callable[[WorkClone], None]:
        return lambda work: work.remove(f"manifests/extra/{n}.yaml")

    result: list[tuple[str, Callable[[WorkClone], None]]] = []
    for n in range(1, 6):
        result += [(f"add crash-extra-{n}", add(n)), (f"change crash-extra-{n}", change(n))]
        result += [(f"remove crash-extra-{n}", remove(n))]
    return result


# -- the estate -------------------------------------------------------------------------
@dataclass
class CrashRun:
    estate: SimulatedEstate
    settings: Settings
    config: Path
    work: WorkClone
    watch: StoreWatch
    tmp: Path
    log: list[str]
    declared_ever: set[str]
    started: float = field(default_factory=time.monotonic)
    head: str = ""
    """The commit last pushed."""

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def push(self, change: Callable[[WorkClone], None], message: str) -> None:
        change(self.work)
        self.head = self.work.commit(message)
        pushed = self.work.push()
        assert pushed.returncode == 0, pushed.stderr
        self.declared_ever |= self.declared("VM")

    def declared(self, kind: str) -> set[str]:
        """Names of ``kind`` in the work tree (what the last push declared)."""
        documents = [
            d
            for path in (self.work.path / "manifests").rglob("*.yaml")
            for d in yaml.safe_load_all(path.read_text())
        ]
        return {d["metadata"]["name"] for d in documents if d and d.get("kind") == kind}

    def converged(self, kinds: set[str]) -> bool:
        """The last push adopted, and every object of ``kinds`` Ready at its current
        generation, nothing left to prune."""
        if not self.settings.store.path.exists():
            return False
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            adopted = (store.source_state.get(ADOPTED) or {}).get("sha")
            objects = [o for o in store.objects.all() if o.kind in kinds]
        finally:
            store.close()
        return (
            adopted == self.head
            and bool(objects)
            and all(
                o.ready and not o.deleting and o.status.observed_generation == o.generation
                for o in objects
            )
        )

    def report(self) -> str:
        return f"seed {SEED} (replay: HOMEPORT_CRASH_SEED={SEED})\n  " + "\n  ".join(self.log)


async def start_estate(tmp: Path) -> SimulatedEstate:
    estate = SimulatedEstate(
        EstateConfig(
            state_dir=tmp / "estate", time_scale=TIME_SCALE, seed=SEED, tls="off", timings=FAST
        )
    )
    await estate.start()
    return estate


def prepare(estate: SimulatedEstate, tmp: Path) -> CrashRun:
    settings = load_settings(estate.config_path)
    assert settings.source.repo is not None
    init_repository(settings.source.repo)
    config = crash_config(
        estate.config_path,
        tmp / "crash.toml",
        coordination=LEASE,
        controller={"drain_timeout": 10.0},
    )
    work = WorkClone(settings.source.repo, tmp / "work")
    shutil.copytree(ROOT / "manifests", work.path / "manifests", ignore=EXAMPLES)
    run = CrashRun(estate, settings, config, work, StoreWatch(settings.store.path), tmp, [], set())
    run.push(lambda _: None, "the estate")
    return run


async def crash_loop(run: CrashRun, kinds: set[str]) -> None:
    pending = waves()
    # StandbyPairs and BackupPolicies also wait on background work (replication, backup
    # schedules, restore tests); the waves do not touch them, so they do not hold them back.
    wave_kinds = kinds & {"Machine", "VM", "App", "ProxyRoute"}
    for life in range(KILLS):
        if run.converged(wave_kinds) and pending:
            message, change = pending.pop(0)
            run.push(change, message)
            run.log.append(f"{run.elapsed():6.1f}s converged; pushed: {message}")
        point = KillPoint.draw(random.Random(f"{SEED}:{life}"))
        daemon = await DaemonProcess.start(run.config, run.tmp / f"daemon-{life:02d}.log")
        try:
            busy = await reach(point, daemon, run.watch)
        finally:
            await daemon.kill()
        run.log.append(f"{run.elapsed():6.1f}s kill {life:2d} ({point}): {busy}")


async def final_life(run: CrashRun, kinds: set[str]) -> None:
    """One last daemon converges everything and stops cleanly (SIGTERM → exit 0)."""
    daemon = await DaemonProcess.start(run.config, run.tmp / "daemon-final.log")
    try:
        # Judge the estate only once this daemon leads (the store may still say Ready from
        # a killed life), and never SIGTERM a daemon still starting up.
        await daemon.wait_leader(run.watch, timeout=60)
        await until(lambda: run.converged(kinds), timeout=180, what="convergence after the kills")
        await until_plan_empty(run.settings, timeout=120)
        status = await daemon.terminate(timeout=30)
        assert status == 0, f"daemon exited {status}:\n{daemon.tail()}"
    except BaseException:
        run.log.append(f"final daemon log:\n{daemon.tail(60)}")
        raise
    finally:
        await daemon.kill()


async def plan_changes(settings: Settings) -> list[str]:
    """What ``homeport plan`` would still do, observed afresh from the world."""
    store = Store.open(settings.store.path, readonly=True)
    clients = await build_clients(settings)
    try:
        report = await preview(
            store=store,
            reconcilers=build_reconcilers(settings),
            clients=clients,
            clock=SystemClock(),
        )
    finally:
        await close_clients(clients)
        store.close()
    return [
        f"{o.kind}/{o.name}: {'; '.join(o.actions) or o.reason}"
        for o in report.objects
        if o.actions or o.change == "error"
    ]


async def until_plan_empty(settings: Settings, *, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while changes := await plan_changes(settings):
        if loop.time() > deadline:
            raise AssertionError("plan not empty:\n  " + "\n  ".join(changes))
        await asyncio.sleep(0.5)


async def audit_estate(run: CrashRun, kinds: set[str]) -> list[str]:
    declared_vms = run.declared("VM")
    scratch = audit.restore_tests_in_progress(run.settings.store.path)
    problems = audit.vm_problems(run.estate, declared_vms, scratch)
    problems += audit.clone_problems(await audit.clone_tasks(run.estate), run.declared_ever)
    problems += await audit.route_problems(run.estate, run.declared("ProxyRoute"))
    problems += audit.tailnet_problems(run.estate, declared_vms, run.declared_ever - declared_vms)
    if "BackupPolicy" in kinds:
        problems += audit.backup_job_problems(run.estate, run.declared("BackupPolicy"))
    problems += audit.allocation_problems(run.settings.store.path, declared_vms)
    problems += audit.guest_problems(run.estate, declared_vms)
    problems += audit.journal_problems(run.settings.store.path)
    assert run.estate.pve is not None
    problems += [f"simulator: {p}" for p in run.estate.pve.check()]
    problems += [f"still to do after shutdown: {c}" for c in await plan_changes(run.settings)]
    if not run.converged(kinds):
        problems.append("not every object is Ready after the final shutdown")
    return problems


async def test_kill_minus_nine_fifty_times_leaves_no_trace(tmp_path: Path) -> None:
    estate = await start_estate(tmp_path)
    run: CrashRun | None = None
    try:
        run = prepare(estate, tmp_path)
        kinds = set(build_reconcilers(run.settings))
        await crash_loop(run, kinds)
        await final_life(run, kinds)
        problems = await audit_estate(run, kinds)
        assert not problems, "\n".join(problems)
        print(run.report())  # shown with -s or -rP: where the kills landed
    except BaseException:
        if run is not None:
            print(run.report())
        raise
    finally:
        if run is not None:
            run.watch.close()
        await estate.stop()
