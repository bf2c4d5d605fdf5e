"""Telemetry of a real convergence of the simulated estate, a drift correction and an
automatic failover: spans per reconcile → action → external call, the metrics with
plausible values, and not one secret in any span or metric."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from homeport.controller.config import Settings
from homeport.controller.control import send_request
from homeport.controller.store import Store
from homeport.reconcilers.appfiles import AppPaths
from homeport.services.telemetry.exporters import service_resource
from homeport.services.telemetry.hooks import Telemetry
from homeport.services.telemetry.sampling import homeport_sampler
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration

KINDS = {"Machine", "VM", "App", "ProxyRoute", "StandbyPair"}
PLANTED = "planted-s3cret-7c1e9a"
Point = NumberDataPoint | HistogramDataPoint


@dataclass
class Recorded:
    spans: tuple[ReadableSpan, ...]
    metrics: dict[str, list[Point]]
    secrets: list[str]

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        parent_id = parent.context.span_id if parent.context else None
        return [s for s in self.spans if s.parent and s.parent.span_id == parent_id]

    def parent(self, child: ReadableSpan) -> ReadableSpan:
        assert child.parent is not None, child.name
        return next(
            s for s in self.spans if s.context and s.context.span_id == child.parent.span_id
        )

    def points(self, name: str, **attributes: Any) -> list[Point]:
        return [
            p
            for p in self.metrics.get(name, [])
            if attributes.items() <= dict(p.attributes or {}).items()
        ]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """One run of the estate, recorded in memory, for every test here (the slow part)."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=service_resource(), sampler=homeport_sampler())
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=service_resource(), metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        tmp_path = tmp_path_factory.mktemp("estate")
        secrets, metrics = asyncio.run(run_estate(tmp_path, telemetry, reader))
    finally:
        meter_provider.shutdown()
        tracer_provider.shutdown()
    return Recorded(spans.get_finished_spans(), metrics, secrets)


async def run_estate(
    tmp_path: Path, telemetry: Telemetry, reader: InMemoryMetricReader
) -> tuple[list[str], dict[str, list[Point]]]:
    """Converge, correct a drift, back up, fail over; the secrets and the metrics (collected
    while the daemon still runs: the gauges read its queue and store)."""
    async with EstateHarness.running(tmp_path, time_scale=50, start_daemon=False) as h:
        secrets = plant_secret(h.settings)
        await h.start_daemon(telemetry=telemetry)
        await h.converged(KINDS, timeout=60)
        assert PLANTED in await env_file(h, "shop-a")  # the secret went through homeport
        await correct_drift(h, reader)
        await back_up(h, reader)
        await fail_over(h)
        metrics = collect(reader)
    return secrets, metrics


async def env_file(h: EstateHarness, app: str) -> str:
    obj = h.object("App", app)
    assert obj is not None
    ssh = h.clients.ssh
    result = await ssh.run(
        str(obj.status.details["address"]), ["cat", AppPaths.for_name(app).env_path]
    )
    return str(result.stdout.decode())


def plant_secret(settings: Settings) -> list[str]:
    """Put a recognisable secret where the shop App reads it; return every secret value."""
    directory = settings.secrets.directory
    (directory / "shop" / "database_url").write_text(f"postgres://shop:{PLANTED}@db/shop\n")
    values = [PLANTED]
    for path in [*directory.rglob("*"), settings.proxmox.token_file, settings.tailscale.token_file]:
        if path.is_file():
            for line in path.read_text().splitlines():
                values.append(line.split("=", 1)[-1].strip())
    return [v for v in values if len(v) >= 12]


