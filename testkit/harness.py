"""An estate under test: the simulated estate, the control plane's repository, a daemon.

Used by integration and scenario tests: ``async with EstateHarness.running(tmp_path) as h``
starts the simulator + real Caddy, ``homeport init``s the repository, pushes manifests
with real git and runs the daemon in this event loop, talking to the simulator only
through the config's sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from homeport.clients.bundle import Clients
from homeport.controller.config import Settings, load_settings
from homeport.controller.daemon import Daemon
from homeport.controller.store import Store, StoredObject
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.reconcilers.slots import PAIR_MEMORY
from homeport.services.telemetry.hooks import Telemetry
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.settings import EstateConfig, Timings
from homeport.source.hooks import init_repository
from testkit.gitwork import WorkClone

ROOT = Path(__file__).parents[1]
FAST = Timings(full_clone_per_32g=4.0, guest_boot=2.0, start=0.5, shutdown=1.0)


# manifests/examples/ (the GPU node, the NAS) is converged by `make demo` and validated
# with the estate; the harness's estate is the core one every integration test counts on.
EXAMPLES = shutil.ignore_patterns("examples")


async def until(
    condition: Callable[[], bool], *, timeout: float = 60.0, what: str = "condition"
) -> None:
    """Poll ``condition`` every 50 ms until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.05)


def assert_sound(estate: SimulatedEstate) -> None:
    """The simulator's invariants hold (no VM on two nodes, no lock without a task, no
    internal simulator error, ...): every estate test ends with this, on a clean exit."""
    violations = estate.check()
    assert violations == [], "simulator invariants violated:\n  " + "\n  ".join(violations)


@dataclass
class EstateHarness:
    estate: SimulatedEstate
    settings: Settings
    work: WorkClone
    clients: Clients = field(default_factory=Clients)
    daemon: Daemon | None = None
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        tmp_path: Path,
        *,
        manifests: Path | None = ROOT / "manifests",
        time_scale: float = 20.0,
        seed: int = 0,
        start_daemon: bool = True,
    ) -> AsyncIterator[EstateHarness]:
        estate = SimulatedEstate(
            EstateConfig(
                state_dir=tmp_path / "estate",
                time_scale=time_scale,
                seed=seed,
                tls="off",
                timings=FAST,
            )
        )
        await estate.start()
        harness: EstateHarness | None = None
        try:
            settings = load_settings(estate.config_path)
            assert settings.source.repo is not None
            init_repository(settings.source.repo)
            harness = cls(estate, settings, WorkClone(settings.source.repo, tmp_path / "work"))
            if manifests is not None:
                shutil.copytree(manifests, harness.work.path / "manifests", ignore=EXAMPLES)
                harness.work.commit("the estate")
                pushed = harness.work.push()
                assert pushed.returncode == 0, pushed.stderr
            if start_daemon:
                await harness.start_daemon()
            yield harness
            await harness.stop_daemon()
            assert_sound(estate)
        finally:
            if harness is not None:
                await harness.stop_daemon()
            await estate.stop()

    async def start_daemon(self, *, telemetry: Telemetry | None = None) -> None:
        """Start the daemon; ``telemetry`` (the test owns and shuts it down) traces and
        measures it, as ``homeport run`` wires it."""
        tracer = telemetry.client_tracer if telemetry else None
        self.clients = await build_clients(self.settings, tracer=tracer)
        self.daemon = Daemon(
            settings=self.settings,
            reconcilers=build_reconcilers(
                self.settings, on_probe=telemetry.observe_probe if telemetry else None
            ),
            clients=self.clients,
            telemetry=telemetry,
        )
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.daemon.run(self._stop))

    async def stop_daemon(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 30)
            self._task = None
        await close_clients(self.clients)  # an empty set (never started) closes nothing
        self.clients = Clients()

    # -- looking at the store ----------------------------------------------------------
    def objects(self) -> list[StoredObject]:
        if not self.settings.store.path.exists():
            return []
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            return store.objects.all()
        finally:
            store.close()

    def object(self, kind: str, name: str) -> StoredObject | None:
        return next((o for o in self.objects() if o.key == (kind, name)), None)

    def pair_memory(self, pair: str) -> dict[str, Any]:
        """The StandbyPair's durable memory as the store holds it now ({} before any)."""
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            return dict(PAIR_MEMORY.get(store, pair) or {})
        finally:
            store.close()

    def not_ready(self, kinds: set[str] | None = None) -> list[str]:
        return [
            f"{o.kind}/{o.name}: {o.status.conditions[0].message if o.status.conditions else 'pending'}"
            for o in self.objects()
            if (kinds is None or o.kind in kinds) and not o.ready
        ]

    async def converged(self, kinds: set[str] | None = None, *, timeout: float = 90.0) -> None:
        def done() -> bool:
            objects = [o for o in self.objects() if kinds is None or o.kind in kinds]
            return bool(objects) and all(o.ready for o in objects)

        try:
            await until(done, timeout=timeout, what="convergence")
        except AssertionError:
            problems = "\n  ".join(self.not_ready(kinds))
            errors = self.estate.pve.world.guest_errors[-5:] if self.estate.pve else []
            message = f"not converged:\n  {problems}\nsimulator guest errors: {errors}"
            raise AssertionError(message) from None

    def journal_size(self) -> int:
        if not self.settings.store.path.exists():
            return 0
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            return len(store.journal.entries())
        finally:
            store.close()

    async def settled(
        self, kinds: set[str] | None = None, *, timeout: float = 120.0, quiet: float = 2.0
    ) -> None:
        """Converged, and nothing changed in the world for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.converged(kinds, timeout=max(1.0, deadline - loop.time()))
            before = self.journal_size()
            await asyncio.sleep(quiet)
            if self.journal_size() == before and not self.not_ready(kinds):
                return
            if loop.time() > deadline:
                raise AssertionError("the estate never settled")

    async def planned_changes(self) -> list[str]:
        """After a full resync, the objects whose plan still has actions (none when converged)."""
        from homeport.controller.clock import SystemClock
        from homeport.controller.preview import preview

        assert self.daemon is not None and self.daemon.engine is not None
        engine = self.daemon.engine
        engine.enqueue_all()
        await until(lambda: not engine.queue.busy(), what="a full resync")
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            report = await preview(
                store=store,
                reconcilers=self.daemon.reconcilers,
                clients=self.clients,
                clock=SystemClock(),
            )
        finally:
            store.close()
        return [f"{o.kind}/{o.name}" for o in report.objects if o.actions]

    # -- the world through its sockets -------------------------------------------------
    async def through_caddy(self, host: str, path: str = "/") -> httpx.Response:
        caddy = self.estate.endpoints()["caddy"]
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            return await client.get(f"{caddy['http']}{path}", headers={"Host": host})

    async def push(self, files: dict[str, str | None], message: str = "change") -> str:
        """Commit ``files`` (None: removed) and push. In a thread: the push runs the
        pre-receive hook (a Python process validating the estate, seconds on a busy
        machine), and this loop also runs the simulator, the apps and any test traffic,
        which must not freeze meanwhile."""
        return await asyncio.to_thread(self._push, files, message)

    def _push(self, files: dict[str, str | None], message: str) -> str:
        for name, content in files.items():
            if content is None:
                self.work.remove(name)
            else:
                self.work.write(name, content)
        sha = self.work.commit(message)
        result = self.work.push()
        assert result.returncode == 0, result.stderr
        return sha
