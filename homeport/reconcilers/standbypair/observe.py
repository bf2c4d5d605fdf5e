"""Reading a StandbyPair's world: its memory, both Apps and their VMs, the probes' latest
verdicts (kept by the background loop), the routes that point at it, pending requests.
Cheap on purpose: during a failover every millisecond counts.
"""

from __future__ import annotations

from typing import Any

from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import ClusterResources
from homeport.kinds import VM, App, Machine, ProxyRoute, StandbyPair
from homeport.reconcilers.appfiles import AppPaths
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.powerhold import HOLD_KIND, HOLD_NAME, held, released_at
from homeport.reconcilers.standbypair.memory import PairMemory
from homeport.reconcilers.standbypair.plan import Member, PairObserved, PairRoute, ProbeView

REQUEST_SLOT = "request"
RESOURCES = "proxmox.resources"


def load_memory(pair: StandbyPair, ctx: ReconcileContext) -> PairMemory:
    return PairMemory.load(
        ctx.recall("StandbyPair", pair.name), primary=pair.spec.primary, standby=pair.spec.standby
    )


def member(
    app_name: str, ctx: ReconcileContext, nodes_online: dict[str, bool] | None = None
) -> Member:
    app = ctx.desired("App", app_name)
    if not isinstance(app, App):
        return Member(app=app_name)
    paths = AppPaths.of(app)
    vm = ctx.desired("VM", app.spec.vm)
    vm_details = ctx.status_details("VM", app.spec.vm)
    app_details = ctx.status_details("App", app_name)
    node = vm_details.get("node")
    machine = ctx.desired("Machine", vm.spec.machine) if isinstance(vm, VM) else None
    epoch = app_details.get("epoch")
    return Member(
        app=app_name,
        host=str(vm_details["address"]) if vm_details.get("address") else None,
        port=app.spec.port,
        health=app.spec.health_check,
        unit=paths.unit_name,
        env_path=paths.env_path,
        data_dir=app.data_dir,
        vmid=int(vm_details["vmid"]) if vm_details.get("vmid") else None,
        node=str(node) if node else None,
        node_online=(nodes_online or {}).get(str(node), True),
        app_ready=ctx.is_ready("App", app_name),
        app_epoch=int(epoch) if epoch is not None else None,
        maintenance=isinstance(machine, Machine) and machine.spec.maintenance,
    )


def routes_of(pair: str, ctx: ReconcileContext) -> tuple[PairRoute, ...]:
    routes = []
    for resource, _ in ctx.objects("ProxyRoute"):
        assert isinstance(resource, ProxyRoute)
        if resource.spec.standby_pair == pair:
            spec = resource.spec
            routes.append(
                PairRoute(resource.name, spec.host, spec.path_prefix, spec.upstream_health_check)
            )
    return tuple(sorted(routes, key=lambda r: r.name))


async def observe_pair(
    desired: StandbyPair, ctx: ReconcileContext, probes: dict[str, ProbeView], ssh_port: int
) -> PairObserved:
    memory = load_memory(desired, ctx)
    nodes_online: dict[str, bool] = {}
    try:
        px: ProxmoxClient = ctx.client("proxmox")
        snapshot: ClusterResources = await ctx.shared(RESOURCES, px.cluster_resources)
        nodes_online = {n.node: n.status == "online" for n in snapshot.nodes}
    except Exception:  # the API being down must not block a failover decision
        nodes_online = {}
    request: dict[str, Any] = ctx.recall(f"StandbyPair.{REQUEST_SLOT}", desired.name)
    power = ctx.recall(HOLD_KIND, HOLD_NAME)
    return PairObserved(
        name=desired.name,
        memory=memory,
        primary=member(memory.primary, ctx, nodes_online),
        standby=member(memory.standby, ctx, nodes_online),
        primary_probe=probes.get(memory.primary, ProbeView()),
        standby_probe=probes.get(memory.standby, ProbeView()),
        routes=routes_of(desired.name, ctx),
        request=request or None,
        ssh_port=ssh_port,
        power_held=held(power, "StandbyPair", desired.name),
        power_released_at=released_at(power, "StandbyPair", desired.name),
    )
