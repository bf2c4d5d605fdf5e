"""Reading a StandbyPair's world: its memory, both Apps and their VMs, the probes' latest
verdicts (kept by the background loop), the routes that point at it, pending requests.
Cheap on purpose: during a failover every millisecond counts.
"""

from __future__ import annotations

from dataclasses import replace

from homeport.clients.errors import ClientError
from homeport.clients.proxmox_models import ClusterResources
from homeport.kinds import VM, App, Machine, ProxyRoute, StandbyPair
from homeport.reconcilers.appfiles import AppPaths
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.cluster import cluster_resources
from homeport.reconcilers.ownership import marker
from homeport.reconcilers.pairroutes import MemberTimeouts
from homeport.reconcilers.powerhold import held, released_at
from homeport.reconcilers.slots import ESTATE_HOLD, PAIR_MEMORY, PAIR_REQUEST
from homeport.reconcilers.standbypair.plan import Member, PairObserved, PairRoute, ProbeView
from homeport.reconcilers.standbypair.state import PairState, parse_time
from homeport.reconcilers.standbypair.storagerepl import (
    StorageJob,
    StorageView,
    unsupported_volume,
)


def load_memory(pair: StandbyPair, ctx: ReconcileContext) -> PairState:
    return PairState.load(
        PAIR_MEMORY.recall(ctx, pair.name), primary=pair.spec.primary, standby=pair.spec.standby
    )


def save_memory(state: PairState, ctx: ReconcileContext) -> None:
    """Inside a reconcile of the pair: its state is what the store keeps from now on."""
    PAIR_MEMORY.remember(ctx, state.dump())


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
        vm_unresponsive=vm_details.get("status") == "running"
        and not ctx.is_ready("VM", app.spec.vm),
        vm=app.spec.vm,
    )


def _observed_member(
    app_name: str, ctx: ReconcileContext, nodes_online: dict[str, bool] | None
) -> Member:
    """``member`` as observed: its node's state unknown (None) when the listing failed."""
    found = member(app_name, ctx, nodes_online)
    return found if nodes_online is not None else replace(found, node_online=None)


def routes_of(
    pair: str, ctx: ReconcileContext, timeouts: MemberTimeouts | None = None
) -> tuple[PairRoute, ...]:
    routes = []
    for resource, _ in ctx.objects("ProxyRoute"):
        assert isinstance(resource, ProxyRoute)
        if resource.spec.standby_pair == pair:
            spec = resource.spec
            routes.append(
                PairRoute(
                    resource.name,
                    spec.host,
                    spec.path_prefix,
                    spec.upstream_health_check,
                    timeouts,
                    spec.exposure,
                )
            )
    return tuple(sorted(routes, key=lambda r: r.name))


async def observe_pair(
    desired: StandbyPair, ctx: ReconcileContext, probes: dict[str, ProbeView], ssh_port: int
) -> PairObserved:
    memory = load_memory(desired, ctx)
    nodes_online: dict[str, bool] | None = None
    snapshot: ClusterResources | None = None
    try:
        px = ctx.clients.proxmox
        snapshot = await cluster_resources(ctx, px)
        nodes_online = {n.node: n.status == "online" for n in snapshot.nodes}
    except ClientError:
        # The API being down must not block a failover decision, but it tells nothing
        # about the nodes either: their state is unknown (None), never "all online".
        nodes_online = None
    primary = _observed_member(memory.primary, ctx, nodes_online)
    request = PAIR_REQUEST.recall(ctx, desired.name)
    power = ESTATE_HOLD.recall(ctx) or {}
    primary_held = held(power, "App", memory.primary)
    return PairObserved(
        name=desired.name,
        memory=memory,
        primary=primary,
        standby=_observed_member(memory.standby, ctx, nodes_online),
        primary_probe=probes.get(memory.primary, ProbeView()),
        standby_probe=probes.get(memory.standby, ProbeView()),
        routes=routes_of(desired.name, ctx, MemberTimeouts.of(desired.spec.probe)),
        request=dict(request) if request else None,
        requested_at=parse_time(request.get("at")) if request else None,
        ssh_port=ssh_port,
        power_held=held(power, "StandbyPair", desired.name) or primary_held,
        primary_held=primary_held,
        standby_held=_stopped_before(held(power, "App", memory.standby), primary_held),
        power_released_at=parse_time(released_at(power, "StandbyPair", desired.name)),
        # Never one more API call while a failover may be decided or is running.
        storage=await observe_storage(desired, ctx, primary, snapshot)
        if not memory.phase.in_flight
        and not probes.get(memory.primary, ProbeView()).failures
        and not request
        else None,
    )


def _stopped_before(standby: str | None, primary: str | None) -> bool:
    """The standby was held by an earlier layer than the primary (its VM is down by now);
    held by the same layer's hold, its VM still runs until the pair answered."""
    return standby is not None and standby != primary


JOBS = "proxmox.replication_jobs"


async def storage_jobs(ctx: ReconcileContext) -> tuple[StorageJob, ...]:
    """Every replication job of the cluster (one list per resync, shared by the pairs)."""
    px = ctx.clients.proxmox
    jobs = await ctx.shared(JOBS, px.replication.jobs)
    return tuple(
        StorageJob(
            id=j.id,
            guest=j.guest,
            target=j.target,
            schedule=j.schedule,
            rate=j.rate,
            comment=j.comment,
            removing=j.remove_job is not None,
        )
        for j in jobs
    )


async def observe_storage(
    desired: StandbyPair,
    ctx: ReconcileContext,
    primary: Member,
    snapshot: ClusterResources | None,
) -> StorageView | None:
    """The replication jobs, the state of the pair's own, and whether the primary's VM can
    be replicated at all. None when Proxmox does not answer: nothing is decided then."""
    px = ctx.clients.proxmox
    comment = marker("StandbyPair", desired.name)
    try:
        jobs = list(await storage_jobs(ctx))
        if desired.spec.replication.storage is None or primary.vmid is None or not primary.node:
            return StorageView(tuple(jobs))
        for index, job in enumerate(jobs):
            if job.comment == comment and job.guest == primary.vmid and not job.removing:
                state = await px.replication.state(primary.node, job.id)
                if state is not None:
                    jobs[index] = replace(
                        job,
                        last_sync=state.last_sync,
                        fail_count=state.fail_count,
                        error=state.error,
                    )
        config = await px.vm_config(primary.node, primary.vmid)
        storages = snapshot.storages if snapshot else ()
        types = {s.storage: s.plugintype for s in storages}
        shared = frozenset(s.storage for s in storages if s.shared)
        why = unsupported_volume(config.values, types, primary.vmid, shared=shared)
        return StorageView(tuple(jobs), why)
    except ClientError:
        return None
