"""The Machine's plan (pure): Ready, NodeOffline, Draining or Maintenance from what was seen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from homeport.kinds import Machine
from homeport.reconcilers.base import ConditionUpdate, Plan


@dataclass(frozen=True)
class MachineObserved:
    node: str
    online: bool = False
    version: str = ""
    cpus: int = 0
    memory_mib: int = 0
    cpu_use: float = 0.0
    memory_used_mib: int = 0
    quorate: bool = True
    firewall: bool | None = None
    """Whether PVE's firewall filters this host (datacenter *and* node enabled); None: unread."""
    primaries_here: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def plan_machine(desired: Machine | None, seen: MachineObserved, *, now: datetime) -> Plan:
    if desired is None:
        return Plan(reason="a Machine is only observed; nothing to remove", gone=True)
    details: dict[str, Any] = {
        "node": seen.node,
        "online": seen.online,
        "version": seen.version,
        "cpus": seen.cpus,
        "memoryMiB": seen.memory_mib,
        "cpuUse": round(seen.cpu_use, 3),
        "memoryUsedMiB": seen.memory_used_mib,
        "maintenance": desired.spec.maintenance,
        "firewall": None if seen.firewall is None else ("on" if seen.firewall else "off"),
        **seen.extra,
    }
    if not seen.online:
        return Plan(
            waiting=f"node {seen.node} is offline",
            state_reason="NodeOffline",
            requeue_after=10,
            details=details,
        )
    conditions: list[ConditionUpdate] = []
    capacity = desired.spec.capacity
    short = []
    if seen.cpus and seen.cpus < capacity.cores:
        short.append(f"{seen.cpus} CPUs instead of {capacity.cores}")
    if seen.memory_mib and seen.memory_mib < capacity.memory_mib * 0.95:
        short.append(f"{seen.memory_mib} MiB memory instead of {capacity.memory_mib}")
    if short:
        conditions.append(
            ConditionUpdate("Degraded", "True", "CapacityShort", "node has " + ", ".join(short))
        )
    if not seen.quorate:
        conditions.append(
            ConditionUpdate("Degraded", "True", "NoQuorum", "the cluster has no quorum")
        )
    if desired.spec.maintenance:
        if seen.primaries_here:
            return Plan(
                waiting="draining: primaries still here: " + ", ".join(seen.primaries_here),
                state_reason="Draining",
                requeue_after=2,
                details=details,
                conditions=tuple(conditions),
            )
        return Plan(
            waiting="in maintenance and drained",
            state_reason="Maintenance",
            requeue_after=60,
            details=details,
            conditions=tuple(conditions),
        )
    return Plan(
        reason=f"{seen.node} online, {seen.version}",
        ready=True,
        details=details,
        conditions=tuple(conditions),
    )
