"""One replication run (``PairRuntime.replicate``): only between two healthy ends, under
the pair's epoch and key, abandoned after one probe window; the memory records it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from homeport.clients.bundle import Clients
from homeport.clients.errors import SSHError
from homeport.clients.ssh import CommandResult
from homeport.kinds import App, StandbyPair
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.standbypair.plan import ProbeView
from homeport.reconcilers.standbypair.runtime import PairRuntime, ProbeTracker
from homeport.reconcilers.standbypair.state import CHANNEL, UnreadablePairState

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
PAIR = StandbyPair.model_validate(
    {
        "apiVersion": "homeport.dev/v1alpha1",
        "kind": "StandbyPair",
        "metadata": {"name": "shop"},
        "spec": {
            "primary": "a",
            "standby": "b",
            "probe": {"intervalSeconds": 0.5, "timeoutSeconds": 0.4, "failureThreshold": 3},
            "replication": {"intervalSeconds": 1, "maxLagSeconds": 5},
        },
    }
)


def app(name: str) -> App:
    return App.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "App",
            "metadata": {"name": name},
            "spec": {
                "vm": name,
                "source": {"repo": "https://git.example.com/shop.git"},
                "execStart": "/usr/bin/python3 app.py",
                "port": 8080,
            },
        }
    )


@dataclass
class FakeSSH:
    fail: SSHError | None = None
    runs: list[tuple[str, list[str], float | None]] = field(default_factory=list)

    async def run(
        self, host: str, argv: list[str], *, timeout: float | None = None, check: bool = True
    ) -> CommandResult:
        self.runs.append((host, argv, timeout))
        if self.fail is not None:
            raise self.fail
        return CommandResult(tuple(argv), 0, b"", b"")


@dataclass
class FakeContext:
    ssh: FakeSSH
    memory: dict[str, Any]
    events: list[str] = field(default_factory=list)

    def desired(self, kind: str, name: str) -> Any:
        return app(name) if kind == "App" else None

    def status_details(self, kind: str, name: str) -> dict[str, Any]:
        return {"address": {"a": "10.0.0.1", "b": "10.0.0.2"}[name]} if kind == "VM" else {}

    def is_ready(self, kind: str, name: str) -> bool:
        return True

    def recall(self, kind: str | None = None, name: str | None = None) -> dict[str, Any]:
        return dict(self.memory)

    def remember(self, value: dict[str, Any]) -> None:
        self.memory = dict(value)

    @property
    def clients(self) -> Clients:
        return Clients(ssh=self.ssh)  # FakeSSH has the shape of SSHPool

    def now(self) -> datetime:
        return NOW

    def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.events.append(f"{reason}: {message}")


def runtime(primary_healthy: bool = True) -> PairRuntime:
    pairs = PairRuntime(2222)
    pairs.trackers["a"] = ProbeTracker(ProbeView(healthy=primary_healthy))
    pairs.trackers["b"] = ProbeTracker(ProbeView(healthy=True))
    return pairs


def context(ssh: FakeSSH) -> FakeContext:
    memory = {
        "primary": "a",
        "standby": "b",
        "epoch": 7,
        "replication_keys": ["a", "b"],
        "replication_channel": CHANNEL,
    }
    return FakeContext(ssh, memory)


async def test_a_run_carries_the_epoch_and_the_pairs_key_and_lasts_one_probe_window() -> None:
    ctx = context(FakeSSH())
    await runtime().replicate(PAIR, cast(ReconcileContext, ctx))
    [(host, argv, timeout)] = ctx.ssh.runs
    assert host == "10.0.0.1" and argv[-1] == "root@10.0.0.2:epoch-7/"
    assert "-i /root/.ssh/homeport-replica-shop " in argv[-3]
    assert timeout == 1.5  # 0.5 s x 3: a failover could start after that
    assert ctx.memory["last_sync"] == NOW.isoformat()


async def test_no_run_from_a_primary_that_fails_its_probe() -> None:
    ctx = context(FakeSSH())
    await runtime(primary_healthy=False).replicate(PAIR, cast(ReconcileContext, ctx))
    assert ctx.ssh.runs == [] and "last_sync" not in ctx.memory


async def test_an_abandoned_run_is_a_failure_not_a_sync() -> None:
    ctx = context(FakeSSH(fail=SSHError("10.0.0.1", "command timed out after 1.5s")))
    await runtime().replicate(PAIR, cast(ReconcileContext, ctx))
    assert ctx.memory.get("last_sync") is None
    assert "timed out" in ctx.memory["last_sync_error"]
    assert ctx.events and ctx.events[0].startswith("ReplicationFailed: a → b")


def test_a_pair_held_for_an_unreadable_state_is_said_once_and_when_it_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every probe interval runs into the same unreadable state: one warning (no
    traceback) when it starts, another if it changes, one when the pair resumes."""
    runtime = PairRuntime(22)
    unknown = UnreadablePairState("phase 'Resyncing' is unknown to this homeport")
    with caplog.at_level(logging.WARNING, logger="homeport.reconcilers.standbypair.runtime"):
        for _ in range(5):
            runtime.held("shop", "probes", unknown)
        runtime.held("shop", "replication", unknown)
        runtime.held("shop", "probes", UnreadablePairState("epoch 'x' is not a whole number"))
        runtime.held("shop", "probes", None)
        runtime.held("shop", "probes", None)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert lines[0].startswith("probes of StandbyPair shop held: its stored state cannot")
    assert "run the homeport that wrote it" in lines[0]
    assert lines[1].startswith("replication of StandbyPair shop held")
    assert "epoch 'x'" in lines[2]
    assert lines[3] == "probes of StandbyPair shop resumed"
    assert all(r.exc_info is None for r in caplog.records)
