"""`POST /nodes/{node}/qemu`: create a VM (`qmcreate`), or restore one when `archive` is set.

The synchronous part refuses a vmid that exists anywhere in the cluster and writes a config
holding only `lock: create`; the task allocates the disks (`STORAGE:SIZE`, `STORAGE:cloudinit`),
writes the real config and optionally starts the VM. A failed create removes the config again.
Restore lives in `backups`; disk allocation in `config_update.prepare_value`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve import storage as st
from homeport.simulator.pve.config_update import prepare_value
from homeport.simulator.pve.tasks import Task, TaskContext, Worker
from homeport.simulator.pve.vms import Vm

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

IGNORED = ("storage", "unique", "force", "bwlimit", "live-restore")
QEMU_VERSION = "9.2.0"


def create_vm(world: World, node: str, params: dict[str, Any], user: str) -> Task:
    params = dict(params)
    vmid = int(params.pop("vmid"))
    if params.get("archive"):
        from homeport.simulator.pve.backups import restore_vm

        return restore_vm(world, node, vmid, params, user)
    start = bool(params.pop("start", 0))
    ha_managed = bool(params.pop("ha-managed", 0))
    pool = params.pop("pool", None)
    for key in IGNORED:
        params.pop(key, None)
    world.require_quorum()
    existing = world.vms.get(vmid)
    if existing is not None:
        raise PveError(
            f"unable to create VM {vmid} - VM {vmid} already exists on node '{existing.node}'"
        )
    check_new_disks(world, params)
    vm = Vm(vmid=vmid, node=node, conf={"lock": "create"}, address=world.guests.allocate_address())
    vm.pool = pool
    world.vms[vmid] = vm
    task = world.tasks.spawn(
        world, node, "qmcreate", str(vmid), user, _worker(vm, params, start, ha_managed)
    )
    vm.lock_task = task.text
    world.changed()
    return task


def check_new_disks(world: World, params: dict[str, Any]) -> None:
    for key, value in params.items():
        if qc.is_drive_key(key):
            file = qc.drive_file(str(value))
            new = st.parse_new_disk(file) or (
                (file.split(":")[0], 0.0) if file.endswith(":cloudinit") else None
            )
            if new is not None:
                storage = st.storage_or_error(world, new[0])
                if not storage.supports("images"):
                    raise PveError(f"storage '{storage.id}' does not support vm images")


def _worker(vm: Vm, params: dict[str, Any], start: bool, ha_managed: bool) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        world = ctx.world
        try:
            conf = build_config(world, vm, params)
            await ctx.sleep(world.timings.create)
        except Exception as err:
            _discard(world, vm)
            raise PveError(f"unable to create VM {vm.vmid} - {_message(err)}") from err
        vm.conf = conf
        vm.lock_task = None
        world.changed()
        if ha_managed:
            world.ha.add(f"vm:{vm.vmid}", {"state": "started"})
        if start:
            from homeport.simulator.pve.power import start_in_task

            ctx.log("Execute autostart")
            await ctx.lock_vm(vm.vmid)
            await start_in_task(ctx, vm)

    return worker


def build_config(world: World, vm: Vm, params: dict[str, Any]) -> qc.Config:
    conf: qc.Config = {}
    for key in sorted(params):
        conf[key] = prepare_value(world, vm, key, params[key])
    conf.setdefault("smbios1", f"uuid={qc.random_uuid(world.rng)}")
    if "vmgenid" not in conf:
        conf["vmgenid"] = qc.random_uuid(world.rng)
    elif conf["vmgenid"] == "0":
        del conf["vmgenid"]
    conf["meta"] = f"creation-qemu={QEMU_VERSION},ctime={int(world.clock.now())}"
    return conf


def _discard(world: World, vm: Vm) -> None:
    for volume in world.volumes.of_vm(vm.vmid):
        world.volumes.remove(volume)
    if world.vms.get(vm.vmid) is vm:
        del world.vms[vm.vmid]
    world.changed()


def _message(err: Exception) -> str:
    return err.message if isinstance(err, PveError) else str(err)
