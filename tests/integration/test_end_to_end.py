"""End to end on the simulator + real Caddy + real git, with the example estate.

Push manifests/ → every VM cloned and running, every App healthy, each ProxyRoute's Host
answered through Caddy by its App. Then, on the same estate: change the Apps' ref (new
release, standby first, route keeps serving, old release kept), push a broken release
(health fails on the standby → rolled back, Degraded, the primary never gets it), edit a
unit by hand (drift corrected), add then delete a routed App with its VM (removed in
reverse order), push an invalid commit (rejected, nothing changes), and check that a
converged estate costs zero mutating calls and plans nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from homeport.controller.clock import SystemClock
from homeport.controller.preview import preview
from homeport.controller.store import JournalEntry, Store
from homeport.kinds import KINDS
from homeport.simulator.sample_apps import commit_release, work_clone
from testkit.harness import EstateHarness, until
from testkit.traffic import Traffic

pytestmark = pytest.mark.integration
CORE = {"Machine", "VM", "App", "StandbyPair", "ProxyRoute", "Agent"}
BLOG = """apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: blog}
spec: {machine: clone-server, cores: 1, memoryMiB: 1024, deletionPolicy: Destroy}
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {name: blog}
spec:
  vm: blog
  source: {repo: "https://git.example.com/edge/shop.git", ref: v2}
  execStart: /usr/bin/python3 app.py
  port: 8081
---
apiVersion: homeport.dev/v1alpha1
kind: ProxyRoute
metadata: {name: blog}
spec: {host: blog.example.com, app: blog}
"""


def events(h: EstateHarness, kind: str, name: str) -> list[str]:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return [f"{e.reason}: {e.message}" for e in store.events.for_object(kind, name, limit=200)]
    finally:
        store.close()


def release_steps(h: EstateHarness, app: str, sha: str) -> list[JournalEntry]:
    """The App's journaled actions on release ``sha`` (fetch, switch), in order."""
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        entries = store.journal.entries()
    finally:
        store.close()
    return [e for e in entries if (e.kind, e.name) == ("App", app) and sha[:12] in e.description]


async def tag(h: EstateHarness, name: str, files: dict[str, str]) -> str:
    """A new commit in the sample shop repository, tagged ``name`` (git in a thread: the
    test's loop runs the simulator and the traffic, which must not freeze)."""
    return await asyncio.to_thread(_tag, h, name, files)


def _tag(h: EstateHarness, name: str, files: dict[str, str]) -> str:
    repos = h.estate.repos
    sha = commit_release(repos / "shop.git", work_clone(repos, "shop"), files, f"release {name}")
    subprocess.run(["git", "-C", str(repos / "shop.git"), "tag", name, sha], check=True)
    return sha


async def set_ref(h: EstateHarness, ref: str) -> None:
    path = h.work.path / "manifests" / "apps" / "shop.yaml"
    text = path.read_text()
    for old in ("ref: main", "ref: v2", "ref: v3"):
        text = text.replace(f"shop.git, {old}", f"shop.git, ref: {ref}")
    await h.push({"manifests/apps/shop.yaml": text}, f"shop at {ref}")


def release_of(h: EstateHarness, app: str) -> str | None:
    obj = h.object("App", app)
    return None if obj is None else obj.status.details.get("release")


