"""Seeded random-fault soak of the StandbyPair state machine (the real, pure ``plan_pair``).

A small model of the world (VMs, nodes, partitions, a Proxmox API that may fail, the
Caddy route, the Apps' env epochs, the VM/App reconcilers bringing a fenced VM back)
executes each plan's actions like the daemon does — stopping at the first error, or at
a random daemon crash — and the invariants are checked after every step:

- one primary per epoch, and Caddy routes to at most one App: the current primary;
- no promotion before fencing (VM stopped, node confirmed down, or quarantined with the
  ingress cut) within the same epoch;
- epochs only increase (memory and route);
- the App Caddy routes to carries the route's epoch (the fencing token).

A failing seed is printed; ``SOAK_SEED=<n> pytest -k soak`` replays it.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from homeport.kinds import StandbyPair
from homeport.reconcilers.standbypair.actions import (
    ClearRequest,
    CutIngress,
    EnterPhase,
    Establish,
    FencePrimary,
    FinalSync,
    FinishFailover,
    FinishRebuild,
    Promote,
    Reroute,
    Resync,
    SetUpReplication,
    StartFailover,
    StopStaleApp,
)
from homeport.reconcilers.standbypair.plan import (
    Member,
    PairObserved,
    PairRoute,
    ProbeView,
    plan_pair,
)
from homeport.reconcilers.standbypair.replkeys import FenceReplication
from homeport.reconcilers.standbypair.state import CHANNEL, Failover, PairState, Phase, Quarantine
from homeport.reconcilers.standbypair.transitions import allowed, entered

PAIR = StandbyPair.model_validate(
    {
        "apiVersion": "homeport.dev/v1alpha1",
        "kind": "StandbyPair",
        "metadata": {"name": "shop"},
        "spec": {
            "primary": "a",
            "standby": "b",
            "probe": {"intervalSeconds": 1, "timeoutSeconds": 0.5, "failureThreshold": 3},
            "replication": {"intervalSeconds": 5, "maxLagSeconds": 30},
            "failover": {"maxPerHour": 4},
        },
    }
)
NODES = {"a": "pve1", "b": "pve2"}
STEPS = 80
SEEDS = [int(os.environ["SOAK_SEED"])] if "SOAK_SEED" in os.environ else list(range(200))


class Abort(Exception):
    """An action failed (the engine stops the plan there and retries later)."""


@dataclass
class AppState:
    vm_running: bool = True
    healthy: bool = True  # the process answers its health check
    epoch: int = 1
    role: str = "primary"
    failures: int = 0
    failed_since: datetime | None = None
    down_steps: int = 0
    channel_epoch: int = 1  # the replication wrapper's epoch file on this App's VM


@dataclass
class World:
    rng: random.Random
    now: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    memory: PairState = field(default_factory=lambda: PairState(primary="a", standby="b"))
    apps: dict[str, AppState] = field(
        default_factory=lambda: {"a": AppState(), "b": AppState(role="standby")}
    )
    node_up: dict[str, bool] = field(default_factory=lambda: {"pve1": True, "pve2": True})
    partitioned: dict[str, bool] = field(default_factory=lambda: {"pve1": False, "pve2": False})
    api_down: bool = False
    replication_stalled: bool = False
    route_to: str | None = "a"
    route_epoch: int = 1
    fenced: dict[int, str] = field(default_factory=dict)
    promoted: dict[int, str] = field(default_factory=dict)
    request: dict[str, object] | None = None
    history: list[str] = field(default_factory=list)

    # -- what the probes see --------------------------------------------------------
    def answers(self, app: str) -> bool:
        node = NODES[app]
        state = self.apps[app]
        return (
            self.node_up[node] and not self.partitioned[node] and state.vm_running and state.healthy
        )

    def probe(self) -> None:
        for name, state in self.apps.items():
            if self.answers(name):
                state.failures, state.failed_since = 0, None
            else:
                state.failures += 1
                state.failed_since = state.failed_since or self.now

    def view(self, app: str) -> ProbeView:
        state = self.apps[app]
        if state.failures == 0:
            return ProbeView(healthy=True)
        return ProbeView(
            healthy=False,
            failures=state.failures,
            failed_since=state.failed_since,
            detected_at=self.now if state.failures >= 3 else None,
            last_error="timeout",
        )

    def member(self, app: str) -> Member:
        state = self.apps[app]
        node = NODES[app]
        ready = self.answers(app) and state.epoch == self.memory.epoch
        return Member(
            app=app,
            host=f"10.0.0.{ord(app) - 96}",
            port=8080,
            unit=f"{app}.service",
            env_path=f"/etc/{app}.env",
            data_dir=f"/srv/{app}",
            vmid=100 + ord(app),
            node=node,
            node_online=self.node_up[node],
            app_ready=ready,
            app_epoch=state.epoch,
        )

    def observed(self) -> PairObserved:
        return PairObserved(
            name="shop",
            memory=self.memory,
            primary=self.member(self.memory.primary),
            standby=self.member(self.memory.standby),
            primary_probe=self.view(self.memory.primary),
            standby_probe=self.view(self.memory.standby),
            routes=(PairRoute("shop", "shop.example.com"),),
            request=self.request,
            ssh_port=22,
        )

    # -- faults and the rest of the controller ----------------------------------------
    def chaos(self) -> None:
        roll = self.rng.random()
        app = self.rng.choice(["a", "b"])
        node = NODES[app]
        if roll < 0.06:
            self.apps[app].healthy = False  # app hang / 500
            self.history.append(f"app {app} fails")
        elif roll < 0.09:
            self.apps[app].vm_running = False  # VM crash
            self.history.append(f"VM {app} crashes")
        elif roll < 0.11:
            self.node_up[node] = False
            self.apps[app].vm_running = False
            self.history.append(f"node {node} crashes")
        elif roll < 0.13:
            self.partitioned[node] = True
            self.history.append(f"node {node} partitioned")
        elif roll < 0.16:
            self.api_down = not self.api_down
            self.history.append(f"API {'down' if self.api_down else 'up'}")
        elif roll < 0.18:
            self.replication_stalled = not self.replication_stalled
        elif roll < 0.19 and self.request is None:
            self.request = {
                "op": self.rng.choice(["failover", "failback"]),
                "accept_data_loss": self.rng.random() < 0.5,
            }
            self.history.append(f"request {self.request}")
        elif roll < 0.35:
            self.heal()

    def heal(self) -> None:
        for name in self.apps:
            node = NODES[name]
            self.node_up[node] = True
            self.partitioned[node] = False
            self.apps[name].healthy = True

    def other_reconcilers(self) -> None:
        """The VM reconciler restarts stopped VMs; the App reconciler re-renders the env."""
        for name, state in self.apps.items():
            node = NODES[name]
            if not self.node_up[node] or self.partitioned[node]:
                continue
            if not state.vm_running and self.rng.random() < 0.5:
                state.vm_running = True
            if state.vm_running and not self.memory.phase.in_flight:
                state.epoch = self.memory.epoch
                state.role = "primary" if name == self.memory.primary else "standby"

    def replicate(self) -> None:
        memory = self.memory
        if (
            memory.phase == Phase.HEALTHY
            and not self.replication_stalled
            and memory.replication_keys
            and self.answers(memory.primary)
            and self.answers(memory.standby)
        ):
            self.remember(last_sync=self.now)

    def remember(self, **changes: Any) -> None:
        """What the reconciler stores: the pair's next (frozen) state."""
        self.memory = replace(self.memory, **changes)

    # -- the daemon acting -------------------------------------------------------------
    def act(self, action: object) -> None:
        memory = self.memory
        if isinstance(action, StartFailover):
            record = Failover(action.epoch, action.from_app, action.to_app, action.trigger)
            budget = memory.automatic_failovers
            if action.trigger == "automatic":
                budget = (*budget, self.now)
            self.remember(phase=Phase.FENCING, failover=record, automatic_failovers=budget)
        elif isinstance(action, CutIngress):
            self.route_to = None
        elif isinstance(action, FencePrimary):
            node = NODES[action.app]
            assert memory.failover is not None
            epoch = memory.failover.epoch
            if not action.stop_vm:
                if self.partitioned[node] or not self.node_up[node]:
                    raise Abort("host unreachable")
                self.apps[action.app].healthy = False  # unit stopped
            elif not self.node_up[node] and not self.api_down:
                pass  # the quorate cluster confirms the node is down
            elif self.api_down or self.partitioned[node]:
                if self.api_down and self.rng.random() < 0.5:
                    raise Abort("Proxmox API down while fencing")
                self.remember(quarantine=Quarantine(action.app))
            else:
                self.apps[action.app].vm_running = False
            self.fenced[epoch] = action.app
        elif isinstance(action, EnterPhase):
            self.remember(phase=action.phase)
        elif isinstance(action, FinalSync):
            if self.replication_stalled:
                raise Abort("final sync failed")
            self.remember(last_sync=self.now)
        elif isinstance(action, Promote):
            assert action.epoch in self.fenced, f"promotion of epoch {action.epoch} before fencing"
            assert self.apps[action.app].channel_epoch >= action.epoch, (
                f"{action.app} promoted to epoch {action.epoch} while it still accepts "
                f"replication of epoch {self.apps[action.app].channel_epoch}"
            )
            old = memory.failover.from_app if memory.failover else None
            epoch = max(memory.epoch, action.epoch)
            self.remember(epoch=epoch, primary=action.app, standby=str(old))
            if not self.answers(action.app) and not (
                self.apps[action.app].vm_running and self.node_up[NODES[action.app]]
            ):
                raise Abort("new primary not healthy")
            self.apps[action.app].epoch, self.apps[action.app].role = action.epoch, "primary"
            if action.demote:
                old = self.apps[action.demote[0]]
                old.epoch, old.role, old.healthy = action.epoch, "standby", True
            self.promoted[action.epoch] = action.app
        elif isinstance(action, Reroute):
            self.route_to, self.route_epoch = action.to_app, action.epoch
        elif isinstance(action, FinishFailover):
            self.remember(phase=action.phase, failover=None)
            if action.phase == Phase.HEALTHY:
                self.remember(replication_keys=())
        elif isinstance(action, StopStaleApp):
            self.apps[action.app].healthy = False
        elif isinstance(action, FenceReplication):
            state = self.apps[action.app]
            state.channel_epoch = max(state.channel_epoch, action.epoch)
        elif isinstance(action, SetUpReplication):
            assert action.epoch == memory.epoch, "replication set up under another epoch"
            for app in action.apps:
                state = self.apps[app]
                state.channel_epoch = max(state.channel_epoch, action.epoch)
            self.remember(replication_keys=tuple(action.apps), replication_channel=CHANNEL)
        elif isinstance(action, Resync):
            self.remember(last_sync=self.now)
        elif isinstance(action, FinishRebuild):
            self.remember(phase=Phase.HEALTHY, quarantine=None)
        elif isinstance(action, Establish):
            self.remember(established=True)
        elif isinstance(action, ClearRequest):
            self.request = None

    def step(self) -> None:
        self.now += timedelta(seconds=1)
        self.chaos()
        self.probe()
        self.other_reconcilers()
        self.replicate()
        plan = plan_pair(PAIR, self.observed(), now=self.now)
        crash_after = self.rng.randrange(len(plan.actions) + 1) if self.rng.random() < 0.1 else None
        for index, action in enumerate(plan.actions):
            if crash_after is not None and index == crash_after:
                self.history.append("daemon crash")
                break  # the daemon died: the next step starts from the durable memory
            assert allowed(self.memory.phase, action), (
                f"{type(action).__name__} moves the pair from {self.memory.phase} to "
                f"{entered(action)}: not a transition of the table"
            )
            try:
                self.act(action)
            except Abort as exc:
                self.history.append(f"abort: {exc}")
                break

    def check(self, previous: tuple[int, int]) -> None:
        memory = self.memory
        assert memory.epoch >= previous[0], "the pair's epoch went down"
        # Readers (``pairview.py``) know a failover runs by its record: one fact, not two.
        assert memory.phase.in_flight == (memory.failover is not None), memory
        assert self.route_epoch >= previous[1], "the route's epoch went down"
        assert self.route_to in (None, memory.primary), (
            f"Caddy routes to {self.route_to} while the primary is {memory.primary}"
        )
        if self.route_to is not None:
            assert self.apps[self.route_to].epoch == self.route_epoch or self.route_epoch == 1, (
                "the App behind the route does not carry the route's epoch"
            )
        for epoch, app in self.promoted.items():
            assert epoch in self.fenced, f"epoch {epoch} promoted {app} without fencing"
            assert self.fenced[epoch] != app, f"epoch {epoch} fenced the App it promoted"
        primaries = set(self.promoted.values())
        assert len(self.promoted) == len(set(self.promoted)), "two promotions in one epoch"
        assert primaries <= {"a", "b"}


@pytest.mark.scenario
@pytest.mark.parametrize("seed", SEEDS)
def test_pair_soak(seed: int) -> None:
    world = World(random.Random(seed))
    world.remember(
        established=True,
        last_sync=world.now,
        replication_keys=("a", "b"),
        replication_channel=CHANNEL,
    )
    try:
        for _ in range(STEPS):
            previous = (world.memory.epoch, world.route_epoch)
            world.step()
            world.check(previous)
    except AssertionError as exc:
        raise AssertionError(
            f"seed {seed} (replay: SOAK_SEED={seed}): {exc}\nhistory: {world.history[-15:]}"
        ) from None


def test_soak_covers_failovers() -> None:
    """The soak is not vacuous: across the seeds, many failovers happen."""
    epochs = 0
    for seed in range(40):
        world = World(random.Random(seed))
        world.remember(
            established=True,
            last_sync=world.now,
            replication_keys=("a", "b"),
            replication_channel=CHANNEL,
        )
        for _ in range(STEPS):
            world.step()
        epochs += world.memory.epoch - 1
    assert epochs >= 20
