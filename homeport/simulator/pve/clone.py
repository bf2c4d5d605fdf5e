"""`POST .../qemu/{vmid}/clone` (`qmclone`), following `PVE::API2::Qemu::clone_vm`.

Synchronous checks first (source on this node and unlocked, newid free, linked/full rules,
shared storage for `target=`). The worker then holds a flock on the source (shared when it
is stopped, 1 s timeout) and on the new vmid (1 s) for the whole clone, writes the new
config as `lock: clone`, copies every drive (full copies take simulated time by size),
gives the clone fresh MACs, smbios uuid and vmgenid, and moves it to `target` at the end.
On failure it frees the new volumes and removes the config: `clone failed: <reason>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError, param_error
from homeport.simulator.propstring import parse_propstring
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve import storage as st
from homeport.simulator.pve.tasks import Task, TaskContext, Worker
from homeport.simulator.pve.vms import Vm, check_lock, vm_on_node

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

GIB = 1 << 30
DROPPED = ("lock", "template", "parent", "vmstate", "digest", "snapstate")


@dataclass(frozen=True)
class CloneRequest:
    node: str
    vmid: int
    newid: int
    name: str | None
    description: str | None
    pool: str | None
    storage: str | None
    format: str | None
    full: bool
    target: str | None


def request_clone(world: World, node: str, vmid: int, params: dict[str, Any], user: str) -> Task:
    request = _check(world, node, vmid, params)
    worker = _worker(request)
    return world.tasks.spawn(world, node, "qmclone", str(vmid), user, worker)


def _check(world: World, node: str, vmid: int, params: dict[str, Any]) -> CloneRequest:
    world.require_quorum()
    source = vm_on_node(world, node, vmid)
    check_lock(source)
    newid = int(params["newid"])
    _check_newid(world, node, newid)
    if params.get("snapname"):
        raise PveError(f"snapshot '{params['snapname']}' does not exist")
    target = params.get("target") or None
    if target == node:
        target = None
    if target is not None and target not in world.nodes:
        raise PveError(f"no such cluster node '{target}'")
    full = bool(params.get("full", 0 if source.is_template else 1))
    storage = params.get("storage")
    if storage is not None and not full:
        raise PveError("parameter 'storage' not allowed for linked clones")
    if params.get("format") is not None and not full:
        raise PveError("parameter 'format' not allowed for linked clones")
    if not full and not source.is_template:
        key = next(iter(_drives(source)), "scsi0")
        raise PveError(f"Linked clone feature is not supported for drive '{key}'")
    if storage is not None:
        target_storage = st.storage_or_error(world, storage)
        if not target_storage.supports("images"):
            raise param_error("storage", f"storage '{storage}' does not support vm images")
    _check_target(world, source, target, storage)
    return CloneRequest(
        node=node,
        vmid=vmid,
        newid=newid,
        name=params.get("name"),
        description=params.get("description"),
        pool=params.get("pool"),
        storage=storage,
        format=params.get("format"),
        full=full,
        target=target,
    )


def _check_newid(world: World, node: str, newid: int) -> None:
    existing = world.vms.get(newid)
    if existing is None:
        return
    if existing.node == node:
        raise PveError(f"unable to create VM {newid}: config file already exists")
    raise PveError(f"VM {newid} already exists on node '{existing.node}'")


def _check_target(world: World, source: Vm, target: str | None, storage: str | None) -> None:
    if target is None:
        return
    for value in _drives(source).values():
        file = qc.drive_file(value)
        source_storage = world.storages.get(file.split(":", 1)[0])
        if source_storage is not None and not source_storage.shared:
            raise PveError(f"can't clone VM to node '{target}' (VM uses local storage)")
    if storage is not None and not world.storages[storage].shared:
        raise PveError(f"can't clone to non-shared storage '{storage}'")


def _drives(vm: Vm) -> dict[str, str]:
    return {
        k: str(v)
        for k, v in sorted(vm.conf.items())
        if qc.is_drive_key(k) and not qc.is_cdrom(str(v)) and ":" in qc.drive_file(str(v))
    }


def _worker(request: CloneRequest) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        world = ctx.world
        source = world.vms.get(request.vmid)
        running = source is not None and source.running
        await ctx.lock_vm(request.vmid, exclusive=running, timeout=world.timings.clone_lock_timeout)
        await ctx.lock_vm(request.newid, timeout=world.timings.clone_lock_timeout)
        source = vm_on_node(world, request.node, request.vmid)
        check_lock(source)
        _check_newid(world, request.node, request.newid)
        clone = Vm(vmid=request.newid, node=request.node, conf={})
        clone.set_lock("clone", ctx.task.text)
        world.vms[request.newid] = clone
        world.changed()
        try:
            await _copy(ctx, request, source, clone)
        except Exception as err:
            _discard(world, clone)
            raise PveError(f"clone failed: {_message(err)}") from err

    return worker


async def _copy(ctx: TaskContext, request: CloneRequest, source: Vm, clone: Vm) -> None:
    world = ctx.world
    conf = _new_config(world, request, source)
    if source.pending or source.pending_delete:
        ctx.warn("pending changes of the source VM are not cloned")
    for key, value in _drives(source).items():
        conf[key] = await _copy_drive(ctx, request, key, value)
    for key in [k for k in conf if qc.is_unused_key(k)]:
        del conf[key]
    await world.guests.runtime.clone_disk(request.vmid, request.newid)
    clone.conf = conf
    clone.lock_task = None
    clone.address = world.guests.allocate_address()
    clone.pool = request.pool
    if request.target is not None:
        _move_volumes(world, clone, request.target)
        clone.node = request.target
    world.changed()


def _new_config(world: World, request: CloneRequest, source: Vm) -> qc.Config:
    conf: qc.Config = {k: v for k, v in source.conf.items() if k not in DROPPED}
    conf["name"] = request.name or f"Copy-of-VM-{source.name}"
    if request.description is not None:
        conf["description"] = request.description.rstrip()
    for key in [k for k in conf if qc.is_net_key(k)]:
        conf[key] = qc.net_with_mac(str(conf[key]), world.rng, fresh=True)
    smbios = parse_propstring(str(conf.get("smbios1", "")))
    smbios["uuid"] = qc.random_uuid(world.rng)
    conf["smbios1"] = qc.format_propstring(smbios)
    if "vmgenid" in conf:
        conf["vmgenid"] = qc.random_uuid(world.rng)
    return conf


async def _copy_drive(ctx: TaskContext, request: CloneRequest, key: str, value: str) -> str:
    world = ctx.world
    file = qc.drive_file(value)
    source_volume = st.find_volume(world, request.node, file)
    if source_volume is None:
        raise PveError(f"volume '{file}' does not exist")
    storage = world.storages[request.storage or source_volume.storage]
    if qc.is_cloudinit_drive(value):
        ctx.log(f"create full clone of drive {key} ({file})")
        name = st.cloudinit_name(storage, request.newid)
        volume = st.allocate(
            world, storage, request.node, request.newid, st.CLOUDINIT_SIZE, name=name
        )
        return qc.set_drive_file(value, volume.volid)
    if request.full:
        return await _full_copy(ctx, request, key, value, source_volume, storage)
    ctx.log(f"create linked clone of drive {key} ({file})")
    volume = st.allocate(
        world, storage, request.node, request.newid, source_volume.size, parent=source_volume
    )
    await ctx.sleep(world.timings.linked_clone)
    return qc.set_drive_file(value, volume.volid)


async def _full_copy(
    ctx: TaskContext,
    request: CloneRequest,
    key: str,
    value: str,
    source: st.Volume,
    storage: st.Storage,
) -> str:
    world = ctx.world
    ctx.log(f"create full clone of drive {key} ({source.volid})")
    volume = st.allocate(
        world, storage, request.node, request.newid, source.size, used=source.used, copy=True
    )
    if request.format and storage.is_file:
        volume.format = request.format
    seconds = world.timings.full_clone_per_32g * source.size / (32 * GIB)
    for step in (25, 50, 75, 100):
        await ctx.sleep(seconds / 4)
        done = source.size * step / 100 / GIB
        ctx.log(f"transferred {done:.1f} GiB of {source.size / GIB:.1f} GiB ({step:.2f}%)")
    return qc.set_drive_file(value, volume.volid)


def _move_volumes(world: World, clone: Vm, target: str) -> None:
    for volume in world.volumes.of_vm(clone.vmid):
        if volume.scope and volume.scope != target:
            world.volumes.remove(volume)
            volume.scope = target
            world.volumes.add(volume)


def _discard(world: World, clone: Vm) -> None:
    for volume in world.volumes.of_vm(clone.vmid):
        world.volumes.remove(volume)
    if world.vms.get(clone.vmid) is clone:
        del world.vms[clone.vmid]
    world.changed()


def _message(err: Exception) -> str:
    return err.message if isinstance(err, PveError) else str(err)
