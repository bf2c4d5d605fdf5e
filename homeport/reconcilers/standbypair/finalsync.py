"""The estate shutdown's final sync, as the pair's state sees it (``controller/power``).

Before a planned estate shutdown stops a pair's primary, the power runner syncs its data
to the standby one last time. It asks here whom to sync (the pair's channel must be ready)
and records the sync here, so the pair's memory is still loaded and dumped by its own
package alone; the runner reads no raw key of it. (The sync itself is meant to become an
action the pair plans when it sees its layer's hold: then this module goes.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from homeport.kinds import StandbyPair
from homeport.reconcilers.slots import PAIR_MEMORY, HasMemory
from homeport.reconcilers.standbypair.state import PairState


@dataclass(frozen=True)
class FinalSyncTarget:
    primary: str
    standby: str
    epoch: int
    """The pair's epoch: the standby's receive wrapper refuses any other."""


def _state(pair: StandbyPair, store: HasMemory) -> PairState:
    stored = PAIR_MEMORY.get(store, pair.name)
    return PairState.load(stored, primary=pair.spec.primary, standby=pair.spec.standby)


def final_sync_target(pair: StandbyPair, store: HasMemory) -> FinalSyncTarget | None:
    """Whom to sync (None: the pair has no ready replication channel to sync through)."""
    state = _state(pair, store)
    if not state.channel_ready():
        return None
    return FinalSyncTarget(state.primary, state.standby, state.epoch)


def record_final_sync(pair: StandbyPair, store: HasMemory, at: datetime) -> None:
    """The standby holds the primary's data as of ``at`` (the pair's lag reads from it)."""
    synced = replace(_state(pair, store), last_sync=at, last_sync_error=None)
    PAIR_MEMORY.set(store, pair.name, synced.dump(), now=at.isoformat())
