"""VM power: `qmstart`, `qmstop`, `qmshutdown`, `qmreboot` (and `hastart`/`hastop`).

Runtime failures (`VM 100 already running`, `VM is locked (clone)`) happen inside the task,
as in PVE; only `reboot` of a stopped VM fails synchronously. Starting applies pending
changes and regenerates the cloud-init drive, then `guests` boots the guest after the
simulated boot time. HA-managed VMs only get their requested state changed here; `ha`
carries it out on its next round. `nodes.recover` calls `autostart`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeport.simulator.errors import PveError
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve.config_update import apply_pending
from homeport.simulator.pve.guests import cloudinit_values
from homeport.simulator.pve.pci import check_start
from homeport.simulator.pve.tasks import Task, TaskContext, Worker
from homeport.simulator.pve.vms import Vm, check_lock, vm_on_node

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

DEFAULT_SHUTDOWN_TIMEOUT = 60


def request_start(world: World, vm: Vm, user: str, *, skiplock: bool = False) -> Task:
    if world.ha.managed(vm.vmid):
        return _ha_request(world, vm, user, "hastart", "started")
    return world.tasks.spawn(
        world, vm.node, "qmstart", str(vm.vmid), user, start_worker(vm.vmid, skiplock)
    )


def request_stop(world: World, vm: Vm, user: str, *, skiplock: bool = False) -> Task:
    if world.ha.managed(vm.vmid):
        return _ha_request(world, vm, user, "hastop", "stopped")
    return world.tasks.spawn(
        world, vm.node, "qmstop", str(vm.vmid), user, stop_worker(vm.vmid, skiplock)
    )


def request_shutdown(
    world: World, vm: Vm, user: str, *, timeout: int | None, force_stop: bool, skiplock: bool
) -> Task:
    if world.ha.managed(vm.vmid):
        return _ha_request(world, vm, user, "hastop", "stopped")
    worker = _shutdown(vm.vmid, timeout, force_stop, skiplock)
    return world.tasks.spawn(world, vm.node, "qmshutdown", str(vm.vmid), user, worker)


def request_reboot(world: World, vm: Vm, user: str, *, timeout: int | None) -> Task:
    if not vm.running:
        raise PveError(f"VM {vm.vmid} not running")
    return world.tasks.spawn(
        world, vm.node, "qmreboot", str(vm.vmid), user, _reboot(vm.vmid, timeout)
    )


def _ha_request(world: World, vm: Vm, user: str, kind: str, state: str) -> Task:
    sid = f"vm:{vm.vmid}"

    async def worker(ctx: TaskContext) -> None:
        ctx.log(f"Requesting HA {'start' if state == 'started' else 'stop'} for VM {vm.vmid}")
        world.ha.set_state(sid, state)
        await ctx.sleep(0.5)

    return world.tasks.spawn(world, vm.node, kind, str(vm.vmid), user, worker)


def start_worker(vmid: int, skiplock: bool = False) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        await ctx.lock_vm(vmid)
        vm = vm_on_node(ctx.world, ctx.node, vmid)
        await start_in_task(ctx, vm, skiplock=skiplock)

    return worker


async def start_in_task(ctx: TaskContext, vm: Vm, *, skiplock: bool = False) -> None:
    check_lock(vm, skiplock)
    if vm.running:
        raise PveError(f"VM {vm.vmid} already running")
    if vm.is_template:
        raise PveError("you can't start a vm if it's a template")
    apply_pending(ctx.world, vm, hotplug_only=False)
    check_start(ctx.world, vm)
    if any(qc.is_cloudinit_drive(str(v)) for k, v in vm.conf.items() if qc.is_drive_key(k)):
        ctx.log("generating cloud-init ISO")
    vm.ci_generated = cloudinit_values(vm.conf)
    await ctx.sleep(ctx.world.timings.start)
    power_on(ctx.world, vm)


def stop_worker(vmid: int, skiplock: bool = False) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        await ctx.lock_vm(vmid)
        vm = vm_on_node(ctx.world, ctx.node, vmid)
        check_lock(vm, skiplock)
        if not vm.running:
            return
        await ctx.sleep(ctx.world.timings.stop)
        power_off(ctx.world, vm)
        apply_pending(ctx.world, vm, hotplug_only=False)

    return worker


def _shutdown(vmid: int, timeout: int | None, force_stop: bool, skiplock: bool) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        await ctx.lock_vm(vmid)
        vm = vm_on_node(ctx.world, ctx.node, vmid)
        check_lock(vm, skiplock)
        if not vm.running:
            return
        await shutdown_in_task(ctx, vm, timeout, force_stop)

    return worker


async def shutdown_in_task(ctx: TaskContext, vm: Vm, timeout: int | None, force_stop: bool) -> None:
    limit = timeout if timeout is not None else _default_timeout(vm)
    needed = ctx.world.timings.shutdown
    if needed > limit:
        await ctx.sleep(limit)
        if not force_stop:
            raise PveError("VM quit/powerdown failed - got timeout")
        ctx.log("VM still running - terminating now with SIGTERM")
    else:
        await ctx.sleep(needed)
    power_off(ctx.world, vm)
    apply_pending(ctx.world, vm, hotplug_only=False)


def _default_timeout(vm: Vm) -> int:
    down = qc.startup_order(vm.conf)[2]
    return down if down is not None else DEFAULT_SHUTDOWN_TIMEOUT


def _reboot(vmid: int, timeout: int | None) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        await ctx.lock_vm(vmid)
        vm = vm_on_node(ctx.world, ctx.node, vmid)
        check_lock(vm)
        if not vm.running:
            raise PveError(f"VM {vmid} not running")
        await shutdown_in_task(ctx, vm, timeout, force_stop=False)
        await start_in_task(ctx, vm)

    return worker


def power_on(world: World, vm: Vm) -> None:
    vm.status = "running"
    vm.started_at = world.clock.now()
    vm.pid = world.nodes[vm.node].next_pid(world.rng)
    vm.stale_running = False
    world.guests.started(vm)
    world.changed()


def power_off(world: World, vm: Vm) -> None:
    vm.status = "stopped"
    vm.started_at = None
    vm.pid = None
    world.guests.halted(vm)
    world.changed()


async def autostart(world: World, node: str) -> None:
    """A node came back: after it booted, start its `onboot` guests in startup order."""
    await world.clock.sleep(world.timings.node_boot)
    guests = [
        vm
        for vm in world.vms.values()
        if vm.node == node and vm.conf.get("onboot") == 1 and not vm.is_template
    ]
    for vm in sorted(guests, key=lambda v: (qc.startup_order(v.conf)[0], v.vmid)):
        if world.nodes[node].crashed or vm.running or world.ha.managed(vm.vmid):
            continue
        task = world.tasks.spawn(
            world, node, "qmstart", str(vm.vmid), "root@pam", start_worker(vm.vmid, False)
        )
        await world.tasks.wait(task.text)
        await world.clock.sleep(qc.startup_order(vm.conf)[1])
