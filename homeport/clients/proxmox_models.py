"""Parsed Proxmox replies: what the reconcilers read, typed, with PVE's quirks ironed out.

Built by the typed methods in ``proxmox``, ``proxmox_agent``, ``proxmox_backups``,
``proxmox_replication``, ``proxmox_ha`` and ``proxmox_firewall`` from the ``data`` of each
reply (reference §4-10); the reconcilers diff them against the desired state. Each model
declares the keys it reads with the field types of ``proxmox_fields`` (numbers as strings,
0/1 booleans, absent keys, property strings) and keeps the raw mapping where the caller diffs
keys. ``tests/clients/fixtures/pve`` holds a reply of each endpoint, checked against PVE's own
API schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import AliasPath, BeforeValidator, Field

from homeport.clients.proxmox_fields import (
    NoneAsEmpty,
    PveBool,
    PveFloat,
    PveFloats,
    PveIdList,
    PveInt,
    PveItem,
    PveKeep,
    PveList,
    PveLock,
    PveModel,
    PveOptionalFloat,
    PveOptionalInt,
    PvePresent,
    PveSettings,
    PveStr,
    PveTags,
    PveText,
)
from homeport.clients.proxmox_wire import (
    as_bool,
    as_int,
    as_str,
    decode_sshkeys,
    parse_property_string,
    parse_size,
    parse_tags,
)

Json = dict[str, Any]

_UPID = re.compile(
    r"^UPID:(?P<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):(?P<pid>[0-9A-Fa-f]{8}):"
    r"(?P<pstart>[0-9A-Fa-f]{8,9}):(?P<starttime>[0-9A-Fa-f]{8}):(?P<type>[^:\s/]+):"
    r"(?P<id>[^:\s/]*):(?P<user>[^:\s/]+):$"
)


@dataclass(frozen=True)
class Upid:
    """A decoded task id: the node it runs on, its type (``qmclone``) and object id."""

    text: str
    node: str
    type: str
    id: str
    user: str
    starttime: int

    @classmethod
    def parse(cls, text: str) -> Upid:
        match = _UPID.match(text)
        if not match:
            raise ValueError(f"not a Proxmox task id (UPID): {text!r}")
        return cls(
            text,
            match["node"],
            match["type"],
            match["id"],
            match["user"],
            int(match["starttime"], 16),
        )


@dataclass(frozen=True)
class TaskRef:
    """A started task: where to poll it, and exit statuses that count as success."""

    node: str
    upid: str
    accept: tuple[str, ...] = ()
    """Substrings of an error exit status that still mean "done" (e.g. "already running")."""

    @classmethod
    def of(cls, upid: str, *, accept: tuple[str, ...] = ()) -> TaskRef:
        """The task runs, and must be polled, on the node its UPID names."""
        return cls(Upid.parse(upid).node, upid, accept)


def _task_state(value: object) -> str:
    return "running" if value == "running" else "stopped"


def _guest_type(value: object) -> str:
    return "lxc" if value == "lxc" else "qemu"


def _schedule(value: object) -> str:
    return as_str(value) or "*/15"  # PVE's default: every 15 minutes


class TaskStatus(PveItem):
    upid: PveStr = ""
    node: PveStr = ""
    status: Annotated[Literal["running", "stopped"], BeforeValidator(_task_state)] = "stopped"
    exitstatus: PveText = None
    type: PveStr = ""
    id: PveStr = ""

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def succeeded(self) -> bool:
        """Stopped with ``OK`` or ``WARNINGS: n`` (reference §6.2)."""
        if self.running or self.exitstatus is None:
            return False
        return self.exitstatus == "OK" or self.exitstatus.startswith("WARNINGS")


@dataclass(frozen=True)
class TaskResult:
    """A finished task: its exit status (``OK``, ``WARNINGS: 2``, or an accepted error)."""

    upid: str
    exitstatus: str


class PveVersion(PveItem):
    version: PveStr = ""
    release: PveStr = ""
    repoid: PveStr = ""


class _NodeUsage(PveItem):
    """A node's capacity and use, as ``/nodes`` and ``/cluster/resources`` both list it."""

    node: PveStr = ""
    status: PveStr = "unknown"
    cpu: PveFloat = 0.0
    maxcpu: PveInt = 0
    mem: PveInt = 0
    maxmem: PveInt = 0
    disk: PveInt = 0
    maxdisk: PveInt = 0


