"""Estate power events on the simulated estate, with traffic through Caddy and a daemon:
``homeport estate shutdown`` then ``start`` as requests the daemon runs (``Estate/power``),
each with the daemon stopped half-way: the next daemon resumes the request, and the same
command attaches to it and reports it. The stops and starts follow the layers, each VM is
stopped and started once, every pair syncs its standby before its primary stops, no
StandbyPair fails over, and the estate is healthy and serving at the end. Without a
daemon, the command runs the same engine itself.

Asserts on the world (the simulator's VMs, Caddy's answers) and on the store's record.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.controller.control import send_request
from homeport.controller.store import Store
from homeport.reconcilers.slots import ESTATE_POWER_REQUEST, PowerRequest
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration
KINDS = {"Machine", "VM", "App", "StandbyPair", "ProxyRoute"}
LAYERS = {
    "caddy-router": 1,
    "shop-a": 3,
    "shop-b": 3,
    "community-a": 3,
    "community-b": 3,
    "dev-1": 4,
}
HOSTS = ("shop.example.com", "community.example.com")


def world_status(h: EstateHarness) -> dict[str, str]:
    assert h.estate.pve is not None
    return {v.name: v.status for v in h.estate.pve.world.vms.values() if v.name in LAYERS}


def read_store(h: EstateHarness, read: Any) -> Any:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return read(store)
    finally:
        store.close()


def power_events(h: EstateHarness, reason: str) -> list[tuple[int, str]]:
    events = read_store(h, lambda s: s.events.since(0, 100_000))
    return [(e.id, e.name) for e in events if e.reason == reason and e.kind == "VM"]


def in_layer_order(events: list[tuple[int, str]], *, descending: bool) -> bool:
    """Every VM of a layer has its event before any VM of the next layer."""
    layers = [LAYERS[name] for _, name in sorted(events)]
    return layers == sorted(layers, reverse=descending)


def layer_done(h: EstateHarness, layer: int) -> bool:
    request = read_store(h, lambda s: ESTATE_POWER_REQUEST.get(s, "power"))
    entry = ((request or {}).get("layers") or {}).get(str(layer)) or {}
    return bool(entry.get("finishedAt"))


async def serving(h: EstateHarness) -> bool:
    answers = [await h.through_caddy(host) for host in HOSTS]
    return all(a.status_code == 200 for a in answers)


async def until_serving(h: EstateHarness) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await serving(h):
        assert loop.time() < deadline, "Caddy does not serve the apps again"
        await asyncio.sleep(0.1)


async def crash_after_layer(h: EstateHarness, op: str, layer: int) -> None:
    """Request the operation as the command does, stop the daemon the moment ``layer`` is
    done, and start a new one (it takes the request up again by itself). A kill in the
    middle of a step is ``tests/reconcilers/estate/test_power_engine.py``'s."""
    store = Store.open(h.settings.store.path)
    try:
        at = datetime.now(UTC).isoformat()
        last = ESTATE_POWER_REQUEST.get(store, "power")
        request: PowerRequest = {
            "id": (last["id"] if last else 0) + 1,
            "op": op,
            "target": 1,
            "at": at,
            "by": "test",
            "state": "requested",
            "timeout": 60.0,
            "layers": {},
        }
        ESTATE_POWER_REQUEST.set(store, "power", request, now=at)
    finally:
        store.close()
    assert send_request(
        h.settings.store.path, {"op": "reconcile", "kind": "Estate", "name": "power"}
    )
    await until(lambda: layer_done(h, layer), what=f"layer {layer} done")
    await h.stop_daemon()  # mid-operation: the request is left open in the store
    await h.start_daemon()


async def cli(h: EstateHarness, *args: str, said: list[str] | None = None) -> Any:
    """The real command, in a thread of its own (it runs its own event loop); ``said``
    gets the progress lines it printed."""
    argv = ["estate", *args, "--config", str(h.estate.config_path), "-o", "json", "--timeout", "60"]
    result = await asyncio.to_thread(CliRunner().invoke, app, argv)
    assert result.exit_code == 0, result.output
    if said is not None:
        said.extend(result.stderr.splitlines())
    return json.loads(result.stdout)


