"""Which VMs each layer holds, what a stopped VM takes with it, and how the engine and a
StandbyPair treat what an estate shutdown holds; no sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homeport.clients.bundle import Clients
from homeport.controller.clock import FakeClock
from homeport.controller.config import ControllerSettings
from homeport.controller.context import ControllerContext
from homeport.controller.engine import Engine
from homeport.controller.store import DesiredObject, Store
from homeport.reconcilers.estate.holds import with_held, with_released
from homeport.reconcilers.estate.layers import (
    estate_vms,
    pair_members,
    pairs_to_release,
    shutdown_layers,
    start_layers,
)
from homeport.reconcilers.slots import ESTATE_HOLD
from homeport.source.validate import validate_sources
from tests.controller.fakes import AlwaysLeader, FakeReconciler, FakeWorld

ESTATE = """---
apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 8, memoryMiB: 16384}}
---
apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m2}
spec: {node: pve2, capacity: {cores: 8, memoryMiB: 16384}}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: router}
spec: {machine: m1, role: router, layer: 1}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: db}
spec: {machine: m1, layer: 2}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: web-a}
spec: {machine: m1, layer: 3}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: web-b}
spec: {machine: m2, layer: 2}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: scratch}
spec: {machine: m1, layer: 4, powerState: stopped}
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {name: web-a}
spec: {vm: web-a, source: {repo: "https://g.example/w.git"}, execStart: /bin/w, port: 8080}
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {name: web-b}
spec: {vm: web-b, source: {repo: "https://g.example/w.git"}, execStart: /bin/w, port: 8080}
---
apiVersion: homeport.dev/v1alpha1
kind: StandbyPair
metadata: {name: web}
spec: {primary: web-a, standby: web-b}
"""


def resources() -> list[object]:
    result = validate_sources([("estate.yaml", ESTATE.encode())])
    assert result.ok, [e.render() for e in result.errors]
    return [o.resource for o in result.objects]


def test_layers_in_shutdown_and_start_order() -> None:
    vms = estate_vms(resources())  # type: ignore[arg-type]
    down = [(layer, [v.name for v in members]) for layer, members in shutdown_layers(vms, 1)]
    assert down == [(4, ["scratch"]), (3, ["web-a"]), (2, ["db", "web-b"]), (1, ["router"])]
    assert [layer for layer, _ in shutdown_layers(vms, 3)] == [4, 3]
    up = [(layer, [v.name for v in members]) for layer, members in start_layers(vms)]
    assert up == [(1, ["router"]), (2, ["db", "web-b"]), (3, ["web-a"])]  # never the stopped one


def test_a_stopped_vm_takes_its_apps_and_pairs_with_it() -> None:
    web_a = next(v for v in estate_vms(resources()) if v.name == "web-a")  # type: ignore[arg-type]
    assert web_a.hold_keys() == ("VM/web-a", "App/web-a")
    assert web_a.pairs == ("web",)
    members = pair_members(resources())  # type: ignore[arg-type]
    assert members == {"web": {"web-a", "web-b"}}
    assert pairs_to_release(members, {"web-b"}) == []
    assert pairs_to_release(members, set()) == ["web"]


def test_the_engine_leaves_held_objects_alone_until_released(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    clock = FakeClock()
    world = FakeWorld()
    engine = Engine(
        store=store,
        reconcilers={k: FakeReconciler(k, world) for k in ("Machine", "VM")},
        context=ControllerContext(store=store, clock=clock, clients=Clients()),
        clock=clock,
        settings=ControllerSettings(resync_interval=60),
        leadership=AlwaysLeader(),
    )
    machine_only = ESTATE.split("---")[1]
    result = validate_sources([("estate.yaml", f"---{machine_only}".encode())])
    store.objects.apply_revision(
        "rev1", [DesiredObject(o.resource, o.file, o.line) for o in result.objects], clock.now()
    )
    why = "stopped by `homeport estate shutdown` #1 (layer 1, infrastructure)"
    ESTATE_HOLD.set(store, with_held({}, ["Machine/m1"], why), now="t0")

    async def go() -> None:
        outcome = await engine.reconcile(("Machine", "m1"))
        assert (outcome.result, outcome.requeue_after) == ("held", 5.0)
        assert world.mutations == []
        obj = store.objects.get(("Machine", "m1"))
        assert obj is not None and obj.status.conditions[0].reason == "EstateShutdown"
        released = with_released(ESTATE_HOLD.get(store) or {}, ["Machine/m1"], clock.now())
        ESTATE_HOLD.set(store, released, now="t1")
        assert (await engine.reconcile(("Machine", "m1"))).result == "progressing"
        assert world.mutations == ["create Machine/m1 size=8"]

    asyncio.run(go())
    document = ESTATE_HOLD.get(store) or {}
    assert document["released"]["Machine/m1"] == clock.now().isoformat()
    assert document["held"] == {}
    store.close()
