"""The daemon over real git: a push is adopted and converged; a second daemon waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from homeport.controller.config import Settings
from homeport.controller.control import control_socket_path
from homeport.controller.daemon import Daemon
from homeport.controller.store import Store
from homeport.controller.storelock import StoreInUse
from homeport.source.hooks import init_repository
from testkit.gitwork import WorkClone, machine
from tests.controller.fakes import FakeReconciler, FakeWorld

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
        assert work.push().returncode == 0
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
    repo = init_repository(tmp_path / "estate.git")
    work = WorkClone(repo, tmp_path / "work")
    work.write("m.yaml", machine("a"))
    work.commit()
    work.push()
    world = FakeWorld()
    settings = settings_for(tmp_path, repo)
    first = Daemon(settings=settings, reconcilers={"Machine": FakeReconciler("Machine", world)})
    second_world = FakeWorld()
    second = Daemon(
        settings=settings, reconcilers={"Machine": FakeReconciler("Machine", second_world)}
    )
    async with running(first):
        await until(lambda: ("Machine", "a") in world.things)
        with pytest.raises(StoreInUse, match="another homeport daemon"):
            await second.run(asyncio.Event())
        assert second.store is None
        assert first.leadership is not None and first.leadership.is_leader()
        assert control_socket_path(settings.store.path).exists()
        work.write("m.yaml", machine("a").replace("cores: 8", "cores: 4"))
        work.commit()
        work.push()
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
