"""VM: clone from the template, converge config, disk, placement, firewall and power, join
the tailnet, pin the SSH host key; prune only what homeport owns.

``observe.py`` reads the world, ``plan.py`` decides (pure), ``reconciler.py`` performs
one action through the clients. Every mutation drops the shared cluster snapshot so the next
reconcile sees its effect.
"""

from __future__ import annotations

from homeport.reconcilers.vm.observe import VMSettings, public_key_of
from homeport.reconcilers.vm.plan import VMObserved, plan_vm
from homeport.reconcilers.vm.reconciler import VMReconciler

__all__ = ["VMObserved", "VMReconciler", "VMSettings", "plan_vm", "public_key_of"]
