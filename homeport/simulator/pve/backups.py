"""vzdump backups, their archives on storage, retention (prune) and `qmrestore`.

`POST /nodes/{node}/vzdump` backs up the listed guests that live on this node, one vzdump
per node at a time (a node-wide lock), each guest under `lock: backup`; the archive is a
`backup` volume `local:backup/vzdump-qemu-<vmid>-YYYY_MM_DD-HH_MM_SS.vma.zst` whose guest
disk state the guest runtime writes into a file under the state dir. After each guest, its
backups on that storage are pruned with `prune.mark_backups`. Restore is `POST .../qemu`
with `archive`; an archive whose bytes changed since it was written (bit rot, a damaged
copy) fails its restore the way zstd's frame checksum makes it fail on PVE. `backup_jobs`
drives scheduled runs through `request_vzdump`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError, param_error
from homeport.simulator.propstring import (
    format_propstring,
    parse_keep_options,
    parse_propstring,
    parse_size,
)
from homeport.simulator.prune import PruneEntry, mark_backups
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve import storage as st
from homeport.simulator.pve.tasks import Task, TaskContext, Worker
from homeport.simulator.pve.vms import Vm, check_lock

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

GIB = 1 << 30
MIB = 1 << 20
EXTENSIONS = {"0": "vma", "1": "vma.lzo", "lzo": "vma.lzo", "gzip": "vma.gz", "zstd": "vma.zst"}
CHECKSUM = "frame_checksum"
"""`Volume.extra` key: what the compressor's frame checksums cover, modelled as a sha256."""
_NAME_RE = re.compile(r"^vzdump-qemu-(\d+)-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.")


def select_guests(world: World, node: str, params: dict[str, Any]) -> list[int] | None:
    """The guests this node backs up; None when listed guests all live elsewhere ("OK")."""
    listed = [int(v) for v in re.split(r"[,;\s]+", str(params.get("vmid", ""))) if v]
    if params.get("all") and listed:
        raise param_error("all", "option conflicts with option 'vmid'")
    if params.get("exclude") and listed:
        raise param_error("exclude", "option conflicts with option 'vmid'")
    if params.get("pool") and listed:
        raise param_error("pool", "option conflicts with option 'vmid'")
    selectors = ("all", "exclude", "pool", "stop")
    if not listed and not any(params.get(k) for k in selectors):
        raise param_error("vmid", "property is missing and it is not optional")
    local = sorted(v.vmid for v in world.vms.values() if v.node == node)
    if listed:
        chosen = [v for v in listed if v in local]
        return chosen or None
    excluded = {int(v) for v in re.split(r"[,;\s]+", str(params.get("exclude", ""))) if v}
    if params.get("pool"):
        return [v for v in local if world.vms[v].pool == params["pool"]]
    return [v for v in local if v not in excluded]


def request_vzdump(world: World, node: str, params: dict[str, Any], user: str) -> str:
    guests = select_guests(world, node, params)
    if guests is None:
        return "OK"
    storage = _backup_storage(world, str(params.get("storage", "local")))
    ident = str(guests[0]) if len(guests) == 1 else ""
    worker = _vzdump(guests, storage, params)
    return world.tasks.spawn(world, node, "vzdump", ident, user, worker).text


def _backup_storage(world: World, storage_id: str) -> st.Storage:
    storage = st.storage_or_error(world, storage_id)
    if not storage.supports("backup"):
        raise PveError(f"can't use storage '{storage_id}' for backups - wrong content type")
    return storage


def _vzdump(guests: list[int], storage: st.Storage, params: dict[str, Any]) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        world = ctx.world
        lockwait = float(params.get("lockwait", 180)) * 60
        await world.locks.acquire(
            f"/var/run/vzdump.lock@{ctx.node}", ctx, exclusive=True, timeout=lockwait
        )
        mode = params.get("mode", "snapshot")
        compress = str(params.get("compress", "0"))
        ctx.log(
            f"INFO: starting new backup job: vzdump {' '.join(map(str, guests))} "
            f"--mode {mode} --storage {storage.id} --compress {compress}"
        )
        errors = 0
        for vmid in guests:
            try:
                await _backup_guest(ctx, vmid, storage, params)
            except PveError as err:
                ctx.log(f"ERROR: Backup of VM {vmid} failed - {err.message}")
                errors += 1
        if errors:
            ctx.log("INFO: Backup job finished with errors")
            raise PveError("job errors")
        ctx.log("INFO: Backup job finished successfully")

    return worker


