"""``/metrics`` over HTTP on loopback: every instrument under its Prometheus name, in seconds,
from a registry of its own; the endpoint is gone after ``shutdown``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from homeport.clients.probes import ProbeResult
from homeport.controller.clock import FakeClock
from homeport.controller.config import ConfigError, TelemetrySettings
from homeport.controller.engine import Outcome
from homeport.controller.queue import WorkQueue
from homeport.controller.store import Key
from homeport.reconcilers.base import Action
from homeport.services.telemetry.hooks import Telemetry
from tests.services.telemetry.backup_store import NOW, store_with_policies


@dataclass(frozen=True)
class Restart(Action):
    unit: str
    why: str
    verb = "restart"

    @property
    def corrects_drift(self) -> bool:
        return self.why.startswith("drift:")

    def describe(self) -> str:
        return f"restart {self.unit} ({self.why})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    settings = TelemetrySettings(metrics="prometheus", prometheus_listen=f"127.0.0.1:{free_port()}")
    telemetry = Telemetry.from_settings(settings)
    yield telemetry
    telemetry.shutdown()


def scrape(url: str) -> list[Sample]:
    response = httpx.get(url, trust_env=False, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [s for f in text_string_to_metric_families(response.text) for s in f.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, [s for s in samples if s.name == name])
    return found[0].value


def feed(telemetry: Telemetry, tmp_path: Path) -> None:
    queue: WorkQueue[Key] = WorkQueue(FakeClock())
    queue.add(("VM", "web"))
    queue.add_after(("App", "shop"), 30)
    store = store_with_policies(
        tmp_path / "state.db",
        {"daily": {"vms": {"web": {"newestBackupAt": (NOW - timedelta(hours=2)).isoformat()}}}},
    )
    telemetry.watch(queue=queue, store_path=store, clock=FakeClock(NOW))
    telemetry.observe_outcome(Outcome(("VM", "web"), "converged"), 0.2)
    telemetry.observe_outcome(Outcome(("VM", "web"), "error", reason="ProxmoxUnavailable"), 3.0)
    with telemetry.act(("App", "shop"), Restart("shop.service", "drift: found inactive")):
        pass
    with (
        pytest.raises(OSError, match="boom"),
        telemetry.act(("App", "shop"), Restart("shop.service", "release abc")),
    ):
        raise OSError("boom")
    timeline = [
        {"phase": "FailureStarted", "at": "2026-03-01T12:00:00+00:00"},
        {"phase": "Detected", "at": "2026-03-01T12:00:03+00:00"},
        {"phase": "Fencing", "at": "2026-03-01T12:00:03.050000+00:00"},
    ]
    telemetry.observe_failover("shop", 2, {"trigger": "automatic", "timeline": timeline})
    fenced = [*timeline, {"phase": "Fenced", "at": "2026-03-01T12:00:04.050000+00:00"}]
    telemetry.observe_failover("shop", 2, {"phase": "Promoting", "timeline": fenced})
    telemetry.observe_probe("shop", "primary", ProbeResult(True, 0.004, 200))
    telemetry.observe_probe("shop", "standby", ProbeResult(False, 0.5, None, "timeout"))


def test_metrics_are_served_over_http_on_loopback(telemetry: Telemetry, tmp_path: Path) -> None:
    assert telemetry.scrape_url is not None
    assert telemetry.scrape_url.startswith("http://127.0.0.1:")
    feed(telemetry, tmp_path)
    samples = scrape(telemetry.scrape_url)

    assert value(samples, "target_info", service_name="homeport", service_version="0.1.0") == 1
    vm = {"homeport_kind": "VM"}
    bucket = "homeport_reconcile_duration_seconds_bucket"
    assert value(samples, bucket, **vm, homeport_result="converged", le="0.1") == 0
    assert value(samples, bucket, **vm, homeport_result="converged", le="0.25") == 1
    assert value(samples, bucket, **vm, homeport_result="error", le="2.5") == 0
    assert value(samples, bucket, **vm, homeport_result="error", le="5.0") == 1
    assert (
        value(samples, "homeport_reconcile_duration_seconds_sum", **vm, homeport_result="error")
        == 3.0
    )

    assert value(samples, "homeport_queue_depth") == 2  # one ready, one delayed

    app = {"homeport_kind": "App", "homeport_verb": "restart"}
    restarts = {
        s.labels.get("error_type"): s.value
        for s in samples
        if s.name == "homeport_actions_total" and app.items() <= s.labels.items()
    }
    assert restarts == {"": 1, "OSError": 1}  # an empty label is an absent one
    assert value(samples, "homeport_drift_corrections_total", **app) == 1

    pair = {"homeport_pair": "shop"}
    assert value(samples, "homeport_failovers_total", **pair, homeport_trigger="automatic") == 1
    phase_sum = "homeport_failover_phase_duration_seconds_sum"
    assert value(samples, phase_sum, **pair, homeport_phase="Detected") == 3.0
    assert value(samples, phase_sum, **pair, homeport_phase="Fencing") == pytest.approx(0.05)
    assert value(samples, phase_sum, **pair, homeport_phase="Fenced") == 1.0
    assert not [s for s in samples if s.labels.get("homeport_phase") == "FailureStarted"]

    probe = "homeport_probe_duration_seconds_bucket"
    assert value(samples, probe, **pair, homeport_role="primary", le="0.005") == 1
    assert (
        value(samples, probe, **pair, homeport_role="standby", error_type="timeout", le="0.25") == 0
    )
    assert (
        value(samples, probe, **pair, homeport_role="standby", error_type="timeout", le="0.5") == 1
    )

    age = value(samples, "homeport_backup_age_seconds", homeport_vm="web", homeport_policy="daily")
    assert age == 7200.0
    assert value(samples, "process_open_fds") > 0  # the process collectors of its own registry


def test_the_endpoint_is_gone_after_shutdown() -> None:
    port = free_port()
    telemetry = Telemetry.from_settings(
        TelemetrySettings(metrics="prometheus", prometheus_listen=f"localhost:{port}")
    )
    assert telemetry.scrape_url == f"http://127.0.0.1:{port}/metrics"
    assert scrape(telemetry.scrape_url)
    telemetry.shutdown()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False, timeout=2)


def test_a_taken_port_is_a_config_error(telemetry: Telemetry) -> None:
    assert telemetry.scrape_url is not None
    taken = telemetry.scrape_url.removeprefix("http://").removesuffix("/metrics")
    with pytest.raises(ConfigError, match="cannot listen"):
        Telemetry.from_settings(TelemetrySettings(metrics="prometheus", prometheus_listen=taken))


def test_no_metrics_means_no_endpoint_and_no_tracer() -> None:
    telemetry = Telemetry.from_settings(TelemetrySettings())
    assert telemetry.scrape_url is None
    assert telemetry.client_tracer is None
    telemetry.observe_outcome(Outcome(("VM", "web"), "converged"), 0.1)  # a no-op
    telemetry.shutdown()
