"""Which App a StandbyPair holds in quarantine: an old primary that could not be stopped
when the pair failed over (its node did not answer, refused the stop, or was only known
down through a quorate cluster), so it may come back still believing it is the primary.

Written by the StandbyPair reconciler (its state's ``quarantine``: the App, and
``stopped_at`` once its unit was stopped on return); read here through its ``PairView`` by the App reconciler, which must not
fight that stop: while the returned old primary still serves, the pair stops it first,
once, and only then does the App reconciler redeploy it as the standby.
"""

from __future__ import annotations

from homeport.kinds import StandbyPair
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.pairview import pair_view


def awaiting_stop(app_name: str, ctx: ReconcileContext) -> str | None:
    """The pair that quarantines ``app_name`` and has not stopped it yet, if any."""
    for resource, _ in ctx.objects("StandbyPair"):
        assert isinstance(resource, StandbyPair)
        if app_name not in (resource.spec.primary, resource.spec.standby):
            continue
        if pair_view(resource, ctx).quarantined == app_name:
            return resource.name
    return None