async def _backup_guest(
    ctx: TaskContext, vmid: int, storage: st.Storage, params: dict[str, Any]
) -> None:
    world = ctx.world
    vm = world.vms.get(vmid)
    if vm is None or vm.node != ctx.node:
        raise PveError(f"unable to find VM {vmid}")
    started = world.clock.now()
    ctx.log(f"INFO: Starting Backup of VM {vmid} (qemu)")
    ctx.log(f"INFO: Backup started at {_stamp(started, '%Y-%m-%d %H:%M:%S')}")
    await ctx.lock_vm(vmid)
    check_lock(vm)
    vm.set_lock("backup", ctx.task.text)
    ctx.unlock_vm(vmid)
    try:
        volume = await _write_archive(ctx, vm, storage, params, started)
    except Exception:
        vm.clear_lock()
        raise
    vm.clear_lock()
    world.changed()
    if params.get("remove", 1) and params.get("prune-backups", storage.prune_backups):
        _prune_after_backup(
            ctx, storage, volume, str(params.get("prune-backups", storage.prune_backups))
        )
    ctx.log(f"INFO: Finished Backup of VM {vmid} ({_hms(int(world.clock.now() - started))})")


def _included_volumes(ctx: TaskContext, vm: Vm) -> list[st.Volume]:
    """The drives vzdump copies, logged as PVE does: ``backup=0`` drives, cdroms and
    ``unusedN`` volumes are not in the archive."""
    included = []
    for key, value in sorted(vm.conf.items()):
        if not qc.is_drive_key(key) or qc.is_cdrom(str(value)):
            continue
        props = parse_propstring(str(value), "file")
        file = props.get("file", "")
        volume = st.find_volume(ctx.world, vm.node, file)
        if props.get("backup") in ("0", "no", "off", "false"):
            ctx.log(f"INFO: exclude disk '{key}' '{file}' (backup=no)")
        elif volume is not None:
            ctx.log(f"INFO: include disk '{key}' '{file}' {props.get('size', '')}")
            included.append(volume)
    return included


async def _write_archive(
    ctx: TaskContext, vm: Vm, storage: st.Storage, params: dict[str, Any], started: float
) -> st.Volume:
    world = ctx.world
    ext = EXTENSIONS.get(str(params.get("compress", "0")), "vma")
    name = f"vzdump-qemu-{vm.vmid}-{_stamp(started, '%Y_%m_%d-%H_%M_%S')}.{ext}"
    scope = storage.scope(ctx.node)
    ctx.log(f"INFO: creating vzdump archive '{storage.path}/dump/{name}'")
    used = sum(v.used for v in _included_volumes(ctx, vm)) or 64 * MIB
    size = max(MIB, int(used * (0.45 if ext != "vma" else 1.0)))
    await ctx.sleep(max(world.timings.backup_min, world.timings.backup_per_gib * used / GIB))
    st.check_space(
        world,
        storage,
        scope,
        size,
        "zstd: error 70 : Write error : cannot write block : No space left on device",
    )
    relative = Path(storage.id) / (scope or "shared") / "dump" / name
    try:
        await world.guests.runtime.snapshot_disk(vm.vmid, world.archive_root / relative)
    except Exception as err:
        raise PveError(f"vma_queue_write: write error - {err}") from err
    checksum = await asyncio.to_thread(file_checksum, world.archive_root / relative)
    volume = st.Volume(
        volid=f"{storage.id}:backup/{name}",
        storage=storage.id,
        scope=scope,
        vmid=vm.vmid,
        content="backup",
        format=ext,
        size=size,
        used=size,
        ctime=int(started),
        notes=_notes(world, vm, ctx.node, params.get("notes-template")),
        protected=bool(params.get("protected")),
        archive=str(relative),
        config={k: v for k, v in vm.conf.items() if k != "lock"},
        extra={CHECKSUM: checksum},
    )
    world.volumes.add(volume)
    ctx.log(f"INFO: archive file size: {size / GIB:.2f}GB")
    if volume.notes:
        ctx.log("INFO: adding notes to backup")
    if volume.protected:
        ctx.log("INFO: marking backup as protected")
    return volume


def _notes(world: World, vm: Vm, node: str, template: Any) -> str | None:
    if not template:
        return None
    values = {
        "cluster": world.config.cluster_name,
        "guestname": vm.name,
        "node": node,
        "vmid": str(vm.vmid),
    }
    text = str(template).replace("\\n", "\n").replace("\\\\", "\\")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), m.group(0)), text)


