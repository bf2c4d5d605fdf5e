"""A VM's data disks: what Proxmox holds in each declared slot, and the pure plan for them.

Pure; used by ``plan.py`` (which orders these actions after the config and before power)
and filled in by ``observe.py``; ``disks_apply.py`` performs the actions. A disk is known
by its slot (``scsi1``), never by its place in the list, so removing a disk from the middle
moves no other disk. Each step is what PVE itself does: a new disk is allocated by setting
``scsiN: STORAGE:GiB,...``, a larger size is a ``resize`` (grow only: a smaller declared
size stalls with the fix), options are set on the same volume, and a disk that left the
manifest is detached (``delete=scsiN`` without ``force``: Proxmox keeps it as ``unusedN``),
never destroyed. Only slots homeport attached are ever detached (recorded in the VM's
``data-disks`` slot before the attach), so a disk added by hand is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from homeport.kinds.vm import DataDisk
from homeport.reconcilers.base import Action
from homeport.reconcilers.vm.actions import ResizeDisk

# The drive options homeport manages, with Proxmox's value when the option is absent.
OPTION_DEFAULTS: Mapping[str, str] = {"backup": "1", "ssd": "0", "discard": "ignore"}


@dataclass(frozen=True)
class DiskSeen:
    """One drive slot as Proxmox holds it (``scsi1: local-lvm:vm-101-disk-1,size=32G,...``)."""

    volume: str
    size_gib: int | None
    options: Mapping[str, str] = field(default_factory=dict)
    """Every property of the drive string but the volume (``backup``, ``cache``, ``size``...)."""


@dataclass(frozen=True)
class DisksSeen:
    """The VM's drive slots that matter for its data disks."""

    slots: Mapping[str, DiskSeen] = field(default_factory=dict)
    """Declared or recorded slots that hold a drive (a CD-ROM has ``media=cdrom``)."""
    attached: Mapping[str, str] = field(default_factory=dict)
    """slot → disk name, for every disk homeport attached and has not detached."""
    default_storage: str = "local-lvm"
    """The Machine's storage, for disks that name none."""


@dataclass(frozen=True)
class AttachDisk(Action):
    node: str
    vmid: int
    slot: str
    name: str
    value: str
    """The drive string that allocates it: ``local-lvm:32,backup=0,discard=on``."""
    verb = "attach-disk"

    def describe(self) -> str:
        return f"VM {self.vmid}: attach data disk {self.name!r} as {self.slot}: {self.value}"


@dataclass(frozen=True)
class SetDiskOptions(Action):
    node: str
    vmid: int
    slot: str
    name: str
    value: str
    """The whole drive string, same volume, new options."""
    changes: tuple[str, ...]
    verb = "disk-options"

    def describe(self) -> str:
        return (
            f"VM {self.vmid}: data disk {self.name!r} ({self.slot}): set {', '.join(self.changes)}"
        )


@dataclass(frozen=True)
class DetachDisk(Action):
    node: str
    vmid: int
    slot: str
    name: str
    volume: str
    verb = "detach-disk"

    def describe(self) -> str:
        return (
            f"VM {self.vmid}: detach data disk {self.name!r} ({self.slot}, {self.volume}); "
            "Proxmox keeps the volume as an unused disk"
        )


DISK_ACTIONS = (AttachDisk, SetDiskOptions, DetachDisk)


def wanted_options(disk: DataDisk) -> dict[str, str]:
    """The managed drive options as Proxmox spells them (``cache`` only when declared)."""
    options = {
        "backup": "1" if disk.backup else "0",
        "ssd": "1" if disk.ssd else "0",
        "discard": "on" if disk.discard else "ignore",
    }
    if disk.cache is not None:
        options["cache"] = disk.cache
    return options


def _render(head: str, options: Mapping[str, str]) -> str:
    """A drive string, leaving out options at Proxmox's default (as PVE writes them)."""
    parts = [head]
    parts.extend(
        f"{key}={value}"
        for key, value in sorted(options.items())
        if OPTION_DEFAULTS.get(key) != value
    )
    return ",".join(parts)


def new_disk_value(disk: DataDisk, default_storage: str) -> str:
    return _render(f"{disk.storage or default_storage}:{disk.size_gib}", wanted_options(disk))


def _option_changes(disk: DataDisk, seen: DiskSeen) -> list[str]:
    return [
        f"{key}={value}"
        for key, value in wanted_options(disk).items()
        if seen.options.get(key, OPTION_DEFAULTS.get(key)) != value
    ]


def refused(disks: list[DataDisk], seen: DisksSeen) -> tuple[str, list[str]] | None:
    """(reason, messages) when a declared disk cannot be had as declared: a slot that holds
    a CD-ROM drive, or a disk larger than declared (PVE never shrinks)."""
    taken, shrinks = [], []
    for disk in disks:
        found = seen.slots.get(disk.slot)
        if found is None:
            continue
        if _cdrom(found):
            taken.append(
                f"slot {disk.slot} of data disk {disk.name!r} holds a CD-ROM drive "
                f"({found.volume}); give the disk another slot"
            )
        elif found.size_gib is not None and found.size_gib > disk.size_gib:
            shrinks.append(
                f"data disk {disk.name!r} ({disk.slot}) is {found.size_gib} GiB, larger than "
                f"the declared {disk.size_gib} GiB; disks are never shrunk: declare "
                f"sizeGiB: {found.size_gib} or more"
            )
    if taken:
        return "DiskSlotTaken", taken
    return ("DiskShrinkRefused", shrinks) if shrinks else None


def _cdrom(seen: DiskSeen) -> bool:
    return seen.options.get("media") == "cdrom"


def disk_actions(node: str, vmid: int, disks: list[DataDisk], seen: DisksSeen) -> list[Action]:
    """Attach, reconfigure, grow and detach, in slot order; nothing when converged."""
    actions: list[Action] = []
    declared = {d.slot for d in disks}
    for disk in sorted(disks, key=lambda d: d.slot):
        found = seen.slots.get(disk.slot)
        if found is not None and _cdrom(found):
            continue  # refused() says why; never replace a drive homeport does not own
        if found is None:
            value = new_disk_value(disk, seen.default_storage)
            actions.append(AttachDisk(node, vmid, disk.slot, disk.name, value))
            continue
        changes = _option_changes(disk, found)
        if changes:
            options = {**found.options, **wanted_options(disk)}
            value = _render(found.volume, options)
            actions.append(SetDiskOptions(node, vmid, disk.slot, disk.name, value, tuple(changes)))
        if found.size_gib is not None and found.size_gib < disk.size_gib:
            actions.append(ResizeDisk(node, vmid, disk.slot, found.size_gib, disk.size_gib))
    for slot, name in sorted(seen.attached.items()):
        found = seen.slots.get(slot)
        if slot not in declared and found is not None:
            actions.append(DetachDisk(node, vmid, slot, name, found.volume))
    return actions
