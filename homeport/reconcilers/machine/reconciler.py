"""The Machine reconciler: observes the node through Proxmox (never changes it); the
decision is ``plan.py``'s."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from homeport.clients.errors import ProxmoxError
from homeport.kinds import VM, App, Machine, StandbyPair
from homeport.reconcilers.base import (
    Action,
    EstateView,
    Plan,
    ReconcileContext,
    Reconciler,
)
from homeport.reconcilers.cluster import cluster_resources
from homeport.reconcilers.errors import PermanentError
from homeport.reconcilers.machine.plan import MachineObserved, plan_machine

MIB = 1024 * 1024


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
        snapshot = await cluster_resources(ctx, px)
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
