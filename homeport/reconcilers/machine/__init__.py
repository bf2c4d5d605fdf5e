"""Machine: a physical Proxmox host, observed (never changed) and drained on request.

Reports the node's health, version, capacity and use, storage and whether PVE's firewall
filters it (``homeport audit`` says what is wrong with it). ``maintenance: true`` drains it:
StandbyPairs switch their primaries away (the pair reconciler reads the flag), no new VM
is placed on it (the VM plan reads it); once no primary remains the Machine reports
``Ready=False, reason=Maintenance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from homeport.clients.errors import ProxmoxError
from homeport.clients.proxmox_models import ClusterResources
from homeport.kinds import VM, App, Machine, StandbyPair
from homeport.reconcilers.base import (
    Action,
    ConditionUpdate,
    EstateView,
    Plan,
    ReconcileContext,
    Reconciler,
)
from homeport.reconcilers.errors import PermanentError

RESOURCES = "proxmox.resources"
MIB = 1024 * 1024


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


def primaries_on(node: str, ctx: EstateView) -> tuple[str, ...]:
    """StandbyPairs whose current primary runs on ``node``."""
    found = []
    for pair, details in ctx.objects("StandbyPair"):
        assert isinstance(pair, StandbyPair)
        primary = str(details.get("primary") or pair.spec.primary)
        app = ctx.desired("App", primary)
        vm = ctx.desired("VM", app.spec.vm) if isinstance(app, App) else None
        if isinstance(vm, VM) and ctx.status_details("VM", vm.name).get("node") == node:
            found.append(pair.name)
    return tuple(sorted(found))


class MachineReconciler(Reconciler[Machine, MachineObserved]):
    kind: ClassVar[str] = "Machine"
    uses = frozenset({"proxmox"})

    async def observe(
        self, desired: Machine | None, name: str, ctx: ReconcileContext
    ) -> MachineObserved:
        if desired is None:
            return MachineObserved(node="")
        px = ctx.clients.proxmox
        snapshot: ClusterResources = await ctx.shared(RESOURCES, px.cluster_resources)
        node = desired.spec.node
        entry = next((n for n in snapshot.nodes if n.node == node), None)
        if entry is None:
            raise PermanentError(
                f"node {node!r} is not part of the Proxmox cluster",
                reason="NodeNotFound",
                fix="check spec.node against `pvecm nodes`",
            )
        seen = MachineObserved(
            node=node, online=entry.status == "online", primaries_here=primaries_on(node, ctx)
        )
        if not seen.online:
            return seen
        try:
            status = await px.node_status(node)
            cluster = await ctx.shared("proxmox.cluster_status", px.cluster_status)
            datacenter = await ctx.shared("proxmox.cluster_firewall", px.firewall.cluster_options)
            host = await px.firewall.node_options(node)
        except ProxmoxError:
            return MachineObserved(node=node, online=False)
        # PVE filters a host only when the datacenter enables the firewall (default off) and
        # the node does not disable it (default on).
        firewall = (
            str(datacenter.values.get("enable", "0")) == "1"
            and str(host.values.get("enable", "1")) != "0"
        )
        return MachineObserved(
            node=node,
            online=True,
            version=status.pveversion,
            cpus=status.cpus or entry.maxcpu,
            memory_mib=status.memory_total // MIB,
            cpu_use=status.cpu,
            memory_used_mib=status.memory_used // MIB,
            quorate=cluster.quorate,
            firewall=firewall,
            primaries_here=seen.primaries_here,
            extra={
                "storageUsedPercent": round(100 * entry.disk / entry.maxdisk, 1)
                if entry.maxdisk
                else None
            },
        )

    def plan(self, desired: Machine | None, observed: MachineObserved, *, now: datetime) -> Plan:
        return plan_machine(desired, observed, now=now)

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        raise TypeError(f"a Machine is never changed: {action!r}")