async def test_example_estate_end_to_end(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.settled(CORE, timeout=120)
        for host, app in (
            ("shop.example.com", "homeport-shop-a"),
            ("community.example.com", "homeport-community-a"),
        ):
            response = await h.through_caddy(host)
            assert response.status_code == 200
            assert response.json()["app"] == app
        for vm in ("caddy-router", "shop-a", "shop-b", "community-a", "community-b", "dev-1"):
            obj = h.object("VM", vm)
            assert obj is not None
            assert obj.ready, obj.status.conditions
            assert obj.status.details["status"] == "running"
        # node-exporter runs on every production VM (the dev VM has none).
        agent = h.object("Agent", "node-exporter")
        assert agent is not None and agent.ready
        assert set(agent.status.details["vms"]) == {
            "caddy-router",
            "shop-a",
            "shop-b",
            "community-a",
            "community-b",
        }

        # -- converged: zero mutating calls, nothing planned ---------------------------
        px, caddy = h.clients.proxmox, h.clients.caddy
        px_before, caddy_before = px.stats.snapshot(), caddy.stats.snapshot()
        assert h.daemon is not None and h.daemon.engine is not None
        h.daemon.engine.enqueue_all()
        await until(lambda: not h.daemon.engine.queue.busy(), what="a full resync")  # type: ignore[union-attr]
        await asyncio.sleep(0.5)
        assert px.stats.snapshot().minus(px_before).mutations == {}
        assert caddy.stats.snapshot().minus(caddy_before).mutations == {}
        store = Store.open(h.settings.store.path, readonly=True)
        try:
            report = await preview(
                store=store,
                reconcilers=h.daemon.reconcilers,
                clients=h.clients,
                clock=SystemClock(),
            )
        finally:
            store.close()
        changes = [o for o in report.objects if o.actions]
        assert changes == [], changes
        # Every kind took part: plan → act → observe → plan again is empty for each.
        assert {o.kind for o in report.objects} == set(KINDS)
        assert report.exit_code == 0

        traffic = Traffic(h.estate.endpoints()["caddy"]["http"] + "/", "shop.example.com")
        stop = asyncio.Event()
        task = asyncio.create_task(traffic.run(stop, interval=0.05))
        try:
            # -- a new release: standby first, then the primary, route keeps serving ----
            old = release_of(h, "shop-a")
            new = await tag(h, "v2", {"VERSION": "2\n"})
            await set_ref(h, "v2")
            await until(
                lambda: release_of(h, "shop-a") == new and h.object("App", "shop-a").ready,  # type: ignore[union-attr]
                timeout=60,
                what="shop-a on v2",
            )
            assert release_of(h, "shop-b") == new
            # Standby first: the primary touched the new release (fetch, switch) only
            # after the standby had switched to it.
            standby = release_steps(h, "shop-b", new)
            primary = release_steps(h, "shop-a", new)
            switched = next(e for e in standby if e.verb == "switch-release" and e.state == "done")
            assert primary, "the primary never journaled the new release"
            assert datetime.fromisoformat(switched.finished_at) <= min(
                datetime.fromisoformat(e.started_at) for e in primary
            ), (standby, primary)
            assert switched.id < min(e.id for e in primary)
            await until(
                lambda: traffic.samples[-1].app == "homeport-shop-a",
                what="traffic after the release",
            )
            assert all(s.status == 200 for s in traffic.samples), (
                "the route stopped serving during the release"
            )
            ssh = h.clients.ssh
            address = h.object("VM", "shop-a").status.details["address"]  # type: ignore[union-attr]
            listing = await ssh.run(address, ["ls", "-1", "/srv/apps/shop-a/releases"])
            assert {old, new} <= set(listing.text.split()), (
                "the previous release is kept for rollback"
            )

            # -- a broken release: fails on the standby, rolled back, never on the primary --
            broken = await tag(h, "v3", {"SIMULATE": "health=500\n"})
            await set_ref(h, "v3")
            await until(
                lambda: any("failed its health check" in e for e in events(h, "App", "shop-b")),
                timeout=90,
                what="the standby rolled back",
            )
            await until(
                lambda: any(
                    c.type == "Degraded" and c.status == "True"
                    for c in h.object("App", "shop-b").status.conditions
                ),  # type: ignore[union-attr]
                what="shop-b Degraded",
            )
            assert release_of(h, "shop-b") == new
            assert release_of(h, "shop-a") == new, (
                "a release that failed on the standby reached the primary"
            )
            await until(
                lambda: any(
                    "failed on the standby" in c.message
                    for c in h.object("App", "shop-a").status.conditions
                ),  # type: ignore[union-attr]
                what="the primary reporting the release that failed on its standby",
            )
            assert (await h.through_caddy("shop.example.com")).status_code == 200
            assert broken not in [release_of(h, "shop-a"), release_of(h, "shop-b")]
            await set_ref(h, "v2")  # the fix: back to the good release
            await until(
                lambda: (
                    not any(
                        c.type == "Degraded" for c in h.object("App", "shop-b").status.conditions
                    )
                ),  # type: ignore[union-attr]
                timeout=60,
                what="shop-b healthy again",
            )
        finally:
            stop.set()
            await task

        # -- drift: a unit edited by hand on the VM is restored --------------------------
        address = h.object("VM", "community-a").status.details["address"]  # type: ignore[union-attr]
        unit = "/etc/systemd/system/homeport-community-a.service"
        original = await ssh.read_file(address, unit)
        await ssh.install_file(address, unit, original + b"\nNice=19\n", mode=0o644)
        h.daemon.engine.queue.add(("App", "community-a"))
        await until(
            lambda: any(
                "drift: unit changed on the VM" in e for e in events(h, "App", "community-a")
            ),
            what="drift corrected",
        )
        await until(lambda: h.object("App", "community-a").ready, what="community-a ready")  # type: ignore[union-attr]
        assert await ssh.read_file(address, unit) == original

        # -- add a routed App on its own VM, then delete it: pruned in reverse order -----
        await h.push({"manifests/blog.yaml": BLOG}, "a blog")
        await h.settled(CORE, timeout=90)
        assert (await h.through_caddy("blog.example.com")).json()["app"] == "homeport-blog"
        blog_vmid = h.object("VM", "blog").status.details["vmid"]  # type: ignore[union-attr]
        await h.push({"manifests/blog.yaml": None}, "no more blog")
        await until(lambda: h.object("VM", "blog") is None, timeout=90, what="the blog pruned")
        store = Store.open(h.settings.store.path, readonly=True)
        try:
            pruned = [
                e for e in store.events.recent(500) if e.reason == "Pruned" and e.name == "blog"
            ]
        finally:
            store.close()
        assert [e.kind for e in pruned] == ["ProxyRoute", "App", "VM"]
        assert (await h.through_caddy("blog.example.com")).status_code == 404
        assert px and (await px.cluster_resources()).vm(blog_vmid) is None

        # -- an invalid commit is refused and changes nothing ----------------------------
        before = {o.key: o.generation for o in h.objects()}
        h.work.write(
            "manifests/broken.yaml",
            "apiVersion: homeport.dev/v1alpha1\nkind: VM\nmetadata: {name: x}\nspec: {}\n",
        )
        h.work.commit("broken")
        rejected = await asyncio.to_thread(h.work.push)  # the hook asks this loop's daemon
        assert rejected.returncode != 0
        assert (
            "manifests/broken.yaml:4: VM/x: missing required field 'spec.machine'"
            in rejected.stderr
        )
        (h.settings.source.repo / "hooks" / "pre-receive").unlink()  # type: ignore[operator]
        assert h.work.push().returncode == 0  # a missing hook must not let it through either
        await until(
            lambda: (
                (Store.open(h.settings.store.path, readonly=True).revisions.last() or None)
                is not None
                and Store.open(h.settings.store.path, readonly=True).revisions.last().outcome
                == "rejected"
            ),  # type: ignore[union-attr]
            what="the daemon rejecting the revision",
        )
        assert {o.key: o.generation for o in h.objects()} == before
