"""The QEMU config options PVE knows (the `POST /nodes/{node}/qemu` / `.../config` schema).

One table serves parameter checking (`proxmox_api.schemas`) and `delete=` validation
(`config_update`): an option not listed here is "not defined in schema". Drive, NIC and
other indexed options (`scsi0`..`scsi30`, `net0`..`net31`, `ipconfig0`..) are patterns.
"""

from __future__ import annotations

import re

from homeport.simulator.schema import BOOLEAN, STRING, Param, Schema, enum, fmt

DRIVE = fmt("pve-qm-drive")

OPTIONS: dict[str, Param] = {
    "acpi": BOOLEAN,
    "agent": fmt("pve-qm-agent"),
    "arch": enum("x86_64", "aarch64"),
    "autostart": BOOLEAN,
    "balloon": Param("integer", minimum=0),
    "bios": enum("seabios", "ovmf"),
    "boot": STRING,
    "bootdisk": Param(pattern=r"(ide|sata|scsi|virtio)\d+"),
    "cicustom": STRING,
    "cipassword": STRING,
    "citype": enum("configdrive2", "nocloud", "opennebula"),
    "ciupgrade": BOOLEAN,
    "ciuser": STRING,
    "cores": Param("integer", minimum=1),
    "cpu": STRING,
    "cpulimit": Param("number", minimum=0, maximum=128),
    "cpuunits": Param("integer", minimum=1, maximum=262144),
    "description": Param(max_length=8192),
    "efidisk0": DRIVE,
    "freeze": BOOLEAN,
    "hookscript": STRING,
    "hotplug": STRING,
    "hugepages": enum("any", "2", "1024"),
    "keyboard": STRING,
    "kvm": BOOLEAN,
    "localtime": BOOLEAN,
    "lock": enum(
        "backup",
        "clone",
        "create",
        "migrate",
        "rollback",
        "snapshot",
        "snapshot-delete",
        "suspending",
        "suspended",
    ),
    "machine": STRING,
    "memory": fmt("pve-qm-memory"),
    "meta": STRING,
    "migrate_downtime": Param("number", minimum=0),
    "migrate_speed": Param("integer", minimum=0),
    "name": fmt("dns-name"),
    "nameserver": STRING,
    "numa": BOOLEAN,
    "onboot": BOOLEAN,
    "ostype": enum(
        "other",
        "wxp",
        "w2k",
        "w2k3",
        "w2k8",
        "wvista",
        "win7",
        "win8",
        "win10",
        "win11",
        "l24",
        "l26",
        "solaris",
    ),
    "protection": BOOLEAN,
    "reboot": BOOLEAN,
    "rng0": STRING,
    "scsihw": enum(
        "lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"
    ),
    "searchdomain": STRING,
    "shares": Param("integer", minimum=0, maximum=50000),
    "smbios1": Param(max_length=512),
    "sockets": Param("integer", minimum=1),
    "sshkeys": fmt("urlencoded"),
    "startdate": STRING,
    "startup": fmt("pve-startup-order"),
    "tablet": BOOLEAN,
    "tags": fmt("pve-tag-list"),
    "template": BOOLEAN,
    "tpmstate0": DRIVE,
    "vcpus": Param("integer", minimum=1),
    "vga": STRING,
    "vmgenid": Param(pattern=r"(?:[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}|[01])"),
    "watchdog": STRING,
}

INDEXED: tuple[tuple[str, Param], ...] = (
    (r"ide[0-3]", DRIVE),
    (r"sata[0-5]", DRIVE),
    (r"scsi(?:[0-9]|[12][0-9]|30)", DRIVE),
    (r"virtio(?:[0-9]|1[0-5])", DRIVE),
    (r"net(?:[0-9]|[12][0-9]|3[01])", fmt("pve-qm-net")),
    (r"ipconfig(?:[0-9]|[12][0-9]|3[01])", fmt("pve-qm-ipconfig")),
    (r"unused\d+", STRING),
    (r"serial[0-3]", Param(pattern=r"(/dev/.+|socket)")),
    (r"usb[0-9]|usb1[0-3]", STRING),
    (r"hostpci[0-9]|hostpci1[0-5]", STRING),
    (r"numa[0-7]", STRING),
    (r"parallel[0-2]", STRING),
    (r"virtiofs[0-9]", STRING),
)

_INDEXED_RE = tuple(re.compile(f"^(?:{pattern})$") for pattern, _ in INDEXED)


def is_known_key(key: str) -> bool:
    return key in OPTIONS or any(p.match(key) for p in _INDEXED_RE)


def config_schema() -> Schema:
    return Schema().extend(OPTIONS, INDEXED)
