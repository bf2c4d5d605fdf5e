"""The benchmark's cold-convergence poll counts Ready objects in SQLite; it must count
exactly what its Python reading of every status (``StoreView.rows``) finds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.converge import StoreView
from homeport.controller.clock import FakeClock
from homeport.controller.conditions import set_condition
from homeport.controller.store import DesiredObject, Store
from homeport.kinds import ObjectStatus
from homeport.source.validate import validate_sources
from tests.controller.test_engine import MACHINE
from tests.controller.test_engine_scale import vm


def test_counts_in_sqlite_agree_with_reading_every_status(tmp_path: Path) -> None:
    store, clock = Store.open(tmp_path / "state.db"), FakeClock()
    text = MACHINE + "".join(vm(f"vm{i}") for i in range(5))
    result = validate_sources([("estate.yaml", text.encode())])
    desired = [DesiredObject(o.resource, o.file, o.line) for o in result.objects]
    store.objects.apply_revision("r1", desired, clock.now())

    def status(ready: str, generation: int) -> ObjectStatus:
        conditions = set_condition([], "Ready", ready, "Because", "said so", clock.now())
        conditions = set_condition(conditions, "Reconciling", "False", "Done", "", clock.now())
        return ObjectStatus(observed_generation=generation, conditions=conditions)

    store.objects.set_status(("Machine", "m1"), status("True", 1), clock.now())
    store.objects.set_status(("VM", "vm0"), status("True", 1), clock.now())
    store.objects.set_status(("VM", "vm1"), status("False", 1), clock.now())
    store.objects.set_status(("VM", "vm2"), status("True", 0), clock.now())  # an old generation
    store.objects.set_status(("VM", "vm3"), status("True", 1), clock.now())
    # vm4 keeps its empty status; vm3 is then removed (deleting: not counted)
    store.objects.apply_revision("r2", desired[:-2] + desired[-1:], clock.now())
    view = StoreView(tmp_path / "state.db")
    try:
        rows = view.rows()
        expected: dict[str, tuple[int, int]] = {}
        totals, ready = Counter(k for k, _, _ in rows), Counter(k for k, _, r in rows if r)
        expected = {kind: (totals[kind], ready[kind]) for kind in totals}
        assert view.counts() == expected == {"Machine": (1, 1), "VM": (4, 1)}
    finally:
        view.close()
        store.close()
