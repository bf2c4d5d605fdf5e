"""A StandbyPair as everyone but the pair sees it: who serves, under which epoch, whether a
failover is running, which old primary waits in quarantine.

Only the StandbyPair reconciler writes the pair's memory (``standbypair/state.py`` types
it); the ProxyRoute, the App files and quarantine hold, the estate power and the CLI read
this view of it instead of its raw keys (the estate shutdown reads the pair's answer to the
hold of its primary: its final sync), so a new phase or a renamed key is a change of the
pair's package alone. Its memory, not its status: it changes the moment a failover
promotes.

Shared by the reconcilers, the controller and the CLI; imports nothing of the StandbyPair
package (reconcilers never import each other): "in flight" is the stored failover record,
which the pair writes when a failover starts and drops when it is done (its phases in
flight are exactly those, ``state.Phase.in_flight``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from homeport.kinds import StandbyPair
from homeport.reconcilers.slots import PAIR_MEMORY, HasMemory, PairMemoryDocument, Recalls

Role = Literal["primary", "standby"]


@dataclass(frozen=True)
class PairView:
    name: str
    primary: str
    """The App that serves (or served last, while ``in_flight``)."""
    standby: str
    epoch: int
    """The fencing token: only ever increases; Apps and routes carry it."""
    in_flight: bool
    """A failover runs: the pair owns its routes until it is done."""
    quarantined: str | None
    """An old primary the pair could not stop and will stop first when it returns."""
    final_sync_hold: str | None = None
    """The estate shutdown's hold of its primary the pair last answered with its final
    sync (``standbypair/finalsync.py``): the shutdown stops the primary's VM after it."""
    final_sync_outcome: str | None = None
    """``synced``, ``skipped`` or ``failed``."""
    final_sync_message: str = ""

    def answered(self, hold: str) -> bool:
        """The pair answered ``hold`` (why the estate shutdown holds its primary)."""
        return self.final_sync_hold == hold

    @classmethod
    def of(cls, pair: StandbyPair, document: PairMemoryDocument | None) -> PairView:
        """The view of ``document`` (None or empty: a pair never stored, as declared)."""
        stored: PairMemoryDocument = document or {}
        quarantine = stored.get("quarantine") or {}
        waiting = quarantine.get("app") if not quarantine.get("stopped_at") else None
        final = stored.get("final_sync") or {}
        return cls(
            name=pair.name,
            primary=stored.get("primary") or pair.spec.primary,
            standby=stored.get("standby") or pair.spec.standby,
            epoch=int(stored.get("epoch", 1)),
            in_flight=bool(stored.get("failover")),
            quarantined=waiting or None,
            final_sync_hold=final.get("hold"),
            final_sync_outcome=final.get("outcome"),
            final_sync_message=final.get("message", ""),
        )

    def role_of(self, app: str) -> Role:
        return "primary" if app == self.primary else "standby"


def pair_view(pair: StandbyPair, ctx: Recalls) -> PairView:
    """Inside a reconcile (of any kind)."""
    return PairView.of(pair, PAIR_MEMORY.recall(ctx, pair.name))


def stored_pair_view(pair: StandbyPair, store: HasMemory) -> PairView:
    """Outside a reconcile: the controller's side services, the CLI."""
    return PairView.of(pair, PAIR_MEMORY.get(store, pair.name))
