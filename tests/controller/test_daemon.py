"""The daemon over real git: a push is adopted and converged; a second daemon waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.controller.clock import SystemClock
from homeport.controller.config import Settings
from homeport.controller.control import control_socket_path
from homeport.controller.coordination import LocalLeadership
from homeport.controller.daemon import Daemon
from homeport.controller.store import Store
from homeport.controller.storelock import StoreInUse
from homeport.reconcilers.base import Action, Plan, ReconcileContext
from homeport.source.file_cache import CACHE_FILE, DIRECTORY
from homeport.source.hooks import init_repository
from homeport.source.push_socket import VALIDATE_SOCKET
from testkit.gitwork import WorkClone, machine
from tests.controller.fakes import Create, FakeReconciler, FakeWorld, Resize

pytestmark = pytest.mark.integration


def settings_for(tmp: Path, repo: Path, poll: float = 30.0) -> Settings:
    return Settings.model_validate(
        {
            "store": {"path": str(tmp / "state.db")},
            "source": {"repo": str(repo), "poll_interval": poll},
            "controller": {"resync_interval": 60, "concurrency": 2, "drain_timeout": 5},
            "coordination": {"lease_duration": 3, "renew_interval": 0.2},
        }
    )


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def pushed_machine(tmp_path: Path) -> tuple[Path, WorkClone]:
    """An estate repository with Machine/a pushed, and the clone that pushed it."""
    repo = init_repository(tmp_path / "estate.git")
    work = WorkClone(repo, tmp_path / "work")
    work.write("m.yaml", machine("a"))
    work.commit()
    work.push()
    return repo, work


def reader(path: Path) -> Store:
    return Store.open(path, readonly=True)


async def test_push_is_adopted_and_converged(tmp_path: Path) -> None:
    repo = init_repository(tmp_path / "estate.git")
    work = WorkClone(repo, tmp_path / "work")
    world = FakeWorld()
    settings = settings_for(tmp_path, repo)
    daemon = Daemon(settings=settings, reconcilers={"Machine": FakeReconciler("Machine", world)})
    async with running(daemon):
        work.write("m.yaml", machine("a") + "---\n" + machine("b"))
        work.commit()
        assert (await asyncio.to_thread(work.push)).returncode == 0
        await until(lambda: set(world.things) == {("Machine", "a"), ("Machine", "b")})
        store = reader(settings.store.path)
        await until(
            lambda: all(o.ready for o in store.objects.all()) and len(store.objects.all()) == 2
        )
        # An invalid commit that reaches the branch anyway (hooks bypassed) changes nothing.
        (repo / "hooks" / "pre-receive").unlink()
        work.write("m.yaml", machine("a").replace("cores: 8", "cores: lots"))
        work.commit()
        assert work.push().returncode == 0
        await until(
            lambda: (
                (store.revisions.last() or None) is not None
                and store.revisions.last().outcome == "rejected"
            )
        )  # type: ignore[union-attr]
        assert {o.name for o in store.objects.all() if not o.deleting} == {"a", "b"}
        store.close()
    assert world.mutations == ["create Machine/a size=8", "create Machine/b size=8"]


async def test_second_daemon_on_the_same_store_is_refused(tmp_path: Path) -> None:
    """Two daemons on one store would share its control socket and journal: the second
    stops before touching anything, and the first carries on, still reachable."""
    repo, work = pushed_machine(tmp_path)
    world = FakeWorld()
    settings = settings_for(tmp_path, repo)
    first = Daemon(settings=settings, reconcilers={"Machine": FakeReconciler("Machine", world)})
    second_world = FakeWorld()
    second = Daemon(
        settings=settings, reconcilers={"Machine": FakeReconciler("Machine", second_world)}
    )
    async with running(first):
        await until(lambda: ("Machine", "a") in world.things)
        await until(lambda: (repo / VALIDATE_SOCKET).exists())
        with pytest.raises(StoreInUse, match="another homeport daemon"):
            await second.run(asyncio.Event())
        assert second.store is None
        assert first.leadership is not None and first.leadership.is_leader()
        assert control_socket_path(settings.store.path).exists()
        assert (repo / VALIDATE_SOCKET).exists()
        cache = (repo / DIRECTORY / CACHE_FILE).read_bytes()  # the hook's, from the first push
        work.write("m.yaml", machine("a").replace("cores: 8", "cores: 4"))
        work.commit()
        pushed = await asyncio.to_thread(work.push)  # in a thread: the hook asks this loop
        assert pushed.returncode == 0 and "1 objects valid" in pushed.stderr
        # The daemon judged it: a hook validating itself would have rewritten its cache.
        assert (repo / DIRECTORY / CACHE_FILE).read_bytes() == cache
        await until(lambda: world.things[("Machine", "a")] == {"size": 4})
    assert second_world.mutations == []


async def test_directory_source_for_trying_things_out(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "m.yaml").write_text(machine("a"))
    world = FakeWorld()
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "source": {"directory": str(folder)},
            "coordination": {"renew_interval": 0.2},
        }
    )
    daemon = Daemon(settings=settings, reconcilers={"Machine": FakeReconciler("Machine", world)})
    async with running(daemon):
        await until(lambda: ("Machine", "a") in world.things)
        (folder / "m.yaml").write_text(machine("a").replace("cores: 8", "cores: 4"))
        await until(lambda: world.things[("Machine", "a")] == {"size": 4})


class _ReleaseRecorded(LocalLeadership):
    """The daemon's own lease, noting when it is given up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.released = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        await super().run(stop)
        self.released.set()


class _TwoSteps(FakeReconciler):
    """Creates in two actions; the first waits for the test to let it go."""

    def __init__(self, world: FakeWorld) -> None:
        super().__init__("Machine", world)
        self.first_started = asyncio.Event()
        self.go_on = asyncio.Event()

    def plan(self, desired: Any, observed: Any, *, now: datetime) -> Plan:
        if desired is not None and observed is None:
            return Plan(
                actions=(Create("Machine", desired.name, 1), Resize("Machine", desired.name, 8))
            )
        return super().plan(desired, observed, now=now)

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        if isinstance(action, Create):
            self.first_started.set()
            await self.go_on.wait()
        await super().act(action, ctx)


async def test_a_draining_reconcile_keeps_the_lease_until_it_ends(tmp_path: Path) -> None:
    """On stop, a running reconcile finishes (drain) as the leader: its next action is not
    refused as "not the leader any more", and the lease is given up only after it ended."""
    repo, _ = pushed_machine(tmp_path)
    world = FakeWorld()
    settings = settings_for(tmp_path, repo)
    store = Store.open(settings.store.path)
    leadership = _ReleaseRecorded(store, SystemClock(), duration=3, renew_interval=0.2)
    reconciler = _TwoSteps(world)
    daemon = Daemon(settings=settings, reconcilers={"Machine": reconciler}, leadership=leadership)
    try:
        async with running(daemon) as stop:
            await asyncio.wait_for(reconciler.first_started.wait(), 10)
            stop.set()
            # Before the fix the lease went at once; now it must still be held.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leadership.released.wait(), 3 * 0.2)
            assert not leadership.released.is_set()
            reconciler.go_on.set()
        assert leadership.released.is_set()
        assert world.mutations == [
            Create("Machine", "a", 1).describe(),
            Resize("Machine", "a", 8).describe(),
        ]
        events = store.events.recent(100)
        assert [e.message for e in events if e.type == "Warning"] == []
        lease = store.leases.current("controller")
        assert lease is not None and lease.expires == 0  # given up on the way out
    finally:
        store.close()