async def test_layered_shutdown_and_start_resume_after_a_crash(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.converged(KINDS)
        await until_serving(h)

        # Shutdown: the daemon stopped after the user-facing layer; the next one resumes
        # it and the command attaches to the request left open.
        await crash_after_layer(h, "shutdown", 4)
        assert world_status(h)["dev-1"] == "stopped"
        report = await cli(h, "shutdown", "--yes")
        assert report["state"] == "done"
        assert set(world_status(h).values()) == {"stopped"}
        stops = power_events(h, "EstateStop")
        assert sorted(name for _, name in stops) == sorted(LAYERS)  # each VM stopped once
        assert in_layer_order(stops, descending=True), stops
        # Each pair's primary was stopped and synced to its standby before going down.
        synced = read_store(
            h, lambda s: [e.name for e in s.events.since(0, 100_000) if e.reason == "FinalSync"]
        )
        assert sorted(synced) == ["community", "shop"]

        # While down, the probes keep failing far past the threshold: nothing fails over.
        assert h.daemon is not None  # the one started after the stop
        trackers = h.daemon.reconcilers["StandbyPair"].runtime.trackers  # type: ignore[attr-defined]
        await until(
            lambda: min(t.view.failures for t in trackers.values()) >= 5, what="failing probes"
        )

        def all_held() -> bool:
            held = [o for o in h.objects() if o.kind in ("VM", "App", "StandbyPair")]
            return all(
                c.reason == "EstateShutdown" and c.status == "False"
                for o in held
                for c in o.status.conditions
                if c.type == "Ready"
            )

        await until(all_held, what="VMs, Apps and pairs held (Ready=False EstateShutdown)")

        # Start: the daemon stopped after infrastructure, then resumed.
        await crash_after_layer(h, "start", 1)
        assert world_status(h)["caddy-router"] == "running"
        report = await cli(h, "start")
        assert report["state"] == "done"
        assert all(entry["seconds"] >= 0 for entry in report["layers"].values())
        assert set(report["layers"]) == {"1", "3", "4"}
        starts = power_events(h, "EstateStart")
        assert sorted(name for _, name in starts) == sorted(LAYERS)
        assert in_layer_order(starts, descending=False), starts

        await h.converged(KINDS)
        await until_serving(h)
        status = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["estate", "status", "--config", str(h.estate.config_path), "-o", "json"],
        )
        assert json.loads(status.stdout)["held"] == {}

        # No failover was ever triggered; both pairs still serve from their primaries.
        assert (
            read_store(
                h, lambda s: s.failovers.for_pair("shop") + s.failovers.for_pair("community")
            )
            == []
        )
        events = read_store(h, lambda s: s.events.since(0, 100_000))
        assert not [e for e in events if e.reason.startswith("Failover")]
        for pair, primary in (("shop", "shop-a"), ("community", "community-a")):
            obj = h.object("StandbyPair", pair)
            assert obj is not None
            assert (obj.status.details["primary"], obj.status.details["epoch"]) == (primary, 1)

        # Without a daemon the command runs the same engine itself, on just Estate/power
        # (and the pairs it wakes): the user-facing layer down and up again.
        await h.stop_daemon()
        said: list[str] = []
        report = await cli(h, "shutdown", "--layer", "4", "--yes", said=said)
        assert (report["state"], set(report["layers"])) == ("done", {"4"})
        progress = [line.split(": ", 1)[1] for line in said if line.startswith("estate shutdown: ")]
        assert "no daemon answers: running the request here" in progress, said
        assert "layer 4 (user-facing): dev-1" in progress, said
        assert any(line.startswith("layer 4 (user-facing): done in ") for line in progress), said
        assert world_status(h)["dev-1"] == "stopped"
        assert world_status(h)["shop-a"] == "running"
        report = await cli(h, "start")
        assert report["state"] == "done"
        assert world_status(h)["dev-1"] == "running"
        journal = read_store(h, lambda s: s.journal.for_object("Estate", "power", limit=500))
        assert any(e.holder.startswith("cli:") for e in journal)
        assert {e.verb for e in journal if e.holder.startswith("cli:")} >= {"estate-stop"}
