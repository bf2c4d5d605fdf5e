"""Reading one BackupPolicy's world — the only I/O of the reconciler besides ``act``.

Proxmox through shared per-resync snapshots (cluster resources, backup jobs, each node's
backup listing, failed vzdump runs and their logs, storage configs and use), the adopted
revision (selected VMs and their status details, their Apps, Machines), the tailnet (node
and offsite host addresses), the store (offsite copies, durable memory) and, during a
restore test, the scratch VM's firewall, guest agent and App health. Read-only: what it
finds goes into ``BackupObserved`` for the pure plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from homeport.clients.errors import ProxmoxError
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import ClusterResources, VmResource
from homeport.kinds import VM, App, BackupPolicy, Machine
from homeport.reconcilers.backuppolicy.failures import failures
from homeport.reconcilers.backuppolicy.job import job_id, observed_fields
from homeport.reconcilers.backuppolicy.observed import (
    AppCheck,
    Archive,
    BackupObserved,
    ObservedJob,
    OffsiteCopy,
    ScratchVM,
    SelectedVM,
)
from homeport.reconcilers.backuppolicy.restoretest import SCRATCH_TAG
from homeport.reconcilers.backuppolicy.scratch import observe_scratch
from homeport.reconcilers.backuppolicy.selection import selects
from homeport.reconcilers.backuppolicy.targets import (
    devices,
    node_host,
    offsite_targets,
    restore_node,
    storage_config,
    storage_use,
)
from homeport.reconcilers.base import ClientAccess, DurableMemory, EstateView, ReconcileContext
from homeport.reconcilers.cluster import cluster_resources
from homeport.reconcilers.ownership import owner_in_description
from homeport.reconcilers.slots import BACKUP_POLICY_MEMORY

JOBS = "proxmox.backup-jobs"
SCRATCH_POOL = "restore-vmid"


@dataclass(frozen=True)
class BackupSettings:
    """What the BackupPolicy reconciler needs from the daemon's configuration."""

    scratch_vmid_min: int = 9900
    scratch_vmid_max: int = 9999
    vmid_min: int = 1000
    vmid_max: int = 1999
    """The VMs' own vmid range (a ``homeport restore --as`` copy goes outside it)."""
    health_source: str | None = None
    """CIDR the restore tests' health checks come from (the control plane); None: any."""
    secrets_dir: Path = Path("/etc/homeport/secrets")
    """Where ``offsite.s3``'s credentials and encryption key files are."""
    restic: str = "restic"
    """The restic binary (Debian's package) the S3 offsite runs on the control plane."""
    restic_cache_dir: Path | None = None
    """restic's local cache (None: its default under ``$XDG_CACHE_HOME`` or ``~/.cache``)."""


def px_of(ctx: ClientAccess) -> ProxmoxClient:
    return ctx.clients.proxmox


async def resources(ctx: ReconcileContext) -> ClusterResources:
    return await cluster_resources(ctx, px_of(ctx))


async def observe_backup(
    desired: BackupPolicy | None, name: str, ctx: ReconcileContext, settings: BackupSettings
) -> BackupObserved:
    snapshot = await resources(ctx)
    memory = BACKUP_POLICY_MEMORY.recall(ctx) or {}
    allocated = ctx.allocated(SCRATCH_POOL)
    base = BackupObserved(
        name=name,
        job_id=job_id(name),
        job=await _job(ctx, job_id(name)),
        scratch=await _scratch(ctx, snapshot, name, desired, memory, settings),
        scratch_allocated=allocated,
        scratch_candidate=None if allocated is not None else _candidate(ctx, snapshot, settings),
        health_source=settings.health_source,
        memory=memory,
    )
    if desired is None:
        return base
    return await _selected(desired, ctx, base, settings.secrets_dir)


async def _job(ctx: ReconcileContext, jid: str) -> ObservedJob | None:
    jobs = await ctx.shared(JOBS, px_of(ctx).backups.jobs)
    found = next((j for j in jobs if j.id == jid), None)
    if found is None:
        return None
    fields = observed_fields(
        schedule=found.schedule,
        storage=found.storage,
        mode=found.mode,
        compress=found.compress,
        prune_backups=found.prune_backups,
        vmids=found.vmids,
        enabled=found.enabled,
        notes_template=found.notes_template,
        comment=found.comment,
    )
    return ObservedJob(found.id, owner_in_description(found.comment), fields)


def _candidate(
    ctx: DurableMemory, snapshot: ClusterResources, settings: BackupSettings
) -> int | None:
    used = {v.vmid for v in snapshot.vms} | ctx.taken(SCRATCH_POOL) | ctx.taken("vmid")
    span = range(settings.scratch_vmid_min, settings.scratch_vmid_max + 1)
    return next((v for v in span if v not in used), None)


async def _scratch(
    ctx: ReconcileContext,
    snapshot: ClusterResources,
    name: str,
    desired: BackupPolicy | None,
    memory: Mapping[str, Any],
    settings: BackupSettings,
) -> tuple[ScratchVM, ...]:
    """This policy's scratch VMs, recognised by tag and description marker."""
    px = px_of(ctx)
    found = []
    for resource in (v for v in snapshot.vms if SCRATCH_TAG in v.tags):
        try:
            config = await px.vm_config(resource.node, resource.vmid)
        except ProxmoxError:
            continue  # on a node that does not answer: looked at again once it does
        if owner_in_description(config.text("description")) != f"BackupPolicy/{name}":
            continue
        apps = _test_apps(ctx, desired, memory)
        found.append(await observe_scratch(ctx, resource, config, apps))
    return tuple(found)


