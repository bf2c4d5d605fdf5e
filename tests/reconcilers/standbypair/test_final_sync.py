"""The estate shutdown's final sync as the pair performs it (``finalsync_act.py``): the
primary's App stopped before the rsync, the answer recorded for the hold whatever the
outcome (a failed sync is reported, never left unanswered: the shutdown waits for it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from homeport.clients.bundle import Clients
from homeport.clients.ssh import CommandResult, SSHPool
from homeport.clients.systemd import Systemd
from homeport.kinds import StandbyPair
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.pairview import PairView
from homeport.reconcilers.standbypair import finalsync_act
from homeport.reconcilers.standbypair.finalsync import AnswerFinalSync, EstateFinalSync
from homeport.reconcilers.standbypair.state import PairState
from tests.reconcilers.fixtures import resource

NOW = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
HOLD = "stopped by `homeport estate shutdown` #2 (layer 3, apps)"
SYNC = EstateFinalSync(
    HOLD, "shop-a", "10.0.0.1", "homeport-shop-a.service", "shop-b", ("rsync", "-a", "x/", "y")
)


@dataclass
class World:
    rsync_exit: int = 0
    steps: list[str] = field(default_factory=list)

    async def stop(self, host: str, unit: str, *, missing_ok: bool = False) -> None:
        self.steps.append(f"stop {unit} on {host}")

    async def run(
        self, host: str, argv: list[str], *, timeout: float | None = None, check: bool = True
    ) -> CommandResult:
        self.steps.append(f"{argv[0]} on {host}")
        return CommandResult(tuple(argv), self.rsync_exit, b"", b"rsync: connection refused")


@dataclass
class Context:
    world: World
    events: list[str] = field(default_factory=list)

    @property
    def clients(self) -> Clients:
        return Clients(ssh=cast(SSHPool, self.world), systemd=cast(Systemd, self.world))

    def now(self) -> datetime:
        return NOW

    def event(self, reason: str, message: str, *, warning: bool = False, **_: Any) -> None:
        self.events.append(reason)


def run(action: EstateFinalSync, world: World) -> tuple[PairState, Context]:
    ctx = Context(world)
    memory = PairState(primary="shop-a", standby="shop-b")
    done = asyncio.run(finalsync_act.final_sync(action, memory, cast(ReconcileContext, ctx)))
    return done, ctx


def view(state: PairState) -> PairView:
    """What the estate shutdown reads of the pair."""
    pair = resource("StandbyPair", "shop", {"primary": "shop-a", "standby": "shop-b"})
    assert isinstance(pair, StandbyPair)
    return PairView.of(pair, state.dump())


def test_the_primary_stops_before_the_sync_and_the_pair_answers_the_hold() -> None:
    world = World()
    state, ctx = run(SYNC, world)
    assert world.steps == ["stop homeport-shop-a.service on 10.0.0.1", "rsync on 10.0.0.1"]
    assert state.last_sync == NOW and ctx.events == ["FinalSync"]
    answer = view(state)
    assert answer.answered(HOLD) and answer.final_sync_outcome == "synced"


def test_a_failed_sync_is_answered_too_and_keeps_the_last_sync() -> None:
    state, ctx = run(SYNC, World(rsync_exit=12))
    assert state.last_sync is None and ctx.events == ["FinalSyncFailed"]
    answer = view(state)
    assert answer.answered(HOLD) and answer.final_sync_outcome == "failed"
    assert "connection refused" in answer.final_sync_message


def test_nothing_to_sync_is_an_answer() -> None:
    ctx = Context(World())
    memory = PairState(primary="shop-a", standby="shop-b")
    why = AnswerFinalSync(HOLD, "the replication channel is not set up yet")
    state = finalsync_act.answer(why, memory, cast(ReconcileContext, ctx))
    assert view(state).final_sync_outcome == "skipped" and ctx.events == ["FinalSyncSkipped"]
    assert not view(state).answered("stopped by `homeport estate shutdown` #3 (layer 3, apps)")
