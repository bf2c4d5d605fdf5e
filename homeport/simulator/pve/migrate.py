"""`GET|POST .../qemu/{vmid}/migrate` (`qmigrate`, `hamigrate` for HA-managed VMs).

The POST checks PVE's preconditions synchronously (target, lock, `--online` for a running
VM, live migration of a replicated VM only to its replication target). The task sets
`lock: migrate`, copies local disks (quickly when replication already put them on the
target), moves the config and volumes to the target node, and turns replication jobs around
(`replication.switch_direction`), like PVE after migrating to a replication target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError, param_error
from homeport.simulator.pve import pci
from homeport.simulator.pve import storage as st
from homeport.simulator.pve.nodes import online
from homeport.simulator.pve.replication import replicated_volids
from homeport.simulator.pve.tasks import Task, TaskContext, Worker
from homeport.simulator.pve.vms import Vm, check_lock, vm_on_node

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

GIB = 1 << 30


def preconditions(world: World, node: str, vmid: int, target: str | None) -> dict[str, Any]:
    vm = vm_on_node(world, node, vmid)
    allowed = [n for n, state in world.nodes.items() if n != node and online(world, state)]
    not_allowed: dict[str, Any] = {
        n: {"unavailable_storages": []}
        for n, s in world.nodes.items()
        if n != node and not online(world, s)
    }
    return {
        "running": int(vm.running),
        "allowed_nodes": allowed,
        "not_allowed_nodes": not_allowed,
        "local_disks": _local_disks(world, vm),
        "local_resources": [k for k, v in _hostpci(vm) if "mapping=" not in v],
        "mapped-resources": [k for k, v in _hostpci(vm) if "mapping=" in v],
        "mapped-resource-info": {},
        "has-dbus-vmstate": 1,
    }


def _hostpci(vm: Vm) -> list[tuple[str, str]]:
    return sorted((k, str(v)) for k, v in vm.conf.items() if k.startswith("hostpci"))


def _local_disks(world: World, vm: Vm) -> list[dict[str, Any]]:
    disks = []
    jobs = world.replication.jobs_of(vm.vmid)
    replicated = set(replicated_volids(world, vm, noerr=True)) if jobs else set()
    for volume in world.volumes.of_vm(vm.vmid):
        if volume.scope:
            disks.append(
                {
                    "volid": volume.volid,
                    "size": volume.size,
                    "is_attached": 1,
                    "is_unused": 0,
                    "replicated": int(volume.volid in replicated),
                    "cdrom": 0,
                }
            )
    return disks


def request_migrate(world: World, node: str, vmid: int, params: dict[str, Any], user: str) -> Task:
    target = str(params["target"])
    if target == node:
        raise param_error("target", "target is local node.")
    world.require_quorum()
    if target not in world.nodes:
        raise PveError(f"no such cluster node '{target}'")
    vm = vm_on_node(world, node, vmid)
    check_lock(vm)
    online_mode = bool(params.get("online")) and vm.running
    if vm.running and not online_mode:
        raise PveError("can't migrate running VM without --online")
    targets = {j.target for j in world.replication.jobs_of(vmid)}
    if online_mode and targets and target not in targets:
        raise PveError(
            f"Cannot live-migrate replicated VM to node '{target}' - not a replication target"
        )
    kind = "hamigrate" if world.ha.managed(vmid) else "qmigrate"
    local_disks = bool(params.get("with-local-disks"))
    return world.tasks.spawn(
        world, node, kind, str(vmid), user, _worker(vmid, target, online_mode, local_disks)
    )


def _worker(vmid: int, target: str, online_mode: bool, with_local_disks: bool) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        world = ctx.world
        await ctx.lock_vm(vmid)
        vm = vm_on_node(world, ctx.node, vmid)
        check_lock(vm)
        started = world.clock.now()
        if not world.nodes[target].reachable:
            await ctx.sleep(3)
            ctx.log(
                "ERROR: migration aborted (duration 00:00:03): "
                "Can't connect to destination address using public key"
            )
            raise PveError("migration aborted")
        blocker = pci.migration_blocker(world, vm, target, online=online_mode)
        if blocker is not None:
            ctx.log(f"ERROR: migration aborted (duration 00:00:00): {blocker}")
            raise PveError("migration aborted")
        vm.set_lock("migrate", ctx.task.text)
        try:
            await _migrate(ctx, vm, target, online_mode, with_local_disks)
        except Exception:
            vm.clear_lock()
            raise
        duration = int(world.clock.now() - started)
        ctx.log(f"migration finished successfully (duration {_hms(duration)})")

    return worker


async def _migrate(
    ctx: TaskContext, vm: Vm, target: str, online_mode: bool, with_local_disks: bool
) -> None:
    world = ctx.world
    source = vm.node
    ctx.log(f"starting migration of VM {vm.vmid} to node '{target}' ({world.nodes[target].ip})")
    synced_to = {j.target for j in world.replication.jobs_of(vm.vmid) if j.state.last_sync}
    replicated = set(replicated_volids(world, vm, noerr=True)) if target in synced_to else set()
    for volume in world.volumes.of_vm(vm.vmid):
        if not volume.scope:
            continue
        if volume.volid in replicated:
            ctx.log(f"found local, replicated disk '{volume.volid}' (attached)")
            await ctx.sleep(1)
            continue
        storage = world.storages[volume.storage]
        if "cloudinit" in volume.name:
            # QemuMigrate copies a generated (cloud-init) drive even in a live migration.
            ctx.log(f"found generated disk '{volume.volid}' (in current VM config)")
            st.check_space(world, storage, target, volume.used, st.no_space_copy(volume.size))
            continue
        ctx.log(f"found local disk '{volume.volid}' (attached)")
        if online_mode and not with_local_disks:
            # QemuMigrate.pm refuses inside the task (phase 1), as PVE logs it.
            ctx.log(
                f"can't migrate local disk '{volume.volid}': can't live migrate attached "
                "local disks without with-local-disks option"
            )
            ctx.log("ERROR: Failed to sync data - can't migrate VM - check log")
            ctx.log("aborting phase 1 - cleanup resources")
            raise PveError("migration aborted")
        st.check_space(world, storage, target, volume.used, st.no_space_copy(volume.size))
        await ctx.sleep(world.timings.migrate_per_32g * volume.size / (32 * GIB))
    if online_mode:
        ctx.log(f"starting VM {vm.vmid} on remote node '{target}'")
    await ctx.sleep(world.timings.migrate_base)
    if online_mode:
        ctx.log("migration status: completed")
    for volume in world.volumes.of_vm(vm.vmid):
        if volume.scope:
            world.volumes.remove(volume)
            volume.scope = target
            world.volumes.add(volume)
    vm.node = target
    vm.clear_lock()
    world.replication.switch_direction(vm.vmid, source, target)
    world.changed()


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
