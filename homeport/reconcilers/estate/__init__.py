"""``Estate/power``: the estate's power events (seed 003) as an object of their own.

``homeport estate shutdown|start`` writes a typed request (``slots.PowerRequest``) into
this object's ``request`` slot; the leading daemon's engine reconciles it like any other
object — observe (``observe.py``) → pure plan (``plan.py``) → journaled act (``act.py``)
under its leadership, fencing token and error policy — and requeues it while tasks run or
a layer comes up. The object has no manifest: it exists for the engine by this
reconciler's ``standalone`` name. Its memory is the power holds (``ESTATE_HOLD``: what the
engine and the StandbyPairs leave alone); the pairs' final syncs are theirs to plan.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from homeport.kinds import Resource
from homeport.reconcilers.base import Action, Plan, ReconcileContext, Reconciler
from homeport.reconcilers.estate.act import act_power
from homeport.reconcilers.estate.observe import observe_power
from homeport.reconcilers.estate.plan import PowerObserved, is_open, plan_power

KIND = "Estate"
NAME = "power"


class EstatePowerReconciler(Reconciler[Resource, PowerObserved]):
    kind: ClassVar[str] = KIND
    standalone: ClassVar[tuple[str, ...]] = (NAME,)
    uses = frozenset({"proxmox", "prober"})

    async def observe(
        self, desired: Resource | None, name: str, ctx: ReconcileContext
    ) -> PowerObserved:
        return await observe_power(ctx)

    def plan(self, desired: Resource | None, observed: PowerObserved, *, now: datetime) -> Plan:
        return plan_power(observed, now=now)

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        await act_power(action, ctx)


__all__ = ["KIND", "NAME", "EstatePowerReconciler", "is_open"]
