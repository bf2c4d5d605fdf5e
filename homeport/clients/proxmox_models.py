"""Parsed Proxmox replies: what the reconcilers read, typed, with PVE's quirks ironed out.

Built by the typed methods in ``proxmox``, ``proxmox_agent``, ``proxmox_backups``,
``proxmox_replication`` and ``proxmox_firewall`` from the ``data`` of each reply
(reference §4-10); the reconcilers diff them against the desired state. Parsers accept
numbers as strings and 0/1 booleans, and keep the raw mapping where the caller diffs keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from homeport.clients.proxmox_wire import (
    as_bool,
    as_float,
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


@dataclass(frozen=True)
class TaskStatus:
    upid: str
    node: str
    status: Literal["running", "stopped"]
    exitstatus: str | None
    type: str
    id: str

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def succeeded(self) -> bool:
        """Stopped with ``OK`` or ``WARNINGS: n`` (reference §6.2)."""
        if self.running or self.exitstatus is None:
            return False
        return self.exitstatus == "OK" or self.exitstatus.startswith("WARNINGS")

    @classmethod
    def parse(cls, data: Json) -> TaskStatus:
        status: Literal["running", "stopped"] = (
            "running" if data.get("status") == "running" else "stopped"
        )
        return cls(
            upid=str(data.get("upid", "")),
            node=str(data.get("node", "")),
            status=status,
            exitstatus=as_str(data.get("exitstatus")),
            type=str(data.get("type", "")),
            id=str(data.get("id", "")),
        )


@dataclass(frozen=True)
class TaskResult:
    """A finished task: its exit status (``OK``, ``WARNINGS: 2``, or an accepted error)."""

    upid: str
    exitstatus: str


@dataclass(frozen=True)
class PveVersion:
    version: str
    release: str
    repoid: str

    @classmethod
    def parse(cls, data: Json) -> PveVersion:
        return cls(
            str(data.get("version", "")), str(data.get("release", "")), str(data.get("repoid", ""))
        )


@dataclass(frozen=True)
class NodeInfo:
    """One entry of ``GET /nodes``: offline nodes carry no usage figures (zeros here)."""

    node: str
    status: str
    cpu: float
    maxcpu: int
    mem: int
    maxmem: int
    disk: int
    maxdisk: int
    uptime: int

    @property
    def online(self) -> bool:
        return self.status == "online"

    @classmethod
    def parse(cls, data: Json) -> NodeInfo:
        return cls(
            node=str(data.get("node", "")),
            status=str(data.get("status", "unknown")),
            cpu=as_float(data.get("cpu")),
            maxcpu=as_int(data.get("maxcpu")),
            mem=as_int(data.get("mem")),
            maxmem=as_int(data.get("maxmem")),
            disk=as_int(data.get("disk")),
            maxdisk=as_int(data.get("maxdisk")),
            uptime=as_int(data.get("uptime")),
        )


@dataclass(frozen=True)
class NodeStatus:
    """``GET /nodes/{node}/status``: capacity and use of one physical machine."""

    uptime: int
    cpu: float
    cpus: int
    cpu_model: str
    memory_total: int
    memory_used: int
    rootfs_total: int
    rootfs_used: int
    pveversion: str
    kversion: str
    loadavg: tuple[float, ...]

    @classmethod
    def parse(cls, data: Json) -> NodeStatus:
        memory = data.get("memory") or {}
        rootfs = data.get("rootfs") or {}
        cpuinfo = data.get("cpuinfo") or {}
        return cls(
            uptime=as_int(data.get("uptime")),
            cpu=as_float(data.get("cpu")),
            cpus=as_int(cpuinfo.get("cpus")),
            cpu_model=str(cpuinfo.get("model", "")),
            memory_total=as_int(memory.get("total")),
            memory_used=as_int(memory.get("used")),
            rootfs_total=as_int(rootfs.get("total")),
            rootfs_used=as_int(rootfs.get("used")),
            pveversion=str(data.get("pveversion", "")),
            kversion=str(data.get("kversion", "")),
            loadavg=tuple(as_float(v) for v in data.get("loadavg") or ()),
        )


@dataclass(frozen=True)
class ClusterNode:
    name: str
    nodeid: int
    online: bool
    local: bool
    ip: str | None


@dataclass(frozen=True)
class ClusterStatus:
    """``GET /cluster/status``; a standalone node has no cluster entry and counts as quorate."""

    name: str | None
    quorate: bool
    nodes: tuple[ClusterNode, ...]

    @property
    def online_nodes(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes if n.online)

    @classmethod
    def parse(cls, items: list[Json]) -> ClusterStatus:
        cluster = next((i for i in items if i.get("type") == "cluster"), None)
        nodes = tuple(
            ClusterNode(
                name=str(i.get("name", "")),
                nodeid=as_int(i.get("nodeid")),
                online=as_bool(i.get("online")),
                local=as_bool(i.get("local")),
                ip=as_str(i.get("ip")),
            )
            for i in items
            if i.get("type") == "node"
        )
        if cluster is None:
            return cls(None, True, nodes)
        return cls(as_str(cluster.get("name")), as_bool(cluster.get("quorate")), nodes)


@dataclass(frozen=True)
class VmResource:
    """A guest in ``/cluster/resources``: the shared per-resync snapshot of every VM."""

    vmid: int
    node: str
    type: Literal["qemu", "lxc"]
    name: str | None
    status: str
    template: bool
    tags: tuple[str, ...]
    lock: str | None
    hastate: str | None
    pool: str | None
    maxcpu: int
    maxmem: int
    maxdisk: int
    mem: int
    cpu: float
    uptime: int

    @property
    def running(self) -> bool:
        return self.status == "running"

    @classmethod
    def parse(cls, data: Json) -> VmResource:
        return cls(
            vmid=as_int(data.get("vmid")),
            node=str(data.get("node", "")),
            type="lxc" if data.get("type") == "lxc" else "qemu",
            name=as_str(data.get("name")),
            status=str(data.get("status", "unknown")),
            template=as_bool(data.get("template")),
            tags=parse_tags(data.get("tags")),
            lock=as_str(data.get("lock")) or None,
            hastate=as_str(data.get("hastate")),
            pool=as_str(data.get("pool")),
            maxcpu=as_int(data.get("maxcpu")),
            maxmem=as_int(data.get("maxmem")),
            maxdisk=as_int(data.get("maxdisk")),
            mem=as_int(data.get("mem")),
            cpu=as_float(data.get("cpu")),
            uptime=as_int(data.get("uptime")),
        )


@dataclass(frozen=True)
class NodeResource:
    node: str
    status: str
    cpu: float
    maxcpu: int
    mem: int
    maxmem: int
    disk: int
    maxdisk: int
    hastate: str | None

    @classmethod
    def parse(cls, data: Json) -> NodeResource:
        return cls(
            node=str(data.get("node", "")),
            status=str(data.get("status", "unknown")),
            cpu=as_float(data.get("cpu")),
            maxcpu=as_int(data.get("maxcpu")),
            mem=as_int(data.get("mem")),
            maxmem=as_int(data.get("maxmem")),
            disk=as_int(data.get("disk")),
            maxdisk=as_int(data.get("maxdisk")),
            hastate=as_str(data.get("hastate")),
        )


@dataclass(frozen=True)
class StorageResource:
    storage: str
    node: str
    status: str
    shared: bool
    content: tuple[str, ...]
    plugintype: str
    disk: int
    maxdisk: int

    @classmethod
    def parse(cls, data: Json) -> StorageResource:
        return cls(
            storage=str(data.get("storage", "")),
            node=str(data.get("node", "")),
            status=str(data.get("status", "")),
            shared=as_bool(data.get("shared")),
            content=_csv(data.get("content")),
            plugintype=str(data.get("plugintype", "")),
            disk=as_int(data.get("disk")),
            maxdisk=as_int(data.get("maxdisk")),
        )


@dataclass(frozen=True)
class ClusterResources:
    """One ``GET /cluster/resources`` call, split by kind."""

    vms: tuple[VmResource, ...] = ()
    nodes: tuple[NodeResource, ...] = ()
    storages: tuple[StorageResource, ...] = ()

    def vm(self, vmid: int) -> VmResource | None:
        return next((v for v in self.vms if v.vmid == vmid), None)

    def vms_named(self, name: str) -> tuple[VmResource, ...]:
        return tuple(v for v in self.vms if v.name == name)

    @classmethod
    def parse(cls, items: list[Json]) -> ClusterResources:
        return cls(
            vms=tuple(VmResource.parse(i) for i in items if i.get("type") in ("qemu", "lxc")),
            nodes=tuple(NodeResource.parse(i) for i in items if i.get("type") == "node"),
            storages=tuple(StorageResource.parse(i) for i in items if i.get("type") == "storage"),
        )


@dataclass(frozen=True)
class VmStatus:
    """``GET .../status/current``: power state, lock, agent flag, HA management."""

    vmid: int
    status: str
    qmpstatus: str | None
    name: str | None
    lock: str | None
    agent: bool
    ha_managed: bool
    ha_state: str | None
    uptime: int
    tags: tuple[str, ...]

    @property
    def running(self) -> bool:
        return self.status == "running"

    @classmethod
    def parse(cls, data: Json) -> VmStatus:
        ha = data.get("ha") or {}
        return cls(
            vmid=as_int(data.get("vmid")),
            status=str(data.get("status", "unknown")),
            qmpstatus=as_str(data.get("qmpstatus")),
            name=as_str(data.get("name")),
            lock=as_str(data.get("lock")) or None,
            agent=as_bool(data.get("agent")),
            ha_managed=as_bool(ha.get("managed")),
            ha_state=as_str(ha.get("state")),
            uptime=as_int(data.get("uptime")),
            tags=parse_tags(data.get("tags")),
        )


@dataclass(frozen=True)
class VmConfig:
    """A VM's config as GET returns it (pending values merged unless ``current=1``).

    ``values`` keeps every key but ``digest`` raw (ints as ints, property strings as
    strings) so reconcilers can diff exactly the keys they declare.
    """

    vmid: int
    digest: str
    values: Mapping[str, str | int | float]

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
        value = self.text("memory")
        if not value:
            return 512
        return as_int(parse_property_string(value, default_key="current").get("current"), 512)

    def disk_size(self, key: str) -> int | None:
        """Bytes of a disk key's ``size=`` (``scsi0: local-lvm:vm-100-disk-0,size=32G``)."""
        size = self.prop(key, default_key="file").get("size")
        return parse_size(size) if size else None

    @classmethod
    def parse(cls, vmid: int, data: Json) -> VmConfig:
        values = {k: v for k, v in data.items() if k != "digest" and v is not None}
        return cls(vmid, str(data.get("digest", "")), values)


