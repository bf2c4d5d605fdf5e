"""Requests still in flight to an old primary that was not confirmed stopped: how long the
failover waits before the new primary serves (the reconciler's ``Reroute`` step sleeps it).

Caddy 2.6 cannot abort a request in flight (``pairroutes.py``): the ingress cut only stops
new requests from reaching the old primary. One forwarded just before the cut is answered
by the old primary if it resumes within the route's timeouts. When its VM was stopped and
confirmed stopped it never answers; when it was only quarantined (the stop was refused, or
its node is down for the quorate cluster but may run behind a partition), the new primary
is routed to only once every such request has ended: ``in_flight_seconds`` after the cut.
Then no client gets an answer from the old primary after the new one served.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from homeport.reconcilers.standbypair.state import PairState

CUT_STEP = "IngressCut"
DRAINED_STEP = "InFlightEnded"


@dataclass(frozen=True)
class InFlightWait:
    seconds: float
    """Left to wait from now (0: already over)."""
    detail: str
    """The failover timeline's line for it."""


def in_flight_wait(
    memory: PairState, in_flight_seconds: float, now: datetime
) -> InFlightWait | None:
    """``None`` when nothing can be in flight to an old primary that might still answer:
    no routes, a confirmed stop, or the wait already recorded (a resumed failover)."""
    record = memory.failover
    if record is None or in_flight_seconds <= 0 or not memory.quarantines(record.from_app):
        return None
    old = record.from_app
    if record.at(DRAINED_STEP) is not None:
        return None
    cuts = [step.at for step in record.steps if step.phase == CUT_STEP]
    # No recorded cut (it cannot happen before a reroute): count from now, never less.
    cut_at = cuts[-1] if cuts else now
    ends = cut_at + timedelta(seconds=in_flight_seconds)
    detail = (
        f"requests forwarded to {old} before the ingress cut have ended: {old} was not "
        f"confirmed stopped, so {record.to_app} serves only {in_flight_seconds:g}s after "
        f"the cut (Caddy's retry, dial and response-header timeouts of the route)"
    )
    return InFlightWait(max(0.0, (ends - now).total_seconds()), detail)