class NodeInfo(_NodeUsage):
    """One entry of ``GET /nodes``: offline nodes carry no usage figures (zeros here)."""

    uptime: PveInt = 0

    @property
    def online(self) -> bool:
        return self.status == "online"


class NodeStatus(PveItem):
    """``GET /nodes/{node}/status``: capacity and use of one physical machine."""

    uptime: PveInt = 0
    cpu: PveFloat = 0.0
    cpus: PveInt = Field(0, validation_alias=AliasPath("cpuinfo", "cpus"))
    cpu_model: PveStr = Field("", validation_alias=AliasPath("cpuinfo", "model"))
    memory_total: PveInt = Field(0, validation_alias=AliasPath("memory", "total"))
    memory_used: PveInt = Field(0, validation_alias=AliasPath("memory", "used"))
    rootfs_total: PveInt = Field(0, validation_alias=AliasPath("rootfs", "total"))
    rootfs_used: PveInt = Field(0, validation_alias=AliasPath("rootfs", "used"))
    pveversion: PveStr = ""
    kversion: PveStr = ""
    loadavg: PveFloats = ()


class ClusterNode(PveItem):
    name: PveStr = ""
    nodeid: PveInt = 0
    online: PveBool = False
    local: PveBool = False
    ip: PveText = None


class _ClusterEntry(PveItem):
    name: PveText = None
    quorate: PveBool = False


class ClusterStatus(PveModel):
    """``GET /cluster/status``; a standalone node has no cluster entry and counts as quorate."""

    name: str | None = None
    quorate: bool = True
    nodes: tuple[ClusterNode, ...] = ()

    @property
    def online_nodes(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes if n.online)

    @classmethod
    def parse(cls, items: list[Json]) -> ClusterStatus:
        nodes = tuple(ClusterNode.parse_list([i for i in items if i.get("type") == "node"]))
        cluster = next((i for i in items if i.get("type") == "cluster"), None)
        if cluster is None:
            return cls(nodes=nodes)
        entry = _ClusterEntry.parse(cluster)
        return cls(name=entry.name, quorate=entry.quorate, nodes=nodes)


class VmResource(PveItem):
    """A guest in ``/cluster/resources``: the shared per-resync snapshot of every VM."""

    vmid: PveInt = 0
    node: PveStr = ""
    type: Annotated[Literal["qemu", "lxc"], BeforeValidator(_guest_type)] = "qemu"
    name: PveText = None
    status: PveStr = "unknown"
    template: PveBool = False
    tags: PveTags = ()
    lock: PveLock = None
    hastate: PveText = None
    pool: PveText = None
    maxcpu: PveInt = 0
    maxmem: PveInt = 0
    maxdisk: PveInt = 0
    mem: PveInt = 0
    cpu: PveFloat = 0.0
    uptime: PveInt = 0

    @property
    def running(self) -> bool:
        return self.status == "running"


class NodeResource(_NodeUsage):
    """A node in ``/cluster/resources``; ``hastate`` is its HA state (``maintenance``, ...)."""

    hastate: PveText = None


class StorageResource(PveItem):
    storage: PveStr = ""
    node: PveStr = ""
    status: PveStr = ""
    shared: PveBool = False
    content: PveList = ()
    plugintype: PveStr = ""
    disk: PveInt = 0
    maxdisk: PveInt = 0


class ClusterResources(PveModel):
    """One ``GET /cluster/resources`` call, split by kind."""

    vms: tuple[VmResource, ...] = ()
    nodes: tuple[NodeResource, ...] = ()
    storages: tuple[StorageResource, ...] = ()

    def vm(self, vmid: int) -> VmResource | None:
        return self._by_vmid.get(vmid)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("_by_vmid", None)  # the index of the original's VMs
        return copied

    @cached_property
    def _by_vmid(self) -> dict[int, VmResource]:
        # Every VM's look asks for its own entry: a scan each was O(estate) per VM.
        found: dict[int, VmResource] = {}
        for vm in self.vms:
            found.setdefault(vm.vmid, vm)  # the first, as the scan found it
        return found

    def vms_named(self, name: str) -> tuple[VmResource, ...]:
        return tuple(v for v in self.vms if v.name == name)

    @classmethod
    def parse(cls, items: list[Json]) -> ClusterResources:
        def of(*types: str) -> list[Json]:
            return [i for i in items if i.get("type") in types]

        return cls(
            vms=tuple(VmResource.parse_list(of("qemu", "lxc"))),
            nodes=tuple(NodeResource.parse_list(of("node"))),
            storages=tuple(StorageResource.parse_list(of("storage"))),
        )


