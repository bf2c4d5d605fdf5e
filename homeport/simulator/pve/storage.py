"""Storages (`storage.cfg`) and the volumes on them.

A local storage (`local`, `local-lvm`, `local-zfs`) exists once per node; a shared one
(`nas`) once for the cluster. Volumes are keyed by scope (node name, or "" for shared
storage) and volid, and carry what `pvesm list` shows. Space is thin: a volume counts its
`used` bytes, not its virtual size. Callers: `clone`, `create`, `config_update`, `backups`,
`migrate`, `destroy`; `faults` can declare a storage full. Naming follows PVE:
`local-lvm:vm-100-disk-0`, `local-zfs:vm-100-disk-0`, `nas:100/vm-100-disk-0.qcow2`, linked
clones `local-lvm:base-9000-disk-0/vm-101-disk-0`. Only ZFS (`zfspool`) has the `replicate`
feature storage replication needs (pve-storage: ZFSPoolPlugin's `volume_has_feature`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError
from homeport.simulator.propstring import format_size

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

MIB = 1 << 20
CLOUDINIT_SIZE = 4 * MIB
FILE_TYPES = ("dir", "nfs")
REPLICATE_TYPES = ("zfspool",)


@dataclass
class Storage:
    id: str
    type: str  # dir | lvmthin | zfspool | nfs
    content: tuple[str, ...]
    shared: bool
    path: str | None
    totals: dict[str, int]  # scope -> bytes
    prune_backups: str = "keep-all=1"
    pool: str | None = None  # zfspool: the dataset volumes are created under

    def supports(self, content: str) -> bool:
        return content in self.content

    @property
    def is_file(self) -> bool:
        return self.type in FILE_TYPES

    @property
    def can_replicate(self) -> bool:
        """Whether its volumes have PVE's `replicate` feature (ZFS only)."""
        return self.type in REPLICATE_TYPES

    def scope(self, node: str) -> str:
        return "" if self.shared else node


@dataclass
class Volume:
    volid: str
    storage: str
    scope: str
    vmid: int
    content: str  # images | backup
    format: str
    size: int
    used: int
    ctime: int
    parent: str | None = None
    notes: str | None = None
    protected: bool = False
    archive: str | None = None  # file under the state dir (backups)
    config: dict[str, Any] | None = None  # the guest config a backup captured
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.volid.split(":", 1)[1]


class VolumeStore:
    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Volume] = {}

    def add(self, volume: Volume) -> None:
        self.by_key[(volume.scope, volume.volid)] = volume

    def remove(self, volume: Volume) -> None:
        self.by_key.pop((volume.scope, volume.volid), None)

    def get(self, scope: str, volid: str) -> Volume | None:
        return self.by_key.get((scope, volid))

    def on(self, storage: str, scope: str) -> list[Volume]:
        return [v for v in self.by_key.values() if v.storage == storage and v.scope == scope]

    def of_vm(self, vmid: int) -> list[Volume]:
        return [v for v in self.by_key.values() if v.vmid == vmid and v.content == "images"]

    def all(self) -> list[Volume]:
        return list(self.by_key.values())


def storage_or_error(world: World, storage_id: str) -> Storage:
    storage = world.storages.get(storage_id)
    if storage is None:
        raise PveError(f"storage '{storage_id}' does not exist")
    return storage


def find_volume(world: World, node: str, volid: str) -> Volume | None:
    """The volume `volid` as node `node` sees it."""
    storage = world.storages.get(volid.split(":", 1)[0])
    if storage is None:
        return None
    return world.volumes.get(storage.scope(node), volid)


def used_bytes(world: World, storage: Storage, scope: str) -> int:
    return sum(v.used for v in world.volumes.on(storage.id, scope))


def check_space(world: World, storage: Storage, scope: str, need: int, what: str) -> None:
    """Raise PVE's out-of-space error if `need` more bytes do not fit (or a fault says so)."""
    full = world.faults.storage_full(scope or "*", storage.id)
    if full or used_bytes(world, storage, scope) + need > storage.totals[scope]:
        raise PveError(what)


