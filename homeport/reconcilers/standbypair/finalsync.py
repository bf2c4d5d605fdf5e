"""The estate shutdown's final sync: the pair's answer to a hold of its primary. Pure.

``homeport estate shutdown`` holds a layer's VMs and Apps first (``reconcilers/estate``),
and the pairs with their primary there only once each has answered. A pair that sees its
primary App held (its VM stops next) plans one last sync to the standby itself: stop the
primary's App (nothing changes its data any more), then one rsync through the pair's own
channel under its epoch, so the standby holds everything when the estate comes back. Or it
says why there is nothing to sync. It answers once per hold, in its memory
(``PairState.final_sync``), and the estate reads the answer through ``PairView``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeport.kinds import StandbyPair
from homeport.reconcilers.base import Action
from homeport.reconcilers.standbypair.state import PairState

if TYPE_CHECKING:  # plan.py imports this module
    from homeport.reconcilers.standbypair.plan import Member

SYNCED = "synced"
SKIPPED = "skipped"
FAILED = "failed"


@dataclass(frozen=True)
class EstateFinalSync(Action):
    """Stop the primary's App, then sync its data to the standby one last time."""

    hold: str
    app: str
    host: str
    unit: str
    standby: str
    command: tuple[str, ...]
    verb = "estate-final-sync"
    reported = True

    def describe(self) -> str:
        return f"stop {self.app} and sync its data to {self.standby} before the estate shutdown"


@dataclass(frozen=True)
class AnswerFinalSync(Action):
    """Record that there is nothing to sync for this hold, and why."""

    hold: str
    message: str
    verb = "answer-final-sync"
    mutating = False
    reported = True

    def describe(self) -> str:
        return f"no final sync before the estate shutdown: {self.message}"


def due(memory: PairState, primary_held: str | None) -> bool:
    """The primary is held by an estate shutdown and the pair has not answered that hold."""
    answered = memory.final_sync or {}
    return primary_held is not None and answered.get("hold") != primary_held


def plan_final_sync(
    desired: StandbyPair,
    memory: PairState,
    primary: Member,
    standby: Member,
    *,
    hold: str,
    standby_held: bool,
    command: tuple[str, ...],
) -> Action:
    """The pair's answer to ``hold``: the sync (``command``, run on the primary's VM), or
    why there is nothing to sync."""
    if desired.spec.replication.method != "rsync":
        return AnswerFinalSync(hold, "the App keeps no data to sync (replication method none)")
    if not memory.channel_ready():
        return AnswerFinalSync(hold, "the replication channel is not set up yet")
    if standby_held:
        return AnswerFinalSync(hold, f"the standby {standby.app} is stopped already")
    if not (primary.host and standby.host):
        return AnswerFinalSync(hold, "a member's address is unknown")
    return EstateFinalSync(
        hold=hold,
        app=primary.app,
        host=primary.host,
        unit=primary.unit,
        standby=standby.app,
        command=command,
    )
