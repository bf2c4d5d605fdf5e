"""`POST|PUT .../config`: PVE's update path, pending changes and hotplug.

The synchronous part (under the VM's flock) checks digest and lock, allocates new disks,
fills in MACs and writes every change into `[PENDING]`; applying then happens at once
(PUT, or a stopped VM) or in a `qmconfig` task (POST). On a running VM only hot-pluggable
changes apply; the rest stays pending until the next start (`power.start_in_task` calls
`apply_pending`). Also `GET .../pending` and the cloud-init drive endpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError, param_error
from homeport.simulator.propstring import format_size, parse_propstring
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve import storage as st
from homeport.simulator.pve.guests import cloudinit_values
from homeport.simulator.pve.locks import vm_lock_path
from homeport.simulator.pve.qemu_options import is_known_key
from homeport.simulator.pve.tasks import TaskContext
from homeport.simulator.pve.vms import Vm, check_lock, vm_on_node

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

GIB = 1 << 30
CONTROL_KEYS = ("digest", "delete", "revert", "skiplock", "force", "background_delay")


async def update_config(
    world: World, node: str, vmid: int, params: dict[str, Any], user: str, *, sync: bool
) -> str | None:
    """The whole update call; returns a UPID for POST, None for PUT (or a quick POST)."""
    control = {k: params.pop(k) for k in CONTROL_KEYS if k in params}
    deletes = _split(control.get("delete"))
    reverts = _split(control.get("revert"))
    if not params and not deletes and not reverts:
        raise PveError("no options specified")
    for key in deletes:
        if key in params:
            raise param_error(
                "delete", f"you can't use '-{key}' and -delete {key}' at the same time"
            )
    owner = object()
    async with world.locks.hold(vm_lock_path(vmid), owner, timeout=world.timings.lock_timeout):
        vm = vm_on_node(world, node, vmid)
        world.require_quorum()
        if control.get("digest") and control["digest"] != vm.digest():
            raise PveError("checksum mismatch (file change by other user?)")
        check_lock(vm, bool(control.get("skiplock")))
        _check_balloon(vm, params)
        write_pending(world, vm, params, deletes, reverts, force=bool(control.get("force")))
        if sync:
            apply_pending(world, vm, hotplug_only=vm.running)
            return None
    task = world.tasks.spawn(world, node, "qmconfig", str(vmid), user, _apply_worker(vmid))
    delay = control.get("background_delay")
    if delay:
        await world.clock.wait(world.tasks.wait(task.text), float(delay))
        if task.status == "stopped":
            if task.ok:
                return None
            raise PveError(f"failed to update VM {vmid}: {task.exitstatus}")
    return task.text


def _apply_worker(vmid: int) -> Any:
    async def worker(ctx: TaskContext) -> None:
        await ctx.lock_vm(vmid)
        vm = vm_on_node(ctx.world, ctx.node, vmid)
        await ctx.sleep(ctx.world.timings.config_task)
        apply_pending(ctx.world, vm, hotplug_only=vm.running)

    return worker


def _split(value: Any) -> list[str]:
    return [k for k in str(value or "").replace(";", ",").split(",") if k]


def _check_balloon(vm: Vm, params: dict[str, Any]) -> None:
    balloon = params.get("balloon")
    memory = qc.memory_mib({"memory": params.get("memory", vm.effective().get("memory", "512"))})
    if balloon is not None and int(balloon) > memory:
        raise PveError("balloon value too large (must be smaller than assigned memory)")


def write_pending(
    world: World,
    vm: Vm,
    changes: dict[str, Any],
    deletes: list[str],
    reverts: list[str],
    *,
    force: bool,
) -> None:
    for key in deletes:
        if not _known_key(key):
            raise param_error("delete", f"unknown option '{key}'")
    for key in reverts:
        vm.pending.pop(key, None)
        vm.pending_delete.pop(key, None)
    for key in sorted(changes):
        value = prepare_value(world, vm, key, changes[key])
        vm.pending_delete.pop(key, None)
        if vm.conf.get(key) == value:
            vm.pending.pop(key, None)
        else:
            vm.pending[key] = value
    for key in deletes:
        vm.pending.pop(key, None)
        if key in vm.conf:
            vm.pending_delete[key] = 2 if force else 1
    world.changed()


def _known_key(key: str) -> bool:
    return is_known_key(key)


def prepare_value(world: World, vm: Vm, key: str, value: Any) -> qc.ConfigValue:
    """Normalise a new value the way PVE writes it (allocating new disks on the way)."""
    if qc.is_drive_key(key):
        return _prepare_drive(world, vm, str(value))
    if qc.is_net_key(key):
        return qc.net_with_mac(str(value), world.rng)
    if key == "vmgenid" and str(value) == "1":
        return qc.random_uuid(world.rng)
    return qc.normalize(key, qc.typed(key, value))


def _prepare_drive(world: World, vm: Vm, value: str) -> str:
    parts = parse_propstring(value, "file")
    file = parts.get("file", "")
    if file.endswith(":cloudinit"):
        storage = st.storage_or_error(world, file.split(":", 1)[0])
        name = st.cloudinit_name(storage, vm.vmid)
        volume = st.allocate(world, storage, vm.node, vm.vmid, st.CLOUDINIT_SIZE, name=name)
        parts.update(file=volume.volid, media="cdrom")
        return qc.format_propstring(parts, "file")
    new = st.parse_new_disk(file)
    if new is None:
        if ":" in file and file != "none":
            st.storage_or_error(world, file.split(":", 1)[0])
        return qc.format_propstring(parts, "file")
    storage = st.storage_or_error(world, new[0])
    size = int(new[1] * GIB)
    volume = st.allocate(world, storage, vm.node, vm.vmid, size)
    parts.pop("import-from", None)
    parts.update(file=volume.volid, size=format_size(size))
    return qc.format_propstring(parts, "file")


def hotpluggable(vm: Vm, key: str) -> bool:
    features = _hotplug_features(vm)
    if key in qc.FAST_PLUG or qc.is_unused_key(key) or key == "balloon":
        return True
    if qc.is_net_key(key):
        return "network" in features
    if qc.is_drive_key(key):
        value = str(vm.pending.get(key, vm.conf.get(key, "")))
        return qc.is_cdrom(value) or "disk" in features
    if qc.is_cloudinit_key(key):
        return "cloudinit" in features
    return (key in {"cores", "vcpus"} and "cpu" in features) or (
        key == "memory" and "memory" in features
    )


def _hotplug_features(vm: Vm) -> set[str]:
    value = str(vm.conf.get("hotplug", "network,disk,usb"))
    if value in ("0", ""):
        return set()
    if value == "1":
        return {"network", "disk", "usb"}
    return set(value.split(","))


def apply_pending(world: World, vm: Vm, *, hotplug_only: bool) -> None:
    """Move pending changes into the config (only hot-pluggable ones on a running VM)."""
    for key in sorted(vm.pending_delete):
        if not hotplug_only or hotpluggable(vm, key):
            force = vm.pending_delete.pop(key) == 2
            _delete_key(world, vm, key, force=force)
    for key in sorted(vm.pending):
        if not hotplug_only or hotpluggable(vm, key):
            _set_key(world, vm, key, vm.pending.pop(key))
    world.changed()


def _set_key(world: World, vm: Vm, key: str, value: qc.ConfigValue) -> None:
    old = vm.conf.get(key)
    if old is not None and qc.is_drive_key(key):
        old_file = qc.drive_file(str(old))
        if old_file != qc.drive_file(str(value)) and not qc.is_cdrom(str(old)):
            _detach_volume(world, vm, old_file, cloudinit=qc.is_cloudinit_drive(str(old)))
    vm.conf[key] = value


def _delete_key(world: World, vm: Vm, key: str, *, force: bool) -> None:
    old = vm.conf.pop(key, None)
    if old is None:
        return
    if qc.is_unused_key(key):
        _free(world, vm, str(old))
    elif qc.is_drive_key(key) and not qc.is_cdrom(str(old)):
        file = qc.drive_file(str(old))
        if force:
            _free(world, vm, file)
        else:
            _detach_volume(world, vm, file, cloudinit=qc.is_cloudinit_drive(str(old)))


def _detach_volume(world: World, vm: Vm, volid: str, *, cloudinit: bool) -> None:
    if cloudinit:
        _free(world, vm, volid)
        return
    if ":" not in volid or volid in {str(v) for k, v in vm.conf.items() if qc.is_unused_key(k)}:
        return
    n = 0
    while f"unused{n}" in vm.conf:
        n += 1
    vm.conf[f"unused{n}"] = volid


def _free(world: World, vm: Vm, volid: str) -> None:
    volume = st.find_volume(world, vm.node, volid)
    if volume is not None and volume.vmid == vm.vmid:
        world.volumes.remove(volume)


def pending_view(vm: Vm) -> list[dict[str, Any]]:
    items = []
    for key in sorted(set(vm.conf) | set(vm.pending) | set(vm.pending_delete)):
        item: dict[str, Any] = {"key": key}
        if key in vm.conf:
            item["value"] = qc.MASKED if key == "cipassword" else vm.conf[key]
        if key in vm.pending:
            item["pending"] = qc.MASKED if key == "cipassword" else vm.pending[key]
        if key in vm.pending_delete:
            item["delete"] = vm.pending_delete[key]
        items.append(item)
    return items


async def regenerate_cloudinit(world: World, node: str, vmid: int) -> None:
    """`PUT .../cloudinit`: apply pending cloud-init keys and rebuild the drive."""
    owner = object()
    async with world.locks.hold(vm_lock_path(vmid), owner, timeout=world.timings.lock_timeout):
        vm = vm_on_node(world, node, vmid)
        check_lock(vm)
        for key in [k for k in vm.pending if qc.is_cloudinit_key(k) or k == "name"]:
            _set_key(world, vm, key, vm.pending.pop(key))
        for key in [k for k in vm.pending_delete if qc.is_cloudinit_key(k)]:
            vm.pending_delete.pop(key)
            vm.conf.pop(key, None)
        vm.ci_generated = cloudinit_values(vm.conf)
        world.changed()


def cloudinit_view(vm: Vm) -> list[dict[str, Any]]:
    generated = vm.ci_generated
    wanted = cloudinit_values(vm.effective())
    items = []
    for key in sorted(set(generated) | set(wanted)):
        item: dict[str, Any] = {"key": key}
        if key in generated:
            item["value"] = qc.MASKED if key == "cipassword" else generated[key]
        if key not in wanted:
            item["delete"] = 1
        elif generated.get(key) != wanted[key]:
            item["pending"] = qc.MASKED if key == "cipassword" else wanted[key]
        items.append(item)
    return items