async def correct_drift(h: EstateHarness, reader: InMemoryMetricReader) -> None:
    """Make community-b's env file world-readable behind homeport's back; ask for a
    reconcile as ``homeport reconcile`` does; the App reconciler puts 0600 back."""
    app = h.object("App", "community-b")
    assert app is not None
    host = str(app.status.details["address"])
    env_path = AppPaths.for_name("community-b").env_path
    ssh = h.clients.ssh
    await ssh.run(host, ["chmod", "0644", env_path])
    assert send_request(
        h.settings.store.path, {"op": "reconcile", "kind": "App", "name": "community-b"}
    )

    async def mode() -> str:
        result = await ssh.run(host, ["stat", "-c", "%a", env_path])
        return str(result.stdout.decode().strip())

    await until(
        lambda: bool(collect(reader).get("homeport.drift.corrections")), what="a drift correction"
    )
    assert await mode() == "600"


async def back_up(h: EstateHarness, reader: InMemoryMetricReader) -> None:
    """Back dev-1 up now (as its weekly policy would) and have the policy look again: the
    backup-age gauge reads the newest archive from the details the policy publishes."""
    vm = h.object("VM", "dev-1")
    assert vm is not None
    px = h.clients.proxmox
    details = vm.status.details
    task = await px.backups.vzdump(details["node"], vmids=[details["vmid"]], storage="local")
    assert task is not None
    await px.tasks.wait(task, timeout=30)
    request = {"op": "reconcile", "kind": "BackupPolicy", "name": "weekly-dev"}
    assert send_request(h.settings.store.path, request)
    await until(lambda: bool(collect(reader).get("homeport.backup.age")), what="a backup age")


async def fail_over(h: EstateHarness) -> None:
    """Crash shop's primary VM (a kernel panic: Proxmox still says running); wait for the
    automatic failover to complete."""
    vm = h.object("VM", "shop-a")
    assert vm is not None and h.estate.guests is not None
    await h.estate.guests.crash_vm(int(vm.status.details["vmid"]))

    def completed() -> bool:
        store = Store.open(h.settings.store.path, readonly=True)
        try:
            records = store.failovers.for_pair("shop")
        finally:
            store.close()
        return bool(records) and records[-1]["outcome"] == "completed"

    await until(completed, timeout=30, what="the failover of shop")


def collect(reader: InMemoryMetricReader) -> dict[str, list[Point]]:
    data = reader.get_metrics_data()
    points: dict[str, list[Point]] = {}
    for resource_metrics in data.resource_metrics if data else []:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)  # type: ignore[arg-type]
    return points


# -- spans ---------------------------------------------------------------------------------


def test_every_reconcile_is_a_span_naming_the_object(recorded: Recorded) -> None:
    reconciles = [s for s in recorded.spans if s.name.startswith("reconcile ")]
    assert {s.name for s in reconciles} >= {f"reconcile {kind}" for kind in KINDS}
    for span in reconciles:
        attributes = dict(span.attributes or {})
        assert span.kind is SpanKind.INTERNAL
        assert span.parent is None, "a reconcile starts its own trace"
        assert span.name == f"reconcile {attributes['homeport.kind']}"
        assert attributes["homeport.name"]
        assert attributes["homeport.result"] in {
            "converged", "progressing", "waiting", "error", "stalled", "suspended", "pruned", "gone",
        }  # fmt: skip
        if attributes["homeport.result"] != "gone":
            assert isinstance(attributes["homeport.generation"], int)
            assert attributes["homeport.generation"] >= 1
        failed = attributes["homeport.result"] in {"error", "stalled"}
        assert (span.status.status_code is StatusCode.ERROR) == failed
        if failed:
            assert attributes["error.type"]
    converged = {
        dict(s.attributes or {})["homeport.name"]
        for s in reconciles
        if dict(s.attributes or {})["homeport.result"] == "converged"
    }
    assert {"shop-a", "shop-b", "caddy-router", "shop", "community"} <= converged


