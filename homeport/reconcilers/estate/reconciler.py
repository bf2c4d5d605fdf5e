"""The ``Estate/power`` reconciler: ``observe.py``, ``plan.py`` and ``act.py`` wired for the
engine, as a standalone object (no manifest)."""

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
