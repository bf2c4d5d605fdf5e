"""What an estate power request needs to know of the world: the request and the holds
(this object's memory), the estate's VMs by layer, the pairs as they report themselves
(``PairView``), and the current layer's VMs and tasks in Proxmox; for a start's layer
whose VMs all run, its health checks (guest agent, each App's check)."""

from __future__ import annotations

import asyncio

from homeport.clients.errors import ClientError, ProxmoxError
from homeport.clients.proxmox import ProxmoxClient
from homeport.kinds import App, Resource, StandbyPair
from homeport.reconcilers.apphealth import check_health
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.estate.layers import PowerVM, estate_vms
from homeport.reconcilers.estate.plan import PowerObserved, TaskSeen, VMSeen, current_layer
from homeport.reconcilers.pairview import pair_view
from homeport.reconcilers.slots import ESTATE_HOLD, ESTATE_POWER_REQUEST, PowerRequest

POWER_TASKS = {"shutdown": ("qmshutdown", "qmstop"), "start": ("qmstart",)}
"""Proxmox's worker types of a VM's shutdown (a forced stop after it) and start."""


async def observe_power(ctx: ReconcileContext) -> PowerObserved:
    request = ESTATE_POWER_REQUEST.recall(ctx)
    holds = ESTATE_HOLD.recall(ctx) or {}
    resources: list[Resource] = [
        r for kind in ("VM", "App", "StandbyPair") for r, _ in ctx.objects(kind)
    ]
    vms = tuple(estate_vms(resources))
    pairs = {r.name: pair_view(r, ctx) for r in resources if isinstance(r, StandbyPair)}
    app_vm = {r.name: r.spec.vm for r in resources if isinstance(r, App)}
    seen = PowerObserved(request, holds, vms, pairs, app_vm)
    found = current_layer(request, vms)
    if request is None or found is None:
        return seen
    layer, members = found
    px = ctx.clients.proxmox
    world = await _world(ctx, px, request, layer, members)
    problems = None
    if request["op"] == "start" and all(w.status in (None, "running") for w in world.values()):
        checks = await asyncio.gather(*(_health(ctx, px, vm, world[vm.name]) for vm in members))
        problems = tuple(p for p in checks if p)
    return PowerObserved(request, holds, vms, pairs, app_vm, world, problems)


async def _world(
    ctx: ReconcileContext,
    px: ProxmoxClient,
    request: PowerRequest,
    layer: int,
    members: tuple[PowerVM, ...],
) -> dict[str, VMSeen]:
    cluster = await px.cluster_resources()
    recorded = ((request.get("layers") or {}).get(str(layer)) or {}).get("tasks") or {}
    active = None
    world: dict[str, VMSeen] = {}
    for vm in members:
        vmid = ctx.status_details("VM", vm.name).get("vmid")
        found = cluster.vm(int(vmid)) if vmid is not None else None
        if found is None:
            world[vm.name] = VMSeen(vm.name)
            continue
        task = None
        upid = recorded.get(vm.name)
        if upid:
            task = await _task(px, found.node, upid)
        elif found.status not in ("stopped" if request["op"] == "shutdown" else "running",):
            if active is None:
                active = await px.tasks.active()
            kinds = POWER_TASKS[request["op"]]
            running = next((t for t in active if t.type in kinds and t.id == str(found.vmid)), None)
            task = TaskSeen(running.upid, running=True) if running else None
        world[vm.name] = VMSeen(vm.name, found.vmid, found.node, found.status, task)
    return world


async def _task(px: ProxmoxClient, node: str, upid: str) -> TaskSeen:
    try:
        status = await px.tasks.status(node, upid)
    except ProxmoxError:
        return TaskSeen(upid, running=True)  # not readable now: looked at again
    return TaskSeen(upid, status.running, status.succeeded, status.exitstatus or "")


async def _health(
    ctx: ReconcileContext, px: ProxmoxClient, vm: PowerVM, seen: VMSeen
) -> str | None:
    if seen.vmid is None or seen.node is None or seen.status is None:
        return None
    try:
        if not await px.agent.ping(seen.node, seen.vmid):
            return f"VM {vm.name}: the guest agent does not answer yet"
    except ClientError as exc:
        return f"VM {vm.name}: {exc}"
    address = ctx.status_details("VM", vm.name).get("address")
    for app in vm.apps:
        problem = await _app_health(ctx, app, str(address) if address else None)
        if problem:
            return problem
    return None


async def _app_health(ctx: ReconcileContext, app: App, address: str | None) -> str | None:
    if app.spec.bind == "localhost":
        return None  # not reachable from here; systemd starts it with the VM
    if address is None:
        return f"App {app.name}: its VM's address is unknown"
    result = await check_health(ctx.clients.prober, app.spec.health_check, address, app.spec.port)
    return None if result.ok else f"App {app.name}: {result.error}"
