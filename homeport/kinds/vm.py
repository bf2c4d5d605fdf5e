"""VM: a QEMU virtual machine cloned from a template onto a Machine.

Referenced by Apps (``app.py``) and BackupPolicies (``backuppolicy.py``); converged by
``reconcilers/vm.py`` through the Proxmox API.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from homeport.kinds.common import (
    DnsLabel,
    KindModel,
    ObjectRef,
    RefPath,
    Resource,
    SpecBase,
    reject_bool,
)
from homeport.kinds.pci import PciPassthrough
from homeport.kinds.textrules import UserName, check_one_line

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

# Boot layers from the estates we serve (seed 003): infrastructure first, user-facing last.
LAYER_NAMES: dict[int, str] = {
    1: "infrastructure",
    2: "core services",
    3: "apps",
    4: "user-facing",
}


class TemplateRef(KindModel):
    """The template VM a VM is cloned from."""

    vmid: int = Field(default=9000, ge=100, le=999_999_999)
    """VMID of the template (the estate's standard is 9000)."""
    name: str = "ubuntu-2404-base"
    """Name of the template, checked against Proxmox before cloning."""


class DiskSpec(KindModel):
    """The VM's boot disk."""

    size_gib: PositiveInt = Field(default=32, alias="sizeGiB")
    """Size in GiB. Disks are only ever grown, never shrunk."""
    storage: str | None = None
    """Proxmox storage for the disk; defaults to the Machine's `storage`."""
    slot: Literal["scsi0", "virtio0", "sata0"] = "scsi0"
    """Disk slot of the boot disk in the template."""


_DATA_DISK_SLOT = re.compile(r"^(scsi([1-9]|[12][0-9]|30)|virtio([1-9]|1[0-5])|sata[1-5])$")


class DataDisk(KindModel):
    """A data disk beside the boot disk (Proxmox `scsiN`, `virtioN` or `sataN`).

    A disk is identified by its `slot`, never by its place in the list: removing a disk
    from the middle leaves the others where they are. Disks are grown in place, never
    shrunk; a disk removed from the manifest is detached (`unusedN` in Proxmox), its data
    kept until the VM itself is destroyed.
    """

    name: DnsLabel
    """What the disk is for (`data`, `postgres`, ...): unique per VM, shown in plans."""
    slot: str = Field(json_schema_extra={"pattern": _DATA_DISK_SLOT.pattern})
    """Proxmox drive key: `scsi1`-`scsi30`, `virtio1`-`virtio15` or `sata1`-`sata5`. Fixed
    for the disk's life: changing it attaches a new, empty disk."""
    size_gib: PositiveInt = Field(alias="sizeGiB")
    """Size in GiB. Grown in place when raised; never shrunk."""
    storage: str | None = None
    """Proxmox storage for the disk; defaults to the Machine's `storage`. Used when the
    disk is created: an existing disk is not moved."""
    backup: bool = True
    """Include the disk in vzdump backups (`backup=0` for scratch or replicated data)."""
    ssd: bool = False
    """Show the disk to the guest as an SSD (not available on `virtio` slots)."""
    discard: bool = False
    """Pass the guest's TRIM/discard to the storage (thin pools give space back)."""
    cache: Literal["none", "writethrough", "writeback", "unsafe", "directsync"] | None = None
    """QEMU cache mode; null keeps Proxmox's default (`none`)."""

    @field_validator("slot")
    @classmethod
    def _slot(cls, value: str) -> str:
        if not _DATA_DISK_SLOT.fullmatch(value):
            raise ValueError(
                f"slot {value!r} is not a data disk slot: use scsi1-scsi30, virtio1-virtio15 "
                "or sata1-sata5 (slot 0 is the boot disk's)"
            )
        return value

    @model_validator(mode="after")
    def _ssd_slot(self) -> DataDisk:
        if self.ssd and self.slot.startswith("virtio"):
            raise ValueError(
                f"dataDisk {self.name!r}: ssd is not available on a virtio slot "
                f"({self.slot}); use a scsi or sata slot, or drop ssd"
            )
        return self


class NetworkInterface(KindModel):
    """A virtual NIC (Proxmox `netN`) and its cloud-init IP configuration (`ipconfigN`)."""

    bridge: str = "vmbr0"
    """Linux bridge on the host."""
    model: Literal["virtio", "e1000", "vmxnet3"] = "virtio"
    """NIC model."""
    firewall: bool = True
    """Enable the Proxmox firewall on this NIC (required for VM firewall rules to apply)."""
    vlan: int | None = Field(default=None, ge=1, le=4094)
    """VLAN tag."""
    ip: str = "dhcp"
    """`dhcp` or a static address in CIDR form, e.g. `10.0.10.21/24`."""
    gateway: str | None = None
    """Default gateway for a static address."""

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        if value == "dhcp":
            return value
        try:
            ipaddress.ip_interface(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is neither 'dhcp' nor an address in CIDR form like '10.0.10.21/24'"
            ) from None
        if "/" not in value:
            raise ValueError(f"{value!r} needs a prefix length, e.g. '{value}/24'")
        return value

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return value


class CloudInit(KindModel):
    """Cloud-init settings applied on first boot."""

    user: UserName = "ubuntu"
    """The default user cloud-init creates (shadow's user name rule)."""
    ssh_keys: list[str] = Field(default_factory=list)
    """Public SSH keys authorised for `user` (homeport adds its own key). Public keys only."""
    nameserver: str | None = None
    """DNS servers for static configurations (IP addresses separated by spaces)."""
    search_domain: str | None = None
    """DNS search domains (lowercase domain names separated by spaces)."""

    @field_validator("nameserver")
    @classmethod
    def _nameserver(cls, value: str | None) -> str | None:
        for word in value.split(" ") if value is not None else ():
            try:
                ipaddress.ip_address(word)
            except ValueError:
                raise ValueError(
                    f"nameserver {value!r}: {word!r} is not an IP address "
                    "(separate several servers with one space)"
                ) from None
        return value

    @field_validator("search_domain")
    @classmethod
    def _search_domain(cls, value: str | None) -> str | None:
        for word in value.split(" ") if value is not None else ():
            if not all(_DNS_LABEL.fullmatch(label) for label in word.split(".")):
                raise ValueError(
                    f"searchDomain {value!r}: {word!r} is not a lowercase domain name "
                    "such as 'example.com' (separate several with one space)"
                )
        return value

    @field_validator("ssh_keys")
    @classmethod
    def _public_keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            check_one_line(key, "sshKeys entry")
            if "PRIVATE KEY" in key:
                raise ValueError(
                    "sshKeys holds a private key: put only public keys (ssh-ed25519 AAAA...) here"
                )
            if not key.startswith(("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")):
                raise ValueError(f"{key[:30]!r}... is not an OpenSSH public key line")
        return keys


class TailnetSpec(KindModel):
    """How the VM joins the Tailscale network."""

    join: bool = True
    """Join the tailnet on first boot with a one-off auth key homeport creates."""
    tags: list[str] = Field(default_factory=lambda: ["tag:homeport"])
    """ACL tags for the device (each `tag:...`)."""

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not tag.startswith("tag:") or len(tag) < 5:
                raise ValueError(f"{tag!r} is not a Tailscale ACL tag such as 'tag:web'")
        return tags


class StartupSpec(KindModel):
    """Explicit Proxmox startup settings; by default they follow the VM's `layer`."""

    order: int | None = Field(default=None, ge=0)
    """Start order (lower starts first)."""
    up: int | None = Field(default=None, ge=0)
    """Seconds to wait after starting this VM before starting the next."""
    down: int | None = Field(default=None, ge=0)
    """Seconds to wait for a graceful shutdown before the VM is stopped hard."""


_PORTS = re.compile(r"^\d{1,5}(:\d{1,5})?(,\d{1,5}(:\d{1,5})?)*$")


class FirewallRule(KindModel):
    """An extra inbound rule on the VM's Proxmox firewall, besides the derived ones."""

    action: Literal["ACCEPT", "DROP", "REJECT"] = "ACCEPT"
    """What the rule does with matching packets."""
    proto: Literal["tcp", "udp", "icmp"] | None = "tcp"
    """IP protocol; null matches every protocol."""
    port: str | None = None
    """Destination port(s): `9100`, a range `8000:8100` or a list `80,443`; null: every port."""
    source: str | None = None
    """Source address or CIDR, e.g. `100.101.102.103` or `100.64.0.0/10`; null: anywhere."""
    comment: str | None = Field(default=None, max_length=200)
    """Free text kept after homeport's ownership marker in the rule's comment."""

    @field_validator("port")
    @classmethod
    def _port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        numbers = [int(n) for n in re.split(r"[:,]", value)] if _PORTS.fullmatch(value) else []
        if not numbers or not all(1 <= n <= 65535 for n in numbers):
            raise ValueError(
                f"port {value!r} is not a port (1-65535), a range like '8000:8100' or a list like '80,443'"
            )
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(
                    f"source {value!r} is not an address or CIDR such as '100.64.0.0/10'"
                ) from None
        return value

    @model_validator(mode="after")
    def _port_needs_proto(self) -> FirewallRule:
        if self.port is not None and self.proto not in ("tcp", "udp"):
            raise ValueError("a port only applies with proto 'tcp' or 'udp'")
        return self


class VMFirewall(KindModel):
    """The VM's Proxmox firewall, converged by homeport (seed 000: firewalls on all systems)."""

    manage: bool = True
    """Converge the firewall: enabled, inbound DROP by default, rules derived from the estate.
    `false` leaves it alone (`homeport audit` still reports a disabled firewall)."""
    rules: list[FirewallRule] = Field(default_factory=list, max_length=50)
    """Extra inbound rules, in order, placed before the derived ones."""


class VMSpec(SpecBase):
    """Desired state of a VM."""

    machine: DnsLabel
    """The Machine (Proxmox node) the VM runs on."""
    vmid: int | None = Field(default=None, ge=100, le=999_999_999)
    """Proxmox VMID; when omitted homeport allocates one from its configured range."""
    template: TemplateRef = Field(default_factory=TemplateRef)
    """Template to clone from (full clone)."""
    cores: PositiveInt = 2
    """vCPU cores."""
    sockets: PositiveInt = 1
    """CPU sockets."""
    memory_mib: PositiveInt = Field(default=2048, alias="memoryMiB")
    """Memory in MiB."""
    disk: DiskSpec = Field(default_factory=DiskSpec)
    """Boot disk."""
    data_disks: list[DataDisk] = Field(default_factory=list, alias="dataDisks", max_length=30)
    """Data disks beside the boot disk, each in a fixed slot (see DataDisk)."""
    machine_type: Literal["i440fx", "q35"] | None = Field(default=None, alias="machineType")
    """QEMU machine type (Proxmox `machine`); null keeps the template's. PCIe passthrough
    (`pciDevices[].pcie`) needs `q35`."""
    pci_devices: list[PciPassthrough] = Field(
        default_factory=list, alias="pciDevices", max_length=16
    )
    """Host PCI devices passed through (`hostpci0`, `hostpci1`, ... in order). A VM with
    passthrough never live-migrates: moved to another Machine it is stopped, migrated
    offline and started again (only with mappings: a raw device ties it to its host)."""
    network: list[NetworkInterface] = Field(
        default_factory=lambda: [NetworkInterface()], max_length=8
    )
    """NICs, in order (`net0`, `net1`, ...)."""
    tags: list[str] = Field(default_factory=list)
    """Proxmox tags (homeport adds its ownership tag `homeport`)."""
    cloud_init: CloudInit = Field(default_factory=CloudInit)
    """Cloud-init user, keys and DNS."""
    tailnet: TailnetSpec = Field(default_factory=TailnetSpec)
    """Tailscale membership."""
    onboot: bool = True
    """Start the VM when the host boots."""
    layer: Annotated[Literal[1, 2, 3, 4], BeforeValidator(reject_bool)] = 3
    """Boot layer: 1 infrastructure, 2 core services, 3 apps, 4 user-facing. Sets startup order."""
    startup: StartupSpec | None = None
    """Explicit startup settings, overriding those derived from `layer`."""
    power_state: Literal["running", "stopped"] = "running"
    """Desired power state."""
    protection: bool = False
    """Proxmox protection: the VM and its disks cannot be removed while set."""
    role: Literal["router", "app", "dev", "infra"] = "app"
    """What the VM is for; `router` marks the public Caddy router (the only public VM)."""
    max_apps: PositiveInt = 1
    """At most this many Apps on the VM (one app per VM by default); raise it to say
    explicitly that the VM hosts several."""
    description: str | None = None
    """Free text shown in Proxmox (homeport appends its ownership marker)."""
    firewall: VMFirewall = Field(default_factory=VMFirewall)
    """The VM's Proxmox firewall: managed by default, with optional extra rules."""
    deletion_policy: Literal["Hold", "Destroy", "Retain"] = "Hold"
    """What homeport does when the VM leaves git. Always first: stop it. `Hold` (default):
    take a final backup when a BackupPolicy covers the VM, then hold the destruction until
    `homeport approve VM/<name>`; `Destroy`: final backup, then destroy without approval
    (disposable VMs); `Retain`: keep it stopped with its disks, detached from homeport
    (ownership tag and marker removed), never touched again."""

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not tag or any(c in tag for c in ",; ") or tag != tag.lower():
                raise ValueError(
                    f"tag {tag!r} must be non-empty lowercase without ',', ';' or spaces "
                    "(Proxmox normalises tags that way)"
                )
        return tags

    @field_validator("data_disks")
    @classmethod
    def _data_disks_unique(cls, disks: list[DataDisk]) -> list[DataDisk]:
        # Slot 0 is the boot disk's and no data disk slot (the slot check refuses it).
        names: set[str] = set()
        slots: dict[str, str] = {}
        for disk in disks:
            if disk.name in names:
                raise ValueError(
                    f"dataDisks: two disks are named {disk.name!r}; names must be unique"
                )
            if disk.slot in slots:
                raise ValueError(
                    f"dataDisks: {disk.name!r} uses slot {disk.slot}, already taken by "
                    f"{slots[disk.slot]}; give each disk its own slot"
                )
            names.add(disk.name)
            slots[disk.slot] = f"disk {disk.name!r}"
        return disks

    @field_validator("pci_devices")
    @classmethod
    def _pcie_needs_q35(
        cls, devices: list[PciPassthrough], info: ValidationInfo
    ) -> list[PciPassthrough]:
        # machineType is declared before pciDevices, so it is validated already.
        if info.data.get("machine_type") != "q35":
            for index, device in enumerate(devices):
                if device.pcie:
                    raise ValueError(
                        f"pciDevices[{index}]: pcie needs machineType: q35 (the i440fx "
                        "machine has no PCI Express bus); set machineType: q35 or drop pcie"
                    )
        return devices

    @model_validator(mode="after")
    def _ip_gateway(self) -> VMSpec:
        for index, nic in enumerate(self.network):
            if nic.ip == "dhcp" and nic.gateway is not None:
                raise ValueError(f"network[{index}]: a gateway only applies to a static ip")
        return self


class VM(Resource):
    """A QEMU VM cloned from a template."""

    kind_name: ClassVar[str] = "VM"
    plural: ClassVar[str] = "vms"
    short_names: ClassVar[tuple[str, ...]] = ("vm",)

    kind: Literal["VM"]
    """Always `VM`."""
    spec: VMSpec
    """Desired state."""

    def reference_paths(self) -> list[tuple[RefPath, ObjectRef]]:
        return [(("spec", "machine"), ObjectRef(kind="Machine", name=self.spec.machine))]
