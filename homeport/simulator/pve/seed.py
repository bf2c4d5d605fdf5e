"""The estate a fresh simulator starts with: nodes, storages and the Ubuntu templates.

Each node has `local` (dir: iso, vztmpl, backup, snippets), `local-lvm` (lvmthin: images,
rootdir) and `local-zfs` (zfspool `rpool/data`: images, rootdir; the only storage with the
`replicate` feature storage replication needs); with `shared_storage`, an NFS storage `nas`
(images, backup, iso) is shared by all. vmids are cluster-unique, so the template
`ubuntu-2404-base` exists once per node: 9000 on the first node (its disks on `nas` when
shared storage is on, so `clone target=` works from any node's point of view), 9001, 9002...
on the others (on `local-lvm`, so local clones land on local disks; a full clone with
`storage=local-zfs` gives a replicable VM). docs/simulator.md explains the choice.
"""

from __future__ import annotations

from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve.create import QEMU_VERSION
from homeport.simulator.pve.nodes import Node
from homeport.simulator.pve.pci import seeded_gpu
from homeport.simulator.pve.storage import CLOUDINIT_SIZE, Storage, Volume, cloudinit_name
from homeport.simulator.pve.vms import Vm
from homeport.simulator.pve.world import World

GIB = 1 << 30
TIB = 1 << 40
TEMPLATE_NAME = "ubuntu-2404-base"
TEMPLATE_VMID = 9000
TEMPLATE_DISK = 32 * GIB
TEMPLATE_USED = 3 * GIB + 512 * (1 << 20)


def seed(world: World) -> None:
    now = world.clock.now()
    for index, spec in enumerate(world.config.nodes, start=1):
        world.nodes[spec.name] = Node(
            name=spec.name,
            nodeid=index,
            ip=f"10.0.0.{10 + index}",
            maxcpu=spec.maxcpu,
            maxmem=spec.maxmem,
            rootfs=spec.rootfs,
            boot_time=now - 86400 * 3 - index * 3600,
            firewall={"enable": 1},
        )
    seed_pci(world)
    _storages(world)
    for index, node in enumerate(world.nodes):
        on_nas = index == 0 and world.config.shared_storage
        _template(world, TEMPLATE_VMID + index, node, "nas" if on_nas else "local-lvm")


def seed_pci(world: World) -> None:
    """A GPU (VGA + audio functions) in the first two nodes: at `0000:01:00` and `0000:41:00`."""
    for index, spec in enumerate(world.config.nodes[:2]):
        world.pci[spec.name] = seeded_gpu(("01", "41")[index], 14)


def _storages(world: World) -> None:
    nodes = {spec.name: spec for spec in world.config.nodes}
    world.storages["local"] = Storage(
        id="local",
        type="dir",
        content=("backup", "iso", "snippets", "vztmpl"),
        shared=False,
        path="/var/lib/vz",
        totals={name: spec.rootfs for name, spec in nodes.items()},
    )
    world.storages["local-lvm"] = Storage(
        id="local-lvm",
        type="lvmthin",
        content=("images", "rootdir"),
        shared=False,
        path=None,
        totals={name: spec.local_lvm for name, spec in nodes.items()},
    )
    world.storages["local-zfs"] = local_zfs({name: spec.local_lvm for name, spec in nodes.items()})
    if world.config.shared_storage:
        world.storages["nas"] = Storage(
            id="nas",
            type="nfs",
            content=("backup", "images", "iso"),
            shared=True,
            path="/mnt/pve/nas",
            totals={"": 8 * TIB},
        )


def local_zfs(totals: dict[str, int]) -> Storage:
    """`local-zfs` as a ZFS install creates it (`zfspool: local-zfs`, `pool rpool/data`,
    `sparse`, `content images,rootdir`); `totals` per node (the seed sizes it like
    `local-lvm`)."""
    return Storage(
        id="local-zfs",
        type="zfspool",
        content=("images", "rootdir"),
        shared=False,
        path=None,
        totals=totals,
        pool="rpool/data",
    )


def _template(world: World, vmid: int, node: str, storage_id: str) -> None:
    storage = world.storages[storage_id]
    scope = storage.scope(node)
    disk_name = f"{vmid}/base-{vmid}-disk-0.qcow2" if storage.is_file else f"base-{vmid}-disk-0"
    now = int(world.clock.now())
    disk = Volume(
        volid=f"{storage_id}:{disk_name}",
        storage=storage_id,
        scope=scope,
        vmid=vmid,
        content="images",
        format="qcow2" if storage.is_file else "raw",
        size=TEMPLATE_DISK,
        used=TEMPLATE_USED,
        ctime=now - 86400,
    )
    cloudinit = Volume(
        volid=f"{storage_id}:{cloudinit_name(storage, vmid)}",
        storage=storage_id,
        scope=scope,
        vmid=vmid,
        content="images",
        format=disk.format,
        size=CLOUDINIT_SIZE,
        used=CLOUDINIT_SIZE,
        ctime=now - 86400,
    )
    world.volumes.add(disk)
    world.volumes.add(cloudinit)
    conf: qc.Config = {
        "agent": "1",
        "boot": "order=scsi0",
        "cores": 2,
        "cpu": "x86-64-v2-AES",
        "ide2": f"{cloudinit.volid},media=cdrom",
        "memory": "2048",
        "meta": f"creation-qemu={QEMU_VERSION},ctime={now - 86400}",
        "name": TEMPLATE_NAME,
        "net0": qc.net_with_mac("virtio,bridge=vmbr0", world.rng),
        "ostype": "l26",
        "scsi0": f"{disk.volid},size=32G",
        "scsihw": "virtio-scsi-single",
        "serial0": "socket",
        "smbios1": f"uuid={qc.random_uuid(world.rng)}",
        "template": 1,
        "vga": "serial0",
        "vmgenid": qc.random_uuid(world.rng),
    }
    world.vms[vmid] = Vm(vmid=vmid, node=node, conf=conf, address=world.guests.allocate_address())