def _test_apps(
    ctx: ReconcileContext, desired: BackupPolicy | None, memory: Mapping[str, Any]
) -> tuple[AppCheck, ...]:
    test = memory.get("test")
    if desired is None or not isinstance(test, Mapping):
        return ()
    return _apps(ctx, str(test.get("vm")))


def _apps(ctx: EstateView, vm: str) -> tuple[AppCheck, ...]:
    checks = []
    for resource, _ in ctx.objects("App"):
        if isinstance(resource, App) and resource.spec.vm == vm:
            check = resource.spec.health_check
            checks.append(
                AppCheck(
                    name=resource.name,
                    port=resource.spec.port,
                    type=check.type,
                    path=check.path,
                    checkable=resource.spec.bind != "localhost",
                    timeout=check.timeout_seconds,
                    expect_status=check.expect_status,
                )
            )
    return tuple(sorted(checks, key=lambda c: c.name))


# -- the selected VMs ------------------------------------------------------------------


def selected_vms(
    policy: BackupPolicy, ctx: EstateView
) -> tuple[list[tuple[VM, Mapping[str, Any]]], list[str]]:
    """VMs named or matching the labels, with their status details; and missing names."""
    chosen = {
        resource.name: (resource, details)
        for resource, details in ctx.objects("VM")
        if isinstance(resource, VM) and selects(policy, resource)
    }
    missing = sorted(n for n in policy.spec.selector.names if n not in chosen)
    return [chosen[n] for n in sorted(chosen)], missing


async def _selected(
    desired: BackupPolicy, ctx: ReconcileContext, base: BackupObserved, secrets_dir: Path
) -> BackupObserved:
    snapshot = await resources(ctx)
    chosen, missing = selected_vms(desired, ctx)
    storage = desired.spec.storage
    config = await storage_config(ctx, storage)
    shared = config is not None and config.shared
    tailnet = await devices(ctx)
    machines = [m for m, _ in ctx.objects("Machine") if isinstance(m, Machine)]
    vms = []
    for vm, details in chosen:
        vmid = details.get("vmid")
        found = snapshot.vm(int(vmid)) if isinstance(vmid, int) else None
        vms.append(await _vm(ctx, vm, found, storage, shared, snapshot))
    targets, problems, shared_storages = await offsite_targets(
        desired, ctx, tailnet, machines, secrets_dir
    )
    if shared:
        shared_storages = shared_storages | {storage}
    nodes = sorted({a.node for v in vms for a in v.archives} | {v.node for v in vms if v.node})
    return replace(
        base,
        vms=tuple(vms),
        missing=tuple(missing),
        storage_use=await storage_use(ctx, storage, nodes),
        node_hosts={n: node_host(n, machines, tailnet) for n in nodes},
        targets=targets,
        target_problems=problems,
        shared_storages=frozenset(shared_storages),
        restore_node=restore_node(desired, machines),
        machine_storage={m.spec.node: m.spec.storage for m in machines},
    )


async def _vm(
    ctx: ReconcileContext,
    vm: VM,
    found: VmResource | None,
    storage: str,
    shared: bool,
    snapshot: ClusterResources,
) -> SelectedVM:
    if found is None:
        return SelectedVM(name=vm.name)
    node = found.node
    if shared:
        online = [n.node for n in snapshot.nodes if n.status == "online"]
        node = node if node in online or not online else online[0]
    try:
        listing = await _listing(ctx, node, storage)
    except ProxmoxError as exc:
        # Its node does not answer: nothing is judged about this VM until it does.
        return SelectedVM(
            name=vm.name, vmid=found.vmid, node=found.node, unreachable=exc.message[:120]
        )
    archives = tuple(
        sorted(
            (Archive(b.volid, b.ctime, b.size, node) for b in listing if b.vmid == found.vmid),
            key=lambda a: (a.ctime, a.volid),
            reverse=True,
        )
    )
    newest = archives[0].ctime if archives else 0
    return SelectedVM(
        name=vm.name,
        vmid=found.vmid,
        node=found.node,
        archives=archives,
        failures=await failures(ctx, found.node, found.vmid, newest),
        copies=_copies(ctx, vm.name),
        apps=_apps(ctx, vm.name),
        static_ipconfigs=tuple(
            f"ipconfig{i}" for i, nic in enumerate(vm.spec.network) if nic.ip != "dhcp"
        ),
    )


async def _listing(ctx: ReconcileContext, node: str, storage: str) -> list[Any]:
    backups = px_of(ctx).backups
    result: list[Any] = await ctx.shared(
        f"proxmox.backups:{node}:{storage}", lambda: backups.backups(node, storage)
    )
    return result


def _copies(ctx: EstateView, vm: str) -> dict[str, dict[str, OffsiteCopy]]:
    copies: dict[str, dict[str, OffsiteCopy]] = {}
    for record in ctx.backup_records(vm):
        entries = record.get("offsite") or {}
        copies[str(record["volid"])] = {
            key: OffsiteCopy(
                state=str(entry.get("state", "failed")),
                at=str(entry.get("at", "")),
                attempts=int(entry.get("attempts", 1)),
                error=entry.get("error"),
                ctime=int(record.get("ctime") or 0),
            )
            for key, entry in entries.items()
            if isinstance(entry, Mapping)
        }
    return copies
