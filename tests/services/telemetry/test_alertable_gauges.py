"""The gauges operators alert on, scraped over HTTP: objects by kind and state, the
leader, the adopted revision, the source's sync age, replication lag — and the example
alert rules in docs/alerts.yaml name only metrics that exist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from homeport.controller.clock import FakeClock
from homeport.controller.config import TelemetrySettings
from homeport.controller.liveness import DaemonHealth
from homeport.controller.queue import WorkQueue
from homeport.controller.store import Key
from homeport.services.telemetry.hooks import Telemetry
from tests.controller.fakes import AlwaysLeader
from tests.services.telemetry.test_prometheus import feed, free_port, scrape, value
from tests.services.web.estate_store import (
    NOW,
    SHA,
    back_up,
    degrade_pair,
    estate_store,
    stall,
)

ALERTS = Path(__file__).parents[3] / "docs" / "alerts.yaml"


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    settings = TelemetrySettings(metrics="prometheus", prometheus_listen=f"127.0.0.1:{free_port()}")
    telemetry = Telemetry.from_settings(settings)
    yield telemetry
    telemetry.shutdown()


def watch_estate(
    telemetry: Telemetry, tmp_path: Path
) -> tuple[FakeClock, AlwaysLeader, DaemonHealth]:
    store = estate_store(tmp_path / "estate.db")
    degrade_pair(store)
    stall(store, "App", "community-a", "health check failed")
    back_up(store, newest=NOW - timedelta(hours=2))
    store.close()
    clock = FakeClock(NOW)
    leadership = AlwaysLeader()
    health = DaemonHealth(clock=clock, leadership=leadership, sync_stale_after=30, started_at=NOW)
    queue: WorkQueue[Key] = WorkQueue(clock)
    telemetry.watch(queue=queue, store_path=tmp_path / "estate.db", clock=clock, health=health)
    return clock, leadership, health


def test_objects_by_kind_and_state_leader_revision_sync_and_lag(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    assert telemetry.scrape_url is not None
    clock, leadership, health = watch_estate(telemetry, tmp_path)
    health.synced()
    clock.advance(5)
    samples = scrape(telemetry.scrape_url)

    objects = "homeport_objects"
    assert value(samples, objects, homeport_kind="App", homeport_state="Stalled") == 1
    assert (
        value(samples, objects, homeport_kind="App", homeport_state="Ready") == 6
    )  # 7 Apps (4 core, the GPU node's model server, the sessions pair), 1 Stalled
    assert value(samples, objects, homeport_kind="StandbyPair", homeport_state="Degraded") == 1
    assert (
        value(samples, objects, homeport_kind="VM", homeport_state="Ready") == 10
    )  # 6 + examples/ (nas, gpu-node, sessions-a, sessions-b)
    assert value(samples, "homeport_leader", homeport_plane="test") == 1
    assert value(samples, "homeport_revision_info", homeport_revision=SHA) == 1
    assert value(samples, "homeport_sync_age_seconds") == 5
    assert value(samples, "homeport_pair_replication_lag_seconds", homeport_pair="shop") == 3.5

    leadership.leading = False
    clock.advance(2)  # past the one-read-per-scrape cache
    samples = scrape(telemetry.scrape_url)
    assert value(samples, "homeport_leader", homeport_plane="test") == 0
    assert not [s for s in samples if s.name == "homeport_sync_age_seconds"]  # it reads no more


def test_no_sync_yet_means_no_sync_age(telemetry: Telemetry, tmp_path: Path) -> None:
    assert telemetry.scrape_url is not None
    watch_estate(telemetry, tmp_path)
    samples = scrape(telemetry.scrape_url)
    assert not [s for s in samples if s.name == "homeport_sync_age_seconds"]


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression reads: its names, less label matchers and groupings."""
    without_labels = re.sub(r"\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)", "", expr)
    return set(re.findall(r"\bhomeport_[a-z_]+", without_labels))


def test_metric_names_skip_labels() -> None:
    expr = 'sum by (homeport_kind) (homeport_objects{homeport_state!~"Ready"}) > 0'
    assert metric_names(expr) == {"homeport_objects"}


def test_every_metric_the_example_alerts_name_is_exported(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    assert telemetry.scrape_url is not None
    feed(telemetry, tmp_path)  # the counters and histograms
    _, _, health = watch_estate(telemetry, tmp_path)
    health.synced()
    exported = {s.name for s in scrape(telemetry.scrape_url)}

    rules = [r for group in yaml.safe_load(ALERTS.read_text())["groups"] for r in group["rules"]]
    assert len(rules) >= 6
    for rule in rules:
        assert rule["alert"].startswith("Homeport") and rule["expr"], rule
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule
        assert rule["annotations"]["summary"], rule
        metrics = metric_names(rule["expr"])
        assert metrics, rule
        assert metrics <= exported, (rule["alert"], metrics - exported)