def no_space_copy(size: int) -> str:
    return f"qemu-img: error while writing at byte {size // 2}: No space left on device"


def no_space_alloc(storage: Storage, name: str) -> str:
    if storage.is_file:
        path = f"{storage.path}/images/{name}"
        return f"unable to create image: qemu-img: {path}: Could not create '{path}': No space left on device"
    if storage.type == "zfspool":
        return f"zfs error: cannot create '{storage.pool}/{name}': out of space"
    return f"lvcreate 'pve/{name}' error:   No space left on device"


def next_disk_name(
    world: World, storage: Storage, scope: str, vmid: int, prefix: str = "vm"
) -> str:
    keep = 2 if storage.is_file else 1
    taken = {
        "/".join(v.name.split("/")[-keep:])
        for v in world.volumes.on(storage.id, scope)
        if v.vmid == vmid
    }
    n = 0
    while any(_disk_name(storage, vmid, p, n) in taken for p in ("vm", "base")):
        n += 1
    return _disk_name(storage, vmid, prefix, n)


def _disk_name(storage: Storage, vmid: int, prefix: str, n: int) -> str:
    base = f"{prefix}-{vmid}-disk-{n}"
    return f"{vmid}/{base}.qcow2" if storage.is_file else base


def cloudinit_name(storage: Storage, vmid: int) -> str:
    return f"{vmid}/vm-{vmid}-cloudinit.qcow2" if storage.is_file else f"vm-{vmid}-cloudinit"


def allocate(
    world: World,
    storage: Storage,
    node: str,
    vmid: int,
    size: int,
    *,
    used: int = 0,
    name: str | None = None,
    parent: Volume | None = None,
    copy: bool = False,
) -> Volume:
    """Create an image volume (raising PVE's out-of-space error when it cannot)."""
    if not storage.supports("images"):
        raise PveError(f"storage '{storage.id}' does not support vm images")
    scope = storage.scope(node)
    name = name or next_disk_name(world, storage, scope, vmid)
    message = no_space_copy(size) if copy else no_space_alloc(storage, name)
    check_space(world, storage, scope, used, message)
    if parent is not None:
        name = f"{parent.name}/{name}"
    volume = Volume(
        volid=f"{storage.id}:{name}",
        storage=storage.id,
        scope=scope,
        vmid=vmid,
        content="images",
        format="qcow2" if storage.is_file else "raw",
        size=size,
        used=used,
        ctime=int(world.clock.now()),
        parent=parent.volid if parent else None,
    )
    world.volumes.add(volume)
    return volume


def storage_status(world: World, storage: Storage, node: str) -> dict[str, Any]:
    scope = storage.scope(node)
    total = storage.totals[scope]
    used = used_bytes(world, storage, scope)
    return {
        "storage": storage.id,
        "type": storage.type,
        "content": ",".join(sorted(storage.content)),
        "active": 1,
        "enabled": 1,
        "shared": int(storage.shared),
        "total": total,
        "used": used,
        "avail": max(0, total - used),
        "used_fraction": round(used / total, 6) if total else 0,
    }


def content_item(volume: Volume) -> dict[str, Any]:
    item: dict[str, Any] = {
        "volid": volume.volid,
        "content": volume.content,
        "format": volume.format,
        "size": volume.size,
        "vmid": volume.vmid,
        "ctime": volume.ctime,
    }
    if volume.content == "images":
        item["used"] = volume.used
        if volume.parent:
            item["parent"] = volume.parent
    else:
        item["subtype"] = "qemu"
        if volume.notes:
            item["notes"] = volume.notes.split("\n", 1)[0]
        if volume.protected:
            item["protected"] = 1
    return item


def size_option(size: int) -> str:
    return format_size(size)


_NEW_DISK_RE = re.compile(r"^([a-zA-Z][\w\-.]*):(\d+(?:\.\d+)?)$")


def parse_new_disk(file: str) -> tuple[str, float] | None:
    """`local-lvm:32` (allocate 32 GiB) -> ("local-lvm", 32.0); None for an existing volid."""
    match = _NEW_DISK_RE.match(file)
    if not match:
        return None
    return match.group(1), float(match.group(2))
