"""QEMU VMs: config, pending changes, power state, and PVE's lookups and status views.

A `Vm` lives on one node (a vmid is cluster-unique). Its `conf` holds `lock` and `template`
exactly as a PVE config does; `lock_task` remembers which task set the lock (for the
invariants). Views here back `GET .../status/current`, `GET /nodes/{node}/qemu` and
`/cluster/resources`. Neighbours: `qemu_config` (file format), `power` (start/stop),
`guests` (the guest runtime behind a running VM).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import config_missing, vm_locked
from homeport.simulator.propstring import parse_propstring, parse_size
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve.qemu_config import Config

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

GIB = 1 << 30


@dataclass
class Vm:
    vmid: int
    node: str
    conf: Config
    pending: Config = field(default_factory=dict)
    pending_delete: dict[str, int] = field(default_factory=dict)
    status: str = "stopped"
    started_at: float | None = None
    pid: int | None = None
    address: str = ""
    lock_task: str | None = None
    booted: bool = False  # the guest finished booting (agent may answer)
    instance_id: str | None = None  # cloud-init instance the guest last booted with
    ci_generated: Config = field(default_factory=dict)  # values in the cloud-init drive
    stale_running: bool = False  # crashed while running; shows until the node is fenced
    firewall_options: dict[str, Any] = field(default_factory=dict)
    firewall_rules: list[dict[str, Any]] = field(default_factory=list)
    pool: str | None = None

    @property
    def name(self) -> str:
        return str(self.conf.get("name", f"VM {self.vmid}"))

    @property
    def lock(self) -> str | None:
        value = self.conf.get("lock")
        return str(value) if value is not None else None

    @property
    def is_template(self) -> bool:
        return bool(self.conf.get("template"))

    @property
    def running(self) -> bool:
        return self.status == "running"

    def digest(self) -> str:
        return qc.digest(self.conf, self.pending, self.pending_delete)

    def effective(self) -> Config:
        return qc.merged(self.conf, self.pending, self.pending_delete)

    def set_lock(self, lock: str, upid: str) -> None:
        self.conf["lock"] = lock
        self.lock_task = upid

    def clear_lock(self) -> None:
        self.conf.pop("lock", None)
        self.lock_task = None

    def root_disk_size(self) -> int:
        for key in ("scsi0", "virtio0", "sata0", "ide0"):
            value = self.conf.get(key)
            if value is not None and not qc.is_cdrom(str(value)):
                size = parse_propstring(str(value), "file").get("size")
                return parse_size(size) if size else 0
        return 0


def vm_on_node(world: World, node: str, vmid: int) -> Vm:
    """`PVE::QemuConfig->load_config`: the VM, if its config lives on `node`."""
    vm = world.vms.get(vmid)
    if vm is None or vm.node != node:
        raise config_missing(node, vmid)
    return vm


def check_lock(vm: Vm, skiplock: bool = False) -> None:
    if vm.lock and not skiplock:
        raise vm_locked(vm.lock)


def runtime_stats(world: World, vm: Vm) -> dict[str, Any]:
    """The volatile numbers `vmstatus` reports (deterministic per VM and time)."""
    maxmem = qc.memory_mib(vm.conf) * (1 << 20)
    if not vm.running or vm.started_at is None:
        return {
            "cpu": 0,
            "mem": 0,
            "uptime": 0,
            "netin": 0,
            "netout": 0,
            "diskread": 0,
            "diskwrite": 0,
        }
    uptime = int(world.clock.now() - vm.started_at)
    spread = (vm.vmid % 7) / 100
    return {
        "cpu": round(0.01 + spread, 4),
        "mem": int(maxmem * (0.35 + spread)),
        "uptime": uptime,
        "netin": uptime * 1200,
        "netout": uptime * 800,
        "diskread": uptime * 4096,
        "diskwrite": uptime * 2048,
    }


def vm_index_item(world: World, vm: Vm) -> dict[str, Any]:
    """One item of `GET /nodes/{node}/qemu` (`QemuServer::vmstatus`)."""
    conf = vm.conf
    item: dict[str, Any] = {
        "vmid": vm.vmid,
        "name": vm.name,
        "status": vm.status,
        "cpus": qc.cpus(conf),
        "maxmem": qc.memory_mib(conf) * (1 << 20),
        "maxdisk": vm.root_disk_size(),
        "disk": 0,
        **runtime_stats(world, vm),
    }
    if vm.running and vm.pid:
        item["pid"] = vm.pid
    if vm.is_template:
        item["template"] = 1
    if vm.lock:
        item["lock"] = vm.lock
    if conf.get("tags"):
        item["tags"] = conf["tags"]
    if any(str(k).startswith("serial") for k in conf):
        item["serial"] = 1
    return item


def vm_status_current(world: World, vm: Vm) -> dict[str, Any]:
    status = vm_index_item(world, vm)
    status["qmpstatus"] = "running" if vm.running else "stopped"
    status["ha"] = world.ha.status_of(vm.vmid)
    if qc.agent_enabled(vm.conf):
        status["agent"] = 1
    if vm.running:
        status["running-machine"] = "pc-i440fx-9.2+pve1"
        status["running-qemu"] = "9.2.0"
    return status
