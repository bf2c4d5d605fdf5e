"""Machine: a physical Proxmox host (a node of the cluster).

Referenced by VMs (``vm.py``); observed and drained by ``reconcilers/machine.py``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, PositiveInt

from homeport.kinds.common import DnsLabel, KindModel, Resource, SpecBase, reject_bool
from homeport.kinds.pci import PciDevice


class MachineCapacity(KindModel):
    """The capacity the operator expects the machine to have (checked against what is placed on it)."""

    cores: PositiveInt
    """CPU threads available to VMs."""
    memory_mib: PositiveInt = Field(alias="memoryMiB")
    """Memory available to VMs, in MiB (64 GiB = 65536)."""
    storage_gib: PositiveInt | None = Field(default=None, alias="storageGiB")
    """Disk space available for VM disks on the VM storage, in GiB."""


class MachineSpec(SpecBase):
    """Desired state of a Machine."""

    node: DnsLabel
    """Name of the Proxmox VE node (as in `pvecm nodes` / the web UI)."""
    tier: Annotated[Literal[1, 2, 3], BeforeValidator(reject_bool)] = 2
    """Hardware tier from the physical-machine tiers SOP: 1 = production grade, 3 = spare/old."""
    tailscale_hostname: str | None = None
    """The machine's hostname on the tailnet, used to reach it privately."""
    capacity: MachineCapacity
    """Expected capacity; VMs placed on this machine must fit into it."""
    storage: str = "local-lvm"
    """Default Proxmox storage for VM disks on this machine."""
    pci_devices: list[PciDevice] = Field(default_factory=list, alias="pciDevices", max_length=64)
    """PCI devices VMs on this machine may be given (VM `pciDevices`); a VM may only claim
    a device or mapping declared here, and no device twice."""
    maintenance: bool = False
    """Drain the machine: StandbyPair primaries fail over away from it, nothing new is placed on it."""
    role: Literal["production", "dev"] | None = None
    """What the machine is for, enforced at push time: no dev VM (`role: dev` or label
    `env: dev`) on a `production` Machine, no production VM (label `env: production`) on a
    `dev` Machine. Unset: no rule (a machine that hosts both)."""


class Machine(Resource):
    """A physical Proxmox host."""

    kind_name: ClassVar[str] = "Machine"
    plural: ClassVar[str] = "machines"
    short_names: ClassVar[tuple[str, ...]] = ("machine", "mc")

    kind: Literal["Machine"]
    """Always `Machine`."""
    spec: MachineSpec
    """Desired state."""
