"""The engine's spans and counters over a fake world: outcome, generation, error status
with the reason or exception type only (never the message), and failed actions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from homeport.clients.bundle import Clients
from homeport.controller.clock import FakeClock
from homeport.controller.config import ControllerSettings
from homeport.controller.context import ControllerContext
from homeport.controller.engine import Engine
from homeport.controller.store import DesiredObject, Store
from homeport.reconcilers.base import Action, ReconcileContext
from homeport.services.telemetry.hooks import Telemetry
from homeport.source.validate import validate_sources
from tests.controller.fakes import (
    AlwaysLeader,
    FakeReconciler,
    FakeWorld,
    PermanentError,
    TemporaryError,
)

SECRET = "hunter2-s3cret"
MACHINE = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: %d, memoryMiB: 16384}}
"""


class ActFails(FakeReconciler):
    """Fails its next action with a message quoting a secret, as remote output might."""

    fail_act = False

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        if self.fail_act:
            self.fail_act = False
            raise OSError(f"remote said: password={SECRET}")
        await super().act(action, ctx)


@dataclass
class Setup:
    engine: Engine
    store: Store
    world: FakeWorld
    reconciler: ActFails
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    generation: int = 0

    def adopt(self, cores: int) -> None:
        result = validate_sources([("estate.yaml", (MACHINE % cores).encode())])
        assert result.ok
        self.generation += 1
        desired = [DesiredObject(o.resource, o.file, o.line) for o in result.objects]
        self.store.objects.apply_revision(f"rev{self.generation}", desired, FakeClock().now())

    async def reconcile(self) -> tuple[ReadableSpan, list[ReadableSpan]]:
        """Reconcile m1; its reconcile span and that span's children."""
        self.spans.clear()
        await self.engine.reconcile(("Machine", "m1"))
        [root] = [s for s in self.spans.get_finished_spans() if s.parent is None]
        assert root.context is not None
        children = [
            s
            for s in self.spans.get_finished_spans()
            if s.parent and s.parent.span_id == root.context.span_id
        ]
        return root, children


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    clock = FakeClock()
    store = Store.open(tmp_path / "state.db")
    world = FakeWorld()
    reconciler = ActFails("Machine", world)
    engine = Engine(
        store=store,
        reconcilers={"Machine": reconciler},
        context=ControllerContext(store=store, clock=clock, clients=Clients()),
        clock=clock,
        settings=ControllerSettings(backoff_jitter=0.0),
        leadership=AlwaysLeader(),
        observers=[telemetry.observe_outcome],
        telemetry=telemetry,
    )
    yield Setup(engine, store, world, reconciler, spans, reader)
    store.close()
    meter_provider.shutdown()
    tracer_provider.shutdown()


def attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def no_secret(spans: tuple[ReadableSpan, ...]) -> None:
    for span in spans:
        texts = [span.name, span.status.description or "", *map(str, attributes(span).values())]
        texts += [str(v) for e in span.events for v in (e.attributes or {}).values()]
        assert not any(SECRET in text for text in texts), span.name


async def test_a_reconcile_with_an_action(setup: Setup) -> None:
    setup.adopt(cores=8)
    root, children = await setup.reconcile()
    assert root.name == "reconcile Machine"
    assert attributes(root) == {
        "homeport.kind": "Machine",
        "homeport.name": "m1",
        "homeport.generation": 1,
        "homeport.result": "progressing",
    }
    assert root.status.status_code is StatusCode.UNSET
    assert [c.name for c in children] == ["observe Machine", "act create"]
    assert attributes(children[1]) == {
        "homeport.kind": "Machine",
        "homeport.name": "m1",
        "homeport.verb": "create",
        "homeport.action": "create Machine/m1 size=8",
    }
    root, children = await setup.reconcile()
    assert attributes(root)["homeport.result"] == "converged"
    assert [c.name for c in children] == ["observe Machine"]


async def test_a_retried_error_names_its_reason_not_its_message(setup: Setup) -> None:
    setup.adopt(cores=8)
    setup.world.fail_next = [TemporaryError(f"api down: {SECRET}", reason="ApiDown")]
    root, [observe] = await setup.reconcile()
    assert attributes(root)["homeport.result"] == "error"
    assert attributes(root)["error.type"] == "ApiDown"
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == "ApiDown"
    assert attributes(observe)["error.type"] == "TemporaryError"
    assert observe.status.status_code is StatusCode.ERROR
    no_secret(setup.spans.get_finished_spans())


async def test_a_stall_is_an_error_span(setup: Setup) -> None:
    setup.adopt(cores=8)
    setup.world.fail_next = [PermanentError(f"bad spec {SECRET}", reason="BadSpec")]
    root, _ = await setup.reconcile()
    assert attributes(root)["homeport.result"] == "stalled"
    assert attributes(root)["error.type"] == "BadSpec"
    no_secret(setup.spans.get_finished_spans())


async def test_a_failed_action_is_an_error_span_and_counted(setup: Setup) -> None:
    setup.adopt(cores=8)
    setup.reconciler.fail_act = True
    root, [_, act] = await setup.reconcile()
    assert attributes(root)["error.type"] == "ReconcileError"  # the engine's catch-all
    assert act.name == "act create"
    assert attributes(act)["error.type"] == "OSError"
    assert act.status.status_code is StatusCode.ERROR
    assert not act.events, "exceptions are not recorded: their messages may quote secrets"
    no_secret(setup.spans.get_finished_spans())
    await setup.reconcile()  # now it works
    data = setup.reader.get_metrics_data()
    assert data is not None
    counted = {
        (p.attributes or {}).get("error.type"): p.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "homeport.actions"
        for p in m.data.data_points
        if isinstance(p, NumberDataPoint)
    }
    assert counted == {"OSError": 1, None: 1}
