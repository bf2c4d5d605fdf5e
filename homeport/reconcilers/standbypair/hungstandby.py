"""A hung standby is reset: its VM runs for Proxmox, its guest answers nothing.

Nothing else would ever end such a hang: the VM reconciler sees a running VM whose agent
is silent and waits, the App reconciler cannot reach it, and the pair stays Degraded
(``StandbyDown``) with no standby to fail over to until an operator steps in. homeport
owns the VM, so after ``failover.resetStandbyAfterSeconds`` of failed probes it stops it
hard through Proxmox (as a fence does) and the VM reconciler starts it again: a reset.
Then the App comes back as the standby and the replication refreshes its data.

Pure (``plan.py`` asks ``reset_hung_standby``); ``__init__`` performs ``ResetStandby``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from homeport.kinds import StandbyPair
from homeport.reconcilers.base import Action
from homeport.reconcilers.standbypair.state import Phase

if TYPE_CHECKING:
    from homeport.reconcilers.standbypair.plan import PairObserved


@dataclass(frozen=True)
class ResetStandby(Action):
    app: str
    vm: str
    node: str
    vmid: int
    why: str
    verb = "reset-standby"

    def describe(self) -> str:
        return (
            f"reset the hung standby {self.app}: stop VM {self.vmid} on {self.node} through "
            f"the Proxmox API (it starts again as declared); {self.why}"
        )


def _seconds_since(stamp: datetime | None, now: datetime) -> float | None:
    return (now - stamp).total_seconds() if stamp else None


def reset_hung_standby(
    desired: StandbyPair, seen: PairObserved, now: datetime
) -> ResetStandby | None:
    """The reset, when the standby has hung for the grace period and was not reset within it."""
    grace = desired.spec.failover.reset_standby_after_seconds
    standby, probe, memory = seen.standby, seen.standby_probe, seen.memory
    # Never before the pair is established: a first boot (cloud-init, the first deploy)
    # may take longer than the grace period and must not be cut short.
    if grace is None or memory.phase != Phase.HEALTHY or not memory.established:
        return None
    if probe.healthy is not False:
        return None
    if not (standby.vm_unresponsive and standby.vmid and standby.node and standby.node_online):
        return None
    failing = _seconds_since(probe.failed_since, now)
    last_reset = _seconds_since(memory.standby_reset_at, now)
    if failing is None or failing < grace or (last_reset is not None and last_reset < grace):
        return None
    why = f"its guest has answered nothing for {failing:.0f}s ({probe.last_error})"
    return ResetStandby(standby.app, standby.vm, standby.node, standby.vmid, why)