def _prune_after_backup(
    ctx: TaskContext, storage: st.Storage, volume: st.Volume, keep_text: str
) -> None:
    keep = parse_keep_options(keep_text)
    if keep.get("keep-all") or not any(keep.values()):
        return
    ctx.log(
        f"INFO: prune older backups with retention: {', '.join(f'{k}={v}' for k, v in keep.items())}"
    )
    removed = prune_group(ctx.world, storage, volume.scope, volume.vmid, keep)
    for volid in removed:
        ctx.log(f"INFO: removing backup '{volid}'")
    ctx.log(f"INFO: pruned {len(removed)} backup(s) not covered by keep-retention policy")


def backups_of(
    world: World, storage: st.Storage, scope: str, vmid: int | None = None
) -> list[st.Volume]:
    return [
        v
        for v in world.volumes.on(storage.id, scope)
        if v.content == "backup"
        and (vmid is None or v.vmid == vmid)
        and _NAME_RE.match(v.name.split("/", 1)[1])
    ]


def prune_marks(
    world: World, storage: st.Storage, scope: str, vmid: int | None, keep: dict[str, int]
) -> dict[str, str]:
    marks: dict[str, str] = {}
    for group in sorted({v.vmid for v in backups_of(world, storage, scope, vmid)}):
        entries = [
            PruneEntry(v.volid, v.ctime, v.protected)
            for v in backups_of(world, storage, scope, group)
        ]
        marks.update(mark_backups(entries, keep))
    return marks


def prune_group(
    world: World, storage: st.Storage, scope: str, vmid: int | None, keep: dict[str, int]
) -> list[str]:
    marks = prune_marks(world, storage, scope, vmid, keep)
    removed = sorted(v for v, mark in marks.items() if mark == "remove")
    for volid in removed:
        volume = world.volumes.get(scope, volid)
        if volume is not None:
            remove_backup(world, volume)
    world.changed()
    return removed


def remove_backup(world: World, volume: st.Volume) -> None:
    if volume.protected:
        raise PveError(f"cannot remove protected archive '{storage_path(world, volume)}'")
    world.volumes.remove(volume)
    if volume.archive:
        (world.archive_root / volume.archive).unlink(missing_ok=True)


def storage_path(world: World, volume: st.Volume) -> str:
    storage = world.storages[volume.storage]
    if volume.content == "backup":
        return f"{storage.path}/dump/{volume.name.split('/', 1)[1]}"
    if storage.is_file:
        return f"{storage.path}/images/{volume.name}"
    if storage.type == "zfspool":
        return f"/dev/zvol/{storage.pool}/{volume.name.split('/')[-1]}"
    return f"/dev/pve/{volume.name.split('/')[-1]}"


def keep_object(text: str) -> dict[str, str]:
    """`prune-backups` as `GET /cluster/backup` shows it: an object of strings."""
    return {k: str(v) for k, v in parse_keep_options(text).items()}


def keep_text(keep: dict[str, Any]) -> str:
    return format_propstring({k: str(v) for k, v in keep.items()})


def restore_vm(world: World, node: str, vmid: int, params: dict[str, Any], user: str) -> Task:
    params = dict(params)
    archive = str(params.pop("archive"))
    force = bool(params.pop("force", 0))
    start = bool(params.pop("start", 0))
    volume = st.find_volume(world, node, archive)
    if volume is None or volume.content != "backup":
        raise PveError(f"volume '{archive}' does not exist")
    world.require_quorum()
    existing = world.vms.get(vmid)
    if existing is not None and (not force or existing.node != node):
        raise PveError(
            f"unable to restore VM {vmid} - VM {vmid} already exists on node '{existing.node}'"
        )
    if existing is not None:
        check_lock(existing)
        vm = existing
        previous_lock = None
    else:
        vm = Vm(vmid=vmid, node=node, conf={}, address=world.guests.allocate_address())
        world.vms[vmid] = vm
        previous_lock = "new"
    vm.conf["lock"] = "create"
    task = world.tasks.spawn(
        world,
        node,
        "qmrestore",
        str(vmid),
        user,
        _restore(vm, volume, params, previous_lock, start),
    )
    vm.lock_task = task.text
    world.changed()
    return task


def _restore(
    vm: Vm, archive: st.Volume, params: dict[str, Any], new: str | None, start: bool
) -> Worker:
    async def worker(ctx: TaskContext) -> None:
        world = ctx.world
        emsg = f"unable to restore VM {vm.vmid} -"
        try:
            if vm.conf.get("protection"):
                raise PveError(f"{emsg} protection mode enabled")
            if vm.running:
                raise PveError(f"{emsg} vm is running")
            await _restore_disks(ctx, vm, archive, params)
        except Exception:
            if new is not None:
                for volume in world.volumes.of_vm(vm.vmid):
                    world.volumes.remove(volume)
                world.vms.pop(vm.vmid, None)
            else:
                vm.clear_lock()
            world.changed()
            raise
        if start:
            from homeport.simulator.pve.power import start_in_task

            await ctx.lock_vm(vm.vmid)
            await start_in_task(ctx, vm)

    return worker


