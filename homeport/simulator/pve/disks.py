"""Disk operations on an existing VM: `PUT .../resize` (`resize`) and `POST .../template`.

Resize runs PVE's whole update under the flock inside the task (digest, lock, disk exists,
not a cdrom, never shrink; the same size is a no-op OK). Template conversion renames every
image volume to `base-<vmid>-disk-N` and sets `template: 1`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError
from homeport.simulator.propstring import format_size, parse_propstring, parse_size
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve import storage as st
from homeport.simulator.pve.tasks import Task, TaskContext, Worker
from homeport.simulator.pve.vms import check_lock, vm_on_node

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World


def request_resize(world: World, node: str, vmid: int, params: dict[str, Any], user: str) -> Task:
    vm_on_node(world, node, vmid)
    return world.tasks.spawn(world, node, "resize", str(vmid), user, _resize(vmid, params))


def _resize(vmid: int, params: dict[str, Any]) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        world = ctx.world
        await ctx.lock_vm(vmid)
        vm = vm_on_node(world, ctx.node, vmid)
        if params.get("digest") and params["digest"] != vm.digest():
            raise PveError("checksum mismatch (file change by other user?)")
        check_lock(vm, bool(params.get("skiplock")))
        disk = str(params["disk"])
        value = vm.conf.get(disk)
        if value is None:
            raise PveError(f"disk '{disk}' does not exist")
        if qc.is_cdrom(str(value)) or qc.is_cloudinit_drive(str(value)):
            raise PveError("you can't resize a cdrom")
        parts = parse_propstring(str(value), "file")
        volume = st.find_volume(world, vm.node, parts["file"])
        if volume is None:
            raise PveError(f"volume '{parts['file']}' does not exist")
        new_size = _new_size(str(params["size"]), volume.size)
        if new_size < volume.size:
            raise PveError("shrinking disks is not supported")
        if new_size == volume.size:
            ctx.log(f"VM {vmid} disk {disk} already has size {format_size(new_size)}")
            return
        await ctx.sleep(world.timings.resize)
        ctx.log(
            f"  Size of logical volume pve/{volume.name} changed from "
            f"{volume.size / (1 << 30):.2f} GiB to {new_size / (1 << 30):.2f} GiB."
        )
        volume.size = new_size
        parts["size"] = format_size(new_size)
        vm.conf[disk] = qc.format_propstring(parts, "file")
        world.changed()

    return worker


def _new_size(text: str, current: int) -> int:
    size = parse_size(text.lstrip("+"))
    return current + size if text.startswith("+") else size


def request_template(world: World, node: str, vmid: int, user: str) -> Task:
    world.require_quorum()
    vm = vm_on_node(world, node, vmid)
    check_lock(vm)
    if vm.is_template:
        raise PveError("you can't convert a template to a template")
    if vm.running:
        raise PveError("you can't convert a VM to template if VM is running")
    return world.tasks.spawn(world, node, "qmtemplate", str(vmid), user, _template(vmid))


def _template(vmid: int) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        world = ctx.world
        await ctx.lock_vm(vmid)
        vm = vm_on_node(world, ctx.node, vmid)
        check_lock(vm)
        if vm.running:
            raise PveError("you can't convert a VM to template if VM is running")
        await ctx.sleep(world.timings.template)
        for key, value in list(vm.conf.items()):
            if (
                qc.is_drive_key(key)
                and not qc.is_cdrom(str(value))
                and not qc.is_cloudinit_drive(str(value))
            ):
                vm.conf[key] = _rename_to_base(ctx, world, vm.node, str(value))
        vm.conf["template"] = 1
        world.changed()

    return worker


def _rename_to_base(ctx: TaskContext, world: World, node: str, value: str) -> str:
    file = qc.drive_file(value)
    volume = st.find_volume(world, node, file)
    if volume is None or volume.name.startswith("base-") or "/base-" in volume.name:
        return value
    new_name = volume.name.replace("vm-", "base-", 1)
    ctx.log(f'  Renamed "{volume.name}" to "{new_name}" in volume group "pve"')
    world.volumes.remove(volume)
    volume.volid = f"{volume.storage}:{new_name}"
    world.volumes.add(volume)
    return qc.set_drive_file(value, volume.volid)