@dataclass(frozen=True)
class PendingChange:
    """One entry of ``GET .../pending``: applied value, pending value, pending delete."""

    key: str
    value: str | None
    pending: str | None
    delete: int

    @classmethod
    def parse(cls, data: Json) -> PendingChange:
        return cls(
            key=str(data.get("key", "")),
            value=as_str(data.get("value")),
            pending=as_str(data.get("pending")),
            delete=as_int(data.get("delete")),
        )


def _csv(value: object) -> tuple[str, ...]:
    if not isinstance(value, str):
        return ()
    return tuple(v for v in value.split(",") if v)


@dataclass(frozen=True)
class StorageInfo:
    """``GET /nodes/{node}/storage``: one storage as a node sees it."""

    storage: str
    type: str
    content: tuple[str, ...]
    active: bool
    enabled: bool
    shared: bool
    total: int
    used: int
    avail: int

    @classmethod
    def parse(cls, data: Json) -> StorageInfo:
        return cls(
            storage=str(data.get("storage", "")),
            type=str(data.get("type", "")),
            content=_csv(data.get("content")),
            active=as_bool(data.get("active"), True),
            enabled=as_bool(data.get("enabled"), True),
            shared=as_bool(data.get("shared")),
            total=as_int(data.get("total")),
            used=as_int(data.get("used")),
            avail=as_int(data.get("avail")),
        )


