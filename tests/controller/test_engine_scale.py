"""The engine's cost per reconcile does not grow with the estate.

Gating one object reads that object's own dependencies; the dependency graph (who
depends on an object turning Ready, what still depends on one being pruned) keeps each
object's edges until its manifest changes, and draws only the changed ones again (no load
of the whole estate). Loading the whole estate on every
reconcile made a cold convergence of 1000 objects quadratic (``bench/converge.py`` found
~0.1 s of CPU per reconcile spent on the graph alone); loading it once per object turning
Ready still did (a quarter of a 300-object cold convergence under the profiler); once
per push, a tenth of a one-object push's latency among 1000 objects.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from homeport.controller import engine as engine_module
from homeport.controller.store import DesiredObject, Key, StoredObject
from homeport.source.validate import validate_sources
from tests.controller.test_engine import MACHINE, Harness

VMS = 30


def vm(name: str, memory: int = 256) -> str:
    return f"""---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}}}
spec: {{machine: m1, memoryMiB: {memory}, cores: 1}}
"""


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_the_estate_is_not_loaded_per_ready_transition_nor_per_push(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[int] = []
    load_all = h.store.objects.all

    def counted() -> list:  # type: ignore[type-arg]
        loads.append(1)
        return load_all()

    h.adopt(MACHINE + "".join(vm(f"vm{i:02d}") for i in range(VMS)))
    monkeypatch.setattr(h.store.objects, "all", counted)
    reconciles = len(await h.drain(limit=500))
    assert all(h.ready("VM", f"vm{i:02d}") for i in range(VMS))
    assert reconciles > 2 * VMS  # each VM was looked at again after its change
    # Every object turned Ready (and woke its dependents) with the graph built when the
    # revision was adopted: no manifest changed since.
    assert loads == []
    loads.clear()
    h.engine.enqueue_all()
    assert len(await h.drain(limit=500)) == VMS + 1
    assert len(loads) <= 1  # a resync of a converged estate: only enqueue_all's own read
    loads.clear()
    drawn: list[str] = []
    draw = engine_module.dependencies_of

    def counted_edges(obj: StoredObject) -> list[Key]:
        drawn.append(obj.name)
        return draw(obj)

    monkeypatch.setattr(engine_module, "dependencies_of", counted_edges)
    h.adopt(MACHINE + "".join(vm(f"vm{i:02d}", memory=512 if i == 0 else 256) for i in range(VMS)))
    await h.drain(limit=500)
    # A push changing one VM: the graph is drawn again for that VM alone, and neither
    # adopting the revision nor the graph loads the estate.
    assert (loads, drawn) == ([], ["vm00"])
    h.store.close()


async def test_the_kept_graph_sees_objects_added_since_it_was_built(h: Harness) -> None:
    """The graph is kept between manifest changes, never across one: a VM stored after the
    graph was built (no reconcile of it in between) still keeps its Machine from being
    pruned first when one revision removes both."""
    h.adopt(MACHINE)
    await h.drain()
    assert h.ready("Machine", "m1")  # the graph now holds the Machine alone
    result = validate_sources([("estate.yaml", (MACHINE + vm("vm00")).encode())])
    desired = [DesiredObject(o.resource, o.file, o.line) for o in result.objects]
    h.store.objects.apply_revision("rev-vm", desired, h.clock.now())  # nothing enqueued
    h.adopt("")  # both removed
    outcome = await h.engine.reconcile(("Machine", "m1"))
    assert (outcome.result, outcome.message) == (
        "waiting",
        "waiting for VM/vm00 to be pruned first",
    )
    assert ("Machine", "m1") in h.world.things
    h.store.close()


async def test_every_row_is_read_only_when_the_objects_may_have_changed(
    h: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each object turning Ready asks for the graph: reading every row's key and hash
    (``fingerprint``) for each made a cold convergence quadratic again. The store's
    ``version`` (its own manifest writes, other connections' commits) says when to."""
    reads: list[int] = []
    fingerprint = h.store.objects.fingerprint

    def counted() -> object:
        reads.append(1)
        return fingerprint()

    monkeypatch.setattr(h.store.objects, "fingerprint", counted)
    h.adopt(MACHINE + "".join(vm(f"vm{i:02d}") for i in range(VMS)))
    await h.drain(limit=500)
    assert all(h.ready("VM", f"vm{i:02d}") for i in range(VMS))
    assert len(reads) <= 2  # once for the revision; not once per VM turning Ready
    reads.clear()
    # A status written by this store is no change; a commit by another connection may be.
    stored = h.store.objects.get(("VM", "vm00"))
    assert stored is not None
    h.store.objects.set_status(stored.key, stored.status, h.clock.now())
    h.engine._graph()
    assert reads == []
    other = sqlite3.connect(tmp_path / "state.db")
    with other:
        other.execute("UPDATE objects SET updated_at = 'by another' WHERE name = 'vm00'")
    other.close()
    h.engine._graph()
    assert reads == [1]
    h.store.objects.forget(("VM", "vm00"))
    assert ("VM", "vm00") not in h.engine._graph().requires
    assert len(reads) == 2
    h.store.close()