@pytest.mark.parametrize(
    ("kind", "verb", "described", "client"),
    [
        ("VM", "clone", "clone", "proxmox POST"),
        ("VM", "join-tailnet", "tailnet", "tailscale"),
        ("App", "install-env", "values not shown", "ssh"),
        ("ProxyRoute", "route", ".example.com → ", "caddy"),
        ("StandbyPair", "fence", "", "proxmox"),
    ],
)
def test_actions_are_children_and_external_calls_grandchildren(
    recorded: Recorded, kind: str, verb: str, described: str, client: str
) -> None:
    # Agents share the App's unit and env actions (same verbs): look at this kind's.
    acts = [
        a
        for a in recorded.named(f"act {verb}")
        if (a.attributes or {}).get("homeport.kind") == kind
    ]
    assert acts, f"no act {verb} span of a {kind}"
    for act in acts:
        attributes = dict(act.attributes or {})
        reconcile = recorded.parent(act)
        assert reconcile.name == f"reconcile {kind}"
        assert act.context is not None and reconcile.context is not None
        assert act.context.trace_id == reconcile.context.trace_id
        assert attributes["homeport.kind"] == kind
        assert attributes["homeport.name"] == dict(reconcile.attributes or {})["homeport.name"]
        assert attributes["homeport.verb"] == verb
        assert described in str(attributes["homeport.action"])
    calls = [c for act in acts for c in recorded.children(act)]
    assert calls and all(c.kind is SpanKind.CLIENT for c in calls)
    assert any(c.name.startswith(client) for c in calls), {c.name for c in calls}


def test_probes_are_traced_inside_reconciles_only(recorded: Recorded) -> None:
    probes = [s for s in recorded.spans if s.name.startswith("probe ")]
    assert probes, "a promotion waits for the standby's health"
    assert all(s.parent is not None for s in probes)
    parents = {recorded.parent(s).name for s in probes}
    assert "act promote" in parents
    assert all(name.startswith(("act ", "observe ")) for name in parents), parents


def test_observation_calls_hang_under_an_observe_span(recorded: Recorded) -> None:
    observes = recorded.named("observe VM")
    assert observes
    assert all(recorded.parent(s).name == "reconcile VM" for s in observes)
    calls = {c.name for s in observes for c in recorded.children(s)}
    assert any(name.startswith("proxmox GET") for name in calls), calls


def test_a_drift_correction_is_marked_on_its_action(recorded: Recorded) -> None:
    drifted = [s for s in recorded.spans if dict(s.attributes or {}).get("homeport.drift")]
    assert {s.name for s in drifted} >= {"act install-env"}
    env = next(s for s in drifted if s.name == "act install-env")
    assert dict(env.attributes or {})["homeport.name"] == "community-b"
    assert "drift: env file mode is not 0600" in str(dict(env.attributes or {})["homeport.action"])


# -- metrics -------------------------------------------------------------------------------


def test_reconcile_durations_by_kind_and_result(recorded: Recorded) -> None:
    for kind in KINDS:
        points = recorded.points("homeport.reconcile.duration", **{"homeport.kind": kind})
        results = {dict(p.attributes or {})["homeport.result"] for p in points}
        assert "converged" in results, (kind, results)
        for point in points:
            assert isinstance(point, HistogramDataPoint)
            assert point.count >= 1
            assert 0 < point.sum < 60 * point.count  # seconds, not milliseconds
            assert point.explicit_bounds[:3] == (0.005, 0.01, 0.025)
            assert sum(point.bucket_counts) == point.count


def test_actions_by_kind_and_verb(recorded: Recorded) -> None:
    def count(kind: str, verb: str) -> float:
        points = recorded.points(
            "homeport.actions", **{"homeport.kind": kind, "homeport.verb": verb}
        )
        return sum(p.value for p in points if isinstance(p, NumberDataPoint))

    assert count("VM", "clone") == 6  # the estate's six VMs, cloned once each
    assert count("App", "install-unit") >= 4
    assert count("ProxyRoute", "route") >= 2
    assert count("StandbyPair", "fence") == 1
    assert count("StandbyPair", "promote") == 1