@dataclass(frozen=True)
class BackupVolume:
    """A backup archive in a storage's content list."""

    volid: str
    vmid: int | None
    ctime: int
    size: int
    format: str
    subtype: str | None
    notes: str | None
    protected: bool

    @classmethod
    def parse(cls, data: Json) -> BackupVolume:
        vmid = data.get("vmid")
        return cls(
            volid=str(data.get("volid", "")),
            vmid=as_int(vmid) if vmid is not None else None,
            ctime=as_int(data.get("ctime")),
            size=as_int(data.get("size")),
            format=str(data.get("format", "")),
            subtype=as_str(data.get("subtype")),
            notes=as_str(data.get("notes")),
            protected=as_bool(data.get("protected")),
        )


@dataclass(frozen=True)
class BackupJob:
    """A ``/cluster/backup`` job; ``prune_backups`` is parsed from GET's object form."""

    id: str
    schedule: str
    enabled: bool
    storage: str | None
    mode: str | None
    compress: str | None
    vmids: tuple[int, ...]
    all: bool
    node: str | None
    prune_backups: dict[str, int]
    notes_template: str | None
    comment: str | None
    next_run: int | None
    raw: Json = field(compare=False, repr=False)

    @classmethod
    def parse(cls, data: Json) -> BackupJob:
        next_run = data.get("next-run")
        return cls(
            id=str(data.get("id", "")),
            schedule=str(data.get("schedule", "")),
            enabled=as_bool(data.get("enabled"), True),
            storage=as_str(data.get("storage")),
            mode=as_str(data.get("mode")),
            compress=as_str(data.get("compress")),
            vmids=tuple(as_int(v) for v in _csv(as_str(data.get("vmid")))),
            all=as_bool(data.get("all")),
            node=as_str(data.get("node")),
            prune_backups=parse_prune_backups(data.get("prune-backups")),
            notes_template=as_str(data.get("notes-template")),
            comment=as_str(data.get("comment")),
            next_run=as_int(next_run) if next_run is not None else None,
            raw=dict(data),
        )


