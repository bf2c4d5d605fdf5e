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

from homeport.reconcilers.estate.plan import is_open
from homeport.reconcilers.estate.reconciler import KIND, NAME, EstatePowerReconciler

__all__ = ["KIND", "NAME", "EstatePowerReconciler", "is_open"]
