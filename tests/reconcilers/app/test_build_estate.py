"""spec.build on the simulated estate: a new release is built in its checkout as the App's
user before it goes live, once (a resync plans nothing); a failing build stalls the App with
its exit status and the last lines of its output in an event, keeps the previous release
running, and is not run again for the same release and command."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.controller.store import Store
from homeport.reconcilers.appfiles import sha256
from homeport.simulator.sample_apps import commit_release, work_clone
from testkit.harness import EstateHarness, until
from tests.reconcilers.app.estate import deploy_shop, shop_manifest

pytestmark = pytest.mark.integration


def build(command: str) -> str:
    return f'  build: {{command: "{command}", timeoutSeconds: 60}}\n'


def events(h: EstateHarness, reason: str) -> list[str]:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        found = store.events.for_object("App", "shop-a", limit=200)
        # The build's own event (with its output); the stall adds one of the same reason.
        return [e.message for e in found if e.reason == reason and "last lines" in e.message]
    finally:
        store.close()


def condition(h: EstateHarness, kind: str) -> tuple[str, str] | None:
    app = h.object("App", "shop-a")
    found = [c for c in app.status.conditions if c.type == kind] if app else []
    return (found[0].status, found[0].reason) if found else None


async def test_build_once_per_release_and_a_failed_build_keeps_the_previous(
    tmp_path: Path,
) -> None:
    async with EstateHarness.running(tmp_path, manifests=None, start_daemon=False) as h:
        guest = await deploy_shop(h, build("mkdir -p build/assets"))
        app = h.object("App", "shop-a")
        assert app is not None
        first = str(app.status.details["release"])
        release = f"/srv/apps/shop-a/releases/{first}"
        assert guest.disk.host(f"{release}/build/assets").is_dir()
        marker = guest.disk.host(f"{release}.built")
        assert marker.read_text() == sha256("mkdir -p build/assets")
        # Built as the App's user, then handed back to root.
        assert guest.disk.owner(guest.disk.host(f"{release}/build/assets")) == (0, 0)

        built_at = marker.stat().st_mtime_ns
        assert await h.planned_changes() == []
        assert marker.stat().st_mtime_ns == built_at

        repos = h.estate.repos
        second = commit_release(
            repos / "shop.git", work_clone(repos, "shop"), {"NEWS": "two\n"}, "release two"
        )
        await h.push({"manifests/shop.yaml": shop_manifest(build("ls no-such-file"))})
        await until(lambda: condition(h, "Stalled") == ("True", "BuildFailed"), what="stalled")
        [event] = events(h, "BuildFailed")
        assert f"build of release {second[:12]} exited 2" in event
        assert "ls: cannot access 'no-such-file': No such file or directory" in event
        link = guest.disk.host("/srv/apps/shop-a/current", follow_last=False)
        assert link.readlink().name == first  # the previous release keeps running
        assert guest.systemd.units["homeport-shop-a.service"].active == "active"
        assert not guest.disk.host(f"/srv/apps/shop-a/releases/{second}.built").exists()

        # Looked at again (`homeport reconcile`): the same release and command are not
        # built again; the App serves the previous release, Degraded.
        assert h.daemon is not None and h.daemon.engine is not None
        h.daemon.engine.queue.add(("App", "shop-a"))
        await until(lambda: condition(h, "Degraded") == ("True", "BuildFailed"), what="degraded")
        assert len(events(h, "BuildFailed")) == 1
        app = h.object("App", "shop-a")
        assert app is not None and app.status.details["release"] == first
