"""PCI passthrough: host PCI addresses, a Machine's declared devices and a VM's claims.

Used by ``machine.py`` (the devices a host offers, plainly or through a Proxmox cluster
resource mapping) and ``vm.py`` (Proxmox's ``hostpciN``); ``source/validate.py`` checks
that every claim exists on the VM's Machine and that no device is claimed twice.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from homeport.kinds.common import DnsLabel, KindModel

_ADDRESS = re.compile(r"^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-9a-f]{2})(?:\.([0-7]))?$")


def device_key(address: str) -> str:
    """``domain:bus:slot`` of a host PCI address (``01:00.0`` → ``0000:01:00``): what two
    claims of one device share, whichever function each names."""
    match = _ADDRESS.fullmatch(address.lower())
    if match is None:
        raise ValueError(address)
    domain, bus, slot, _ = match.groups()
    return f"{domain or '0000'}:{bus}:{slot}"


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value.lower()):
        raise ValueError(
            f"{value!r} is not a host PCI address such as '0000:01:00' (every function) "
            "or '0000:01:00.0' (see `lspci -D` on the host)"
        )
    return value.lower()


class PciDevice(KindModel):
    """A PCI device of the host that VMs may be given (a GPU, a NIC, an HBA)."""

    address: str
    """Host PCI address, e.g. `0000:01:00` (all functions) or `0000:01:00.0`."""
    mapping: DnsLabel | None = None
    """The Proxmox cluster resource mapping (Datacenter → Resource Mappings → PCI, PVE 8+)
    that holds this device on this node; VMs that name the mapping can move between
    Machines whose devices share it."""
    description: str | None = Field(default=None, max_length=200)
    """What the device is, e.g. `NVIDIA RTX 3090`."""

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _address(value)


class PciPassthrough(KindModel):
    """A host PCI device given to the VM (Proxmox `hostpciN`): a mapping or an address."""

    mapping: DnsLabel | None = None
    """A cluster resource mapping (`mapping=NAME`): preferred, as Proxmox then checks the
    device on whichever node the VM runs, and the VM can move (stopped) between Machines."""
    device: str | None = None
    """A raw host PCI address (`0000:01:00`): tied to this host; the VM cannot move."""
    pcie: bool = False
    """Attach as PCI Express (`pcie=1`); needs `machineType: q35`."""
    primary_gpu: bool = Field(default=False, alias="primaryGpu")
    """The VM's primary display (`x-vga=1`), for a GPU driving the guest's console."""

    @field_validator("device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)

    @model_validator(mode="after")
    def _one_source(self) -> PciPassthrough:
        if (self.mapping is None) == (self.device is None):
            raise ValueError(
                "give exactly one of mapping (a cluster resource mapping) or device "
                "(a host PCI address)"
            )
        return self

    def value(self) -> str:
        """The ``hostpciN`` property string as Proxmox stores it."""
        parts = [f"mapping={self.mapping}" if self.mapping else str(self.device)]
        if self.pcie:
            parts.append("pcie=1")
        if self.primary_gpu:
            parts.append("x-vga=1")
        return ",".join(parts)
