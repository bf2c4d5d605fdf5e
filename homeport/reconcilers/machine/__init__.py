"""Machine: a physical Proxmox host, observed (never changed) and drained on request.

Reports the node's health, version, capacity and use, storage and whether PVE's firewall
filters it (``homeport audit`` says what is wrong with it). ``maintenance: true`` drains it:
StandbyPairs switch their primaries away (the pair reconciler reads the flag), no new VM
is placed on it (the VM plan reads it); once no primary remains the Machine reports
``Ready=False, reason=Maintenance``.
"""

from __future__ import annotations

from homeport.reconcilers.machine.plan import MachineObserved, plan_machine
from homeport.reconcilers.machine.reconciler import MachineReconciler, primaries_on

__all__ = ["MachineObserved", "MachineReconciler", "plan_machine", "primaries_on"]