def test_drift_corrections(recorded: Recorded) -> None:
    points = recorded.points("homeport.drift.corrections", **{"homeport.kind": "App"})
    by_verb = {dict(p.attributes or {})["homeport.verb"]: p.value for p in points}
    assert by_verb.get("install-env") == 1
    assert "clone" not in by_verb


def test_failovers_and_their_phases(recorded: Recorded) -> None:
    [failover] = recorded.points("homeport.failovers")
    assert dict(failover.attributes or {}) == {
        "homeport.pair": "shop",
        "homeport.trigger": "automatic",
    }
    assert isinstance(failover, NumberDataPoint) and failover.value == 1
    phases = {
        dict(p.attributes or {})["homeport.phase"]: p
        for p in recorded.points("homeport.failover.phase.duration", **{"homeport.pair": "shop"})
    }
    assert {"Detected", "Fencing", "IngressCut", "Fenced", "Promoted", "Rerouted"} <= set(phases)
    assert "FailureStarted" not in phases  # the first step has nothing before it
    for point in phases.values():
        assert isinstance(point, HistogramDataPoint)
        assert point.count == 1
        assert 0 <= point.sum < 30


def test_queue_depth(recorded: Recorded) -> None:
    [depth] = recorded.points("homeport.queue.depth")
    assert isinstance(depth, NumberDataPoint)
    assert 0 <= depth.value <= 30  # the estate's objects at most


def test_backup_age_per_vm(recorded: Recorded) -> None:
    # Only dev-1 is backed up by the test itself; the example estate's scheduled jobs
    # (daily-production at 02:00, weekly-dev on Saturdays at 03:00) also run whenever the
    # simulated clock, which starts at the wall clock's time and runs 50 times as fast,
    # passes their hour during the test: their VMs then have an age too, as they should.
    ages = recorded.points("homeport.backup.age")
    assert all({"homeport.vm", "homeport.policy"} == set(dict(p.attributes or {})) for p in ages), (
        ages
    )
    [age] = [p for p in ages if dict(p.attributes or {})["homeport.vm"] == "dev-1"]
    assert dict(age.attributes or {}) == {"homeport.vm": "dev-1", "homeport.policy": "weekly-dev"}
    assert isinstance(age, NumberDataPoint)
    assert 0 <= age.value < 24 * 3600  # just backed up (the simulator's clock runs ahead)


def test_probe_latency_by_pair_and_role(recorded: Recorded) -> None:
    for pair in ("shop", "community"):
        for role in ("primary", "standby"):
            points = recorded.points(
                "homeport.probe.duration", **{"homeport.pair": pair, "homeport.role": role}
            )
            ok = [p for p in points if "error.type" not in dict(p.attributes or {})]
            assert ok, (pair, role)
            assert all(isinstance(p, HistogramDataPoint) for p in ok)
            assert sum(p.count for p in ok if isinstance(p, HistogramDataPoint)) >= 1
            assert all(0 < p.sum / p.count < 1 for p in ok if isinstance(p, HistogramDataPoint))
    failed = [
        p
        for p in recorded.points("homeport.probe.duration", **{"homeport.pair": "shop"})
        if "error.type" in dict(p.attributes or {})
    ]
    assert failed, "the crashed primary's failed probes"


# -- secrets -------------------------------------------------------------------------------


def test_no_secret_in_any_span_or_metric(recorded: Recorded) -> None:
    assert PLANTED in recorded.secrets and len(recorded.secrets) >= 5
    texts: list[str] = []
    for span in recorded.spans:
        texts += [span.name, span.status.description or ""]
        texts += [str(v) for v in (span.attributes or {}).values()]
        texts += [str(v) for v in span.resource.attributes.values()]
        for event in span.events:
            texts += [event.name, *(str(v) for v in (event.attributes or {}).values())]
    for points in recorded.metrics.values():
        for point in points:
            texts += [str(v) for v in (point.attributes or {}).values()]
    assert len(texts) > 1000
    leaks = {secret for secret in recorded.secrets for text in texts if secret in text}
    assert not leaks