class VmStatus(PveItem):
    """``GET .../status/current``: power state, lock, agent flag, HA management."""

    vmid: PveInt = 0
    status: PveStr = "unknown"
    qmpstatus: PveText = None
    name: PveText = None
    lock: PveLock = None
    agent: PveBool = False
    ha_managed: PveBool = Field(False, validation_alias=AliasPath("ha", "managed"))
    ha_state: PveText = Field(None, validation_alias=AliasPath("ha", "state"))
    uptime: PveInt = 0
    tags: PveTags = ()

    @property
    def running(self) -> bool:
        return self.status == "running"


class VmConfig(PveModel):
    """A VM's config as GET returns it (pending values merged unless ``current=1``).

    ``values`` keeps every key but ``digest`` raw (ints as ints, property strings as
    strings) so reconcilers can diff exactly the keys they declare.
    """

    vmid: int
    digest: PveStr = ""
    values: PveSettings = Field(default_factory=dict)

    def get(self, key: str) -> str | int | float | None:
        return self.values.get(key)

    def text(self, key: str) -> str | None:
        return as_str(self.values.get(key))

    def number(self, key: str, default: int = 0) -> int:
        return as_int(self.values.get(key), default)

    def flag(self, key: str, default: bool = False) -> bool:
        return as_bool(self.values.get(key), default)

    def prop(self, key: str, *, default_key: str | None = None) -> dict[str, str]:
        """A property-string key parsed (``net0``, ``agent``, ``startup``, ``scsi0``)."""
        value = self.text(key)
        return parse_property_string(value, default_key=default_key) if value else {}

    @property
    def lock(self) -> str | None:
        return self.text("lock") or None

    @property
    def tags(self) -> tuple[str, ...]:
        return parse_tags(self.values.get("tags"))

    @property
    def sshkeys(self) -> list[str]:
        """Public keys, decoded from PVE's percent-encoded form (pitfall 15)."""
        value = self.text("sshkeys")
        return decode_sshkeys(value) if value else []

    @property
    def memory_mib(self) -> int:
        """``memory`` is ``"2048"`` or ``"current=2048"`` on PVE 8+; PVE's default is 512."""
        return as_int(self.prop("memory", default_key="current").get("current"), 512)

    def disk_size(self, key: str) -> int | None:
        """Bytes of a disk key's ``size=`` (``scsi0: local-lvm:vm-100-disk-0,size=32G``)."""
        size = self.prop(key, default_key="file").get("size")
        return parse_size(size) if size else None

    @classmethod
    def parse(cls, vmid: int, data: Json) -> VmConfig:
        return cls(vmid=vmid, digest=data.get("digest", ""), values=data)

    @classmethod
    def from_pending(cls, vmid: int, items: list[Json]) -> VmConfig:
        """The merged config (what ``GET config`` shows) rebuilt from ``GET .../pending``,
        which lists every key with its applied and pending value: PVE's own merge, pending
        values over applied ones and pending deletes dropped. No ``digest``: a write reads
        ``GET config`` for it (``digest`` empty here)."""
        values: dict[str, Any] = {}
        for item in items:
            key = item.get("key")
            if not isinstance(key, str) or key == "digest" or item.get("delete"):
                continue
            value = item["pending"] if item.get("pending") is not None else item.get("value")
            if value is not None:
                values[key] = value
        return cls(vmid=vmid, values=values)


class PendingChange(PveItem):
    """One entry of ``GET .../pending``: applied value, pending value, pending delete."""

    key: PveStr = ""
    value: PveText = None
    pending: PveText = None
    delete: PveInt = 0


class StorageInfo(PveItem):
    """``GET /nodes/{node}/storage``: one storage as a node sees it."""

    storage: PveStr = ""
    type: PveStr = ""
    content: PveList = ()
    active: PveBool = True
    enabled: PveBool = True
    shared: PveBool = False
    total: PveInt = 0
    used: PveInt = 0
    avail: PveInt = 0