def parse_prune_backups(value: object) -> dict[str, int]:
    """``prune-backups`` as an object (GET) or a property string (older servers) → ints."""
    if isinstance(value, str):
        value = parse_property_string(value)
    if not isinstance(value, dict):
        return {}
    return {str(k): as_int(v) for k, v in value.items()}


@dataclass(frozen=True)
class ReplicationJob:
    id: str
    guest: int
    jobnum: int
    target: str
    schedule: str
    rate: float | None
    comment: str | None
    disabled: bool
    source: str | None
    remove_job: str | None

    @classmethod
    def parse(cls, data: Json) -> ReplicationJob:
        rate = data.get("rate")
        return cls(
            id=str(data.get("id", "")),
            guest=as_int(data.get("guest")),
            jobnum=as_int(data.get("jobnum")),
            target=str(data.get("target", "")),
            schedule=str(data.get("schedule") or "*/15"),
            rate=as_float(rate) if rate is not None else None,
            comment=as_str(data.get("comment")),
            disabled=as_bool(data.get("disable")),
            source=as_str(data.get("source")),
            remove_job=as_str(data.get("remove_job")),
        )


@dataclass(frozen=True)
class ReplicationState:
    """Per-node job status: when it last synced (0 = never), failures, the last error."""

    id: str
    guest: int
    target: str
    last_sync: int
    last_try: int
    next_sync: int
    duration: float
    fail_count: int
    error: str | None
    running: bool

    @classmethod
    def parse(cls, data: Json) -> ReplicationState:
        return cls(
            id=str(data.get("id", "")),
            guest=as_int(data.get("guest")),
            target=str(data.get("target", "")),
            last_sync=as_int(data.get("last_sync")),
            last_try=as_int(data.get("last_try")),
            next_sync=as_int(data.get("next_sync")),
            duration=as_float(data.get("duration")),
            fail_count=as_int(data.get("fail_count")),
            error=as_str(data.get("error")),
            running=data.get("pid") is not None,
        )


