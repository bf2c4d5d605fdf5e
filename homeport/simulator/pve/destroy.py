"""`DELETE /nodes/{node}/qemu/{vmid}` (`qmdestroy`), following `PVE::API2::Qemu::destroy_vm`.

Early checks run synchronously and again under the flock in the task: protection, HA or
replication without `purge`, running. The task writes `lock: destroyed`, frees every volume
the config references (plus, with `destroy-unreferenced-disks`, every other volume of the
vmid), drops firewall rules, tells the guest runtime, and removes the config last. `purge`
also removes the vmid from backup jobs, replication jobs and HA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeport.simulator.errors import PveError
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve import storage as st
from homeport.simulator.pve.tasks import Task, TaskContext, Worker
from homeport.simulator.pve.vms import Vm, check_lock, vm_on_node

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World


def request_destroy(
    world: World,
    node: str,
    vmid: int,
    user: str,
    *,
    purge: bool,
    unreferenced: bool,
    skiplock: bool,
) -> Task:
    world.require_quorum()
    vm = vm_on_node(world, node, vmid)
    _early_checks(world, vm, purge)
    worker = _worker(vmid, purge=purge, unreferenced=unreferenced, skiplock=skiplock)
    return world.tasks.spawn(world, node, "qmdestroy", str(vmid), user, worker)


def _early_checks(world: World, vm: Vm, purge: bool) -> None:
    if vm.conf.get("protection"):
        raise PveError(f"can't remove VM {vm.vmid} - protection mode enabled")
    if not purge:
        if world.ha.managed(vm.vmid):
            raise PveError(
                f"unable to remove VM {vm.vmid} - used in HA resources and purge parameter not set."
            )
        for job in world.replication.jobs_of(vm.vmid):
            raise PveError(
                f"There is a replication job '{job.id}' for guest '{vm.vmid}' - Please remove that first."
            )
    if vm.running:
        raise PveError(f"VM {vm.vmid} is running - destroy failed")


def _worker(vmid: int, *, purge: bool, unreferenced: bool, skiplock: bool) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        world = ctx.world
        await ctx.lock_vm(vmid)
        vm = vm_on_node(world, ctx.node, vmid)
        _early_checks(world, vm, purge)
        check_lock(vm, skiplock)
        _check_no_linked_clones(world, vm)
        vm.set_lock("destroyed", ctx.task.text)
        await ctx.sleep(world.timings.destroy)
        for volid in sorted(set(qc.drive_volumes(vm.conf).values())):
            volume = st.find_volume(world, vm.node, volid)
            if volume is not None and volume.vmid == vmid:
                ctx.log(f'  Logical volume "{volume.name}" successfully removed')
                world.volumes.remove(volume)
        if unreferenced:
            for volume in world.volumes.of_vm(vmid):
                world.volumes.remove(volume)
        if purge:
            ctx.log(f"purging VM {vmid} from related configurations..")
            world.purge_vmid(vmid)
        world.guests.destroyed(vmid)
        del world.vms[vmid]
        world.changed()

    return worker


def _check_no_linked_clones(world: World, vm: Vm) -> None:
    volids = set(qc.drive_volumes(vm.conf).values())
    for volume in world.volumes.all():
        if volume.parent in volids:
            base = volume.parent.split(":", 1)[1]
            raise PveError(f"base volume '{base}' is still in use by linked cloned")