class BackupVolume(PveItem):
    """A backup archive in a storage's content list."""

    volid: PveStr = ""
    vmid: PveOptionalInt = None
    ctime: PveInt = 0
    size: PveInt = 0
    format: PveStr = ""
    subtype: PveText = None
    notes: PveText = None
    protected: PveBool = False


class BackupJob(PveItem):
    """A ``/cluster/backup`` job; ``prune_backups`` is parsed from GET's object form."""

    id: PveStr = ""
    schedule: PveStr = ""
    enabled: PveBool = True
    storage: PveText = None
    mode: PveText = None
    compress: PveText = None
    vmids: PveIdList = Field((), alias="vmid")
    all: PveBool = False
    node: PveText = None
    prune_backups: PveKeep = Field(default_factory=dict, alias="prune-backups")
    notes_template: PveText = Field(None, alias="notes-template")
    comment: PveText = None
    next_run: PveOptionalInt = Field(None, alias="next-run")


class ReplicationJob(PveItem):
    id: PveStr = ""
    guest: PveInt = 0
    jobnum: PveInt = 0
    target: PveStr = ""
    schedule: Annotated[str, BeforeValidator(_schedule)] = "*/15"
    rate: PveOptionalFloat = None
    comment: PveText = None
    disabled: PveBool = Field(False, alias="disable")
    source: PveText = None
    remove_job: PveText = None


class ReplicationState(PveItem):
    """Per-node job status: when it last synced (0 = never), failures, the last error."""

    id: PveStr = ""
    guest: PveInt = 0
    target: PveStr = ""
    last_sync: PveInt = 0
    last_try: PveInt = 0
    next_sync: PveInt = 0
    duration: PveFloat = 0.0
    fail_count: PveInt = 0
    error: PveText = None
    running: PvePresent = Field(False, validation_alias="pid")


class HaResource(PveItem):
    sid: PveStr = ""
    type: PveStr = ""
    state: PveStr = "started"
    group: PveText = None
    max_restart: PveInt = 1
    max_relocate: PveInt = 1
    comment: PveText = None

    @property
    def vmid(self) -> int | None:
        _, _, number = self.sid.partition(":")
        return as_int(number) if number.isdigit() else None


class FirewallOptions(PveModel):
    """Only the keys set are returned (no defaults), with the options file's digest."""

    digest: PveStr = ""
    values: PveSettings = Field(default_factory=dict)

    @classmethod
    def parse(cls, data: Json) -> FirewallOptions:
        return cls(digest=data.get("digest", ""), values=data)


class FirewallRule(PveItem):
    pos: PveInt = 0
    type: PveStr = ""
    action: PveStr = ""
    enable: PveBool = False
    proto: PveText = None
    dport: PveText = None
    sport: PveText = None
    source: PveText = None
    dest: PveText = None
    iface: PveText = None
    macro: PveText = None
    log: PveText = None
    comment: PveText = None


class FirewallRules(PveModel):
    """A VM's rules in order, with the list digest every item carries."""

    digest: str
    rules: tuple[FirewallRule, ...]

    @classmethod
    def parse(cls, items: list[Json]) -> FirewallRules:
        digest = as_str(items[0].get("digest")) if items else None
        rules = sorted(FirewallRule.parse_list(items), key=lambda r: r.pos)
        return cls(digest=digest or "", rules=tuple(rules))


class GuestAddress(PveItem):
    type: PveStr = Field("", alias="ip-address-type")
    address: PveStr = Field("", alias="ip-address")
    prefix: PveInt = 0


class GuestInterface(PveItem):
    """One NIC as the guest agent reports it; ``addresses`` may be empty early after boot."""

    name: PveStr = ""
    mac: PveText = Field(None, alias="hardware-address")
    addresses: Annotated[tuple[GuestAddress, ...], NoneAsEmpty] = Field((), alias="ip-addresses")


class AgentExecStatus(PveItem):
    """``agent/exec-status``: whether the command exited, its code and (decoded) output."""

    exited: PveBool = False
    exitcode: PveOptionalInt = None
    out_data: PveStr = Field("", alias="out-data")
    err_data: PveStr = Field("", alias="err-data")
    signal: PveOptionalInt = None
    out_truncated: PveBool = Field(False, alias="out-truncated")
    err_truncated: PveBool = Field(False, alias="err-truncated")

    @property
    def truncated(self) -> bool:
        return self.out_truncated or self.err_truncated