@dataclass(frozen=True)
class HaResource:
    sid: str
    type: str
    state: str
    group: str | None
    max_restart: int
    max_relocate: int
    comment: str | None

    @property
    def vmid(self) -> int | None:
        _, _, number = self.sid.partition(":")
        return as_int(number) if number.isdigit() else None

    @classmethod
    def parse(cls, data: Json) -> HaResource:
        return cls(
            sid=str(data.get("sid", "")),
            type=str(data.get("type", "")),
            state=str(data.get("state", "started")),
            group=as_str(data.get("group")),
            max_restart=as_int(data.get("max_restart"), 1),
            max_relocate=as_int(data.get("max_relocate"), 1),
            comment=as_str(data.get("comment")),
        )


@dataclass(frozen=True)
class FirewallOptions:
    """Only the keys set are returned (no defaults), with the options file's digest."""

    digest: str
    values: Mapping[str, str | int]

    @classmethod
    def parse(cls, data: Json) -> FirewallOptions:
        return cls(
            str(data.get("digest", "")),
            {k: v for k, v in data.items() if k != "digest" and v is not None},
        )


@dataclass(frozen=True)
class FirewallRule:
    pos: int
    type: str
    action: str
    enable: bool
    proto: str | None = None
    dport: str | None = None
    sport: str | None = None
    source: str | None = None
    dest: str | None = None
    iface: str | None = None
    macro: str | None = None
    log: str | None = None
    comment: str | None = None

    @classmethod
    def parse(cls, data: Json) -> FirewallRule:
        def text(key: str) -> str | None:
            return as_str(data.get(key))

        return cls(
            pos=as_int(data.get("pos")),
            type=str(data.get("type", "")),
            action=str(data.get("action", "")),
            enable=as_bool(data.get("enable")),
            proto=text("proto"),
            dport=text("dport"),
            sport=text("sport"),
            source=text("source"),
            dest=text("dest"),
            iface=text("iface"),
            macro=text("macro"),
            log=text("log"),
            comment=text("comment"),
        )


@dataclass(frozen=True)
class FirewallRules:
    """A VM's rules in order, with the list digest every item carries."""

    digest: str
    rules: tuple[FirewallRule, ...]

    @classmethod
    def parse(cls, items: list[Json]) -> FirewallRules:
        digest = str(items[0].get("digest", "")) if items else ""
        rules = sorted((FirewallRule.parse(i) for i in items), key=lambda r: r.pos)
        return cls(digest, tuple(rules))


@dataclass(frozen=True)
class GuestAddress:
    type: str
    address: str
    prefix: int


@dataclass(frozen=True)
class GuestInterface:
    """One NIC as the guest agent reports it; ``addresses`` may be empty early after boot."""

    name: str
    mac: str | None
    addresses: tuple[GuestAddress, ...]

    @classmethod
    def parse(cls, data: Json) -> GuestInterface:
        return cls(
            name=str(data.get("name", "")),
            mac=as_str(data.get("hardware-address")),
            addresses=tuple(
                GuestAddress(
                    type=str(a.get("ip-address-type", "")),
                    address=str(a.get("ip-address", "")),
                    prefix=as_int(a.get("prefix")),
                )
                for a in data.get("ip-addresses") or ()
            ),
        )


@dataclass(frozen=True)
class AgentExecStatus:
    """``agent/exec-status``: whether the command exited, its code and (decoded) output."""

    exited: bool
    exitcode: int | None
    out_data: str
    err_data: str
    signal: int | None
    truncated: bool

    @classmethod
    def parse(cls, data: Json) -> AgentExecStatus:
        exitcode = data.get("exitcode")
        signal = data.get("signal")
        return cls(
            exited=as_bool(data.get("exited")),
            exitcode=as_int(exitcode) if exitcode is not None else None,
            out_data=str(data.get("out-data") or ""),
            err_data=str(data.get("err-data") or ""),
            signal=as_int(signal) if signal is not None else None,
            truncated=as_bool(data.get("out-truncated")) or as_bool(data.get("err-truncated")),
        )