async def _restore_disks(
    ctx: TaskContext, vm: Vm, archive: st.Volume, params: dict[str, Any]
) -> None:
    world = ctx.world
    source = dict(archive.config or {})
    ctx.log(f"restore vma archive: {storage_path(world, archive)}")
    for volume in world.volumes.of_vm(vm.vmid):
        world.volumes.remove(volume)
    template = bool(source.get("template"))
    conf: qc.Config = {}
    for key, value in sorted(source.items()):
        if qc.is_unused_key(key):
            continue
        if (
            qc.is_drive_key(key)
            and not qc.is_cdrom(str(value))
            and ":" in qc.drive_file(str(value))
        ):
            conf[key] = await _restore_drive(
                ctx, vm, key, str(value), params.get("storage"), template
            )
        else:
            conf[key] = value
    if params.get("unique"):
        for key in [k for k in conf if qc.is_net_key(k)]:
            conf[key] = qc.net_with_mac(str(conf[key]), world.rng, fresh=True)
    from homeport.simulator.pve.config_update import prepare_value

    for key in ("unique", "storage", "bwlimit", "live-restore", "pool"):
        params.pop(key, None)
    for key, value in sorted(params.items()):
        conf[key] = prepare_value(world, vm, key, value)
    await _check_frames(ctx, vm, archive)
    try:
        await world.guests.runtime.restore_disk(
            vm.vmid, world.archive_root / (archive.archive or "")
        )
    except Exception as err:
        raise PveError(f"unable to restore VM {vm.vmid} - {err}") from err
    vm.conf = conf
    vm.lock_task = None
    vm.pending.clear()
    vm.pending_delete.clear()
    vm.instance_id = None
    world.changed()


async def _restore_drive(
    ctx: TaskContext, vm: Vm, key: str, value: str, storage_id: str | None, template: bool
) -> str:
    world = ctx.world
    old = qc.drive_file(value)
    storage = st.storage_or_error(world, storage_id or old.split(":", 1)[0])
    if qc.is_cloudinit_drive(value):
        volume = st.allocate(
            world,
            storage,
            vm.node,
            vm.vmid,
            st.CLOUDINIT_SIZE,
            name=st.cloudinit_name(storage, vm.vmid),
        )
        return qc.set_drive_file(value, volume.volid)
    size = _size_of(value)
    prefix = "base" if template else "vm"
    name = st.next_disk_name(world, storage, storage.scope(vm.node), vm.vmid, prefix)
    volume = st.allocate(
        world, storage, vm.node, vm.vmid, size, used=size // 10, name=name, copy=True
    )
    ctx.log(f"new volume ID is '{volume.volid}'")
    await ctx.sleep(world.timings.restore_per_32g * size / (32 * GIB))
    return qc.set_drive_file(value, volume.volid)


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def _check_frames(ctx: TaskContext, vm: Vm, archive: st.Volume) -> None:
    """The decompressor's own checksums (zstd frames, gzip/lzo CRCs): a damaged archive
    fails its restore, as it does on PVE."""
    expected = (archive.extra or {}).get(CHECKSUM)
    path = ctx.world.archive_root / (archive.archive or "")
    if expected is None or not path.is_file():
        return
    if await asyncio.to_thread(file_checksum, path) == expected:
        return
    shown = storage_path(ctx.world, archive)
    tool = {"zst": "zstd", "lzo": "lzop", "gz": "gzip"}.get(shown.rsplit(".", 1)[-1], "vma")
    ctx.log(f"{tool}: {shown}: Decoding error (36) : Restored data doesn't match checksum")
    raise PveError(
        f"unable to restore VM {vm.vmid} - command '{tool} -q -d -c {shown} | vma extract -v "
        f"-r /var/tmp/vzdumptmp.fifo - /var/tmp/vzdumptmp' failed: exit code 1"
    )


def _size_of(value: str) -> int:
    size = parse_propstring(value, "file").get("size")
    return parse_size(size) if size else 32 * GIB


def ctime_from_name(name: str) -> int | None:
    match = _NAME_RE.match(name)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(x) for x in match.groups()[1:])
    return int(dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC).timestamp())


def _stamp(epoch: float, fmt: str) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(fmt)


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
