"""The engine's cost per reconcile does not grow with the estate.

Gating one object reads that object's own dependencies; the whole estate is loaded only
when an object turns Ready (to wake its dependents) or a prune asks what still depends on
it. Loading it on every reconcile made a cold convergence of 1000 objects quadratic
(``bench/converge.py`` found ~0.1 s of CPU per reconcile spent on the graph alone).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controller.test_engine import MACHINE, Harness

VMS = 30


def vm(name: str) -> str:
    return f"""---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}}}
spec: {{machine: m1, memoryMiB: 256, cores: 1}}
"""


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_whole_estate_loads_once_per_ready_transition_not_per_reconcile(
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
    assert len(loads) <= 1 + VMS  # one per object turning Ready, none per reconcile
    loads.clear()
    h.engine.enqueue_all()
    assert len(await h.drain(limit=500)) == VMS + 1
    assert len(loads) <= 1  # a resync of a converged estate: only enqueue_all's own read
    h.store.close()
