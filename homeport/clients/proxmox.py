"""``ProxmoxClient``: typed calls for the cluster, nodes and QEMU VMs the reconcilers need.

The Machine, VM, BackupPolicy and StandbyPair reconcilers observe through it (one
``cluster_resources()`` call serves all VMs of a resync) and act through it; long
operations return a ``TaskRef`` to pass to ``client.tasks.wait``. Below it is
``proxmox_transport`` (proxmoxer over verified HTTPS, retries, stats, spans); beside it are
the sub-APIs ``agent``, ``backups``, ``replication``, ``ha``, ``pci`` and ``firewall``.

What callers can rely on:

* booleans go out as 0/1, ``sshkeys`` percent-encoded (pitfalls 15, 18);
* start on a running VM and stop/shutdown on a stopped one are successes (pitfall 17):
  ``None`` (nothing to wait for) or a task whose "already" failure is accepted;
* a resize never shrinks (``ShrinkRefused`` before anything is sent);
* clone, create, delete and migrate are never repeated after a lost answer
  (``OutcomeUnknown``): observe ``cluster_resources()`` before trying again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Literal

from opentelemetry.trace import Tracer

from homeport.clients.callstats import CallStats
from homeport.clients.errors import NotFound, ProxmoxError, ShrinkRefused
from homeport.clients.proxmox_agent import GuestAgent
from homeport.clients.proxmox_backups import ProxmoxBackups
from homeport.clients.proxmox_firewall import ProxmoxFirewall
from homeport.clients.proxmox_ha import ProxmoxHa
from homeport.clients.proxmox_models import (
    ClusterResources,
    ClusterStatus,
    NodeInfo,
    NodeStatus,
    PendingChange,
    PveVersion,
    TaskRef,
    VmConfig,
    VmStatus,
)
from homeport.clients.proxmox_pci import ProxmoxPci
from homeport.clients.proxmox_replication import ProxmoxReplication
from homeport.clients.proxmox_settings import ProxmoxSettings
from homeport.clients.proxmox_tasks import ProxmoxTasks
from homeport.clients.proxmox_transport import (
    ApiFactory,
    ProxmoxTransport,
    build_proxmoxer,
    expect_dict,
    expect_list,
    expect_upid,
)
from homeport.clients.proxmox_wire import ParamValue, as_int, encode_sshkeys, format_size
from homeport.clients.timing import Clock, Deadline, Sleep, loop_clock
from homeport.clients.tracing import ClientTracing

ResourceType = Literal["vm", "node", "storage"]

ALREADY_RUNNING = "already running"
NOT_RUNNING = "not running"


class ProxmoxClient:
    """Typed, retried, counted access to one Proxmox VE cluster."""

    def __init__(
        self,
        settings: ProxmoxSettings,
        *,
        tracer: Tracer | None = None,
        clock: Clock = loop_clock,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        api_factory: ApiFactory = build_proxmoxer,
    ) -> None:
        self.stats = CallStats()
        self._transport = ProxmoxTransport(
            settings,
            tracing=ClientTracing(tracer),
            stats=self.stats,
            sleep=sleep,
            rng=rng or random.Random(),
            api_factory=api_factory,
        )
        self._clock = clock
        self._sleep = sleep
        self.tasks = ProxmoxTasks(self._transport, clock=clock, sleep=sleep)
        self.agent = GuestAgent(self._transport, clock=clock, sleep=sleep)
        self.backups = ProxmoxBackups(self._transport)
        self.replication = ProxmoxReplication(self._transport)
        self.ha = ProxmoxHa(self._transport)
        self.pci = ProxmoxPci(self._transport)
        self.firewall = ProxmoxFirewall(self._transport)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> ProxmoxClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- cluster and nodes -----------------------------------------------------------

    async def version(self) -> PveVersion:
        data = await self._transport.read("version", ("version",))
        return PveVersion.parse(expect_dict(data, "version"))

    async def nodes(self) -> list[NodeInfo]:
        data = await self._transport.read("nodes.list", ("nodes",))
        return NodeInfo.parse_list(expect_list(data, "nodes.list"))

    async def node_status(self, node: str) -> NodeStatus:
        data = await self._transport.read("node.status", ("nodes", node, "status"), node=node)
        return NodeStatus.parse(expect_dict(data, "node.status"))

    async def cluster_status(self) -> ClusterStatus:
        data = await self._transport.read("cluster.status", ("cluster", "status"))
        return ClusterStatus.parse(expect_list(data, "cluster.status"))

    async def cluster_resources(self, *, type: ResourceType | None = None) -> ClusterResources:
        """Every VM (or node, storage) of the cluster in one call: the resync snapshot."""
        data = await self._transport.read(
            "cluster.resources", ("cluster", "resources"), {"type": type}
        )
        return ClusterResources.parse(expect_list(data, "cluster.resources"))

    async def next_vmid(self, *, candidate: int | None = None) -> int:
        """The lowest free vmid (or ``candidate`` if free). Reserves nothing (pitfall 6)."""
        data = await self._transport.read(
            "cluster.nextid", ("cluster", "nextid"), {"vmid": candidate}
        )
        vmid = as_int(data, -1)
        if vmid < 0:
            raise ProxmoxError(200, f"unexpected nextid reply {data!r}", operation="cluster.nextid")
        return vmid

    # --- VM state and config ---------------------------------------------------------

    async def vm_status(self, node: str, vmid: int) -> VmStatus:
        data = await self._transport.read(
            "qemu.status", _vm(node, vmid, "status", "current"), node=node, vmid=vmid
        )
        return VmStatus.parse(expect_dict(data, "qemu.status"))

    async def vm_config(self, node: str, vmid: int, *, current: bool = False) -> VmConfig:
        """The config with its ``digest``; pending values merged unless ``current``."""
        data = await self._transport.read(
            "qemu.config",
            _vm(node, vmid, "config"),
            {"current": True if current else None},
            node=node,
            vmid=vmid,
        )
        return VmConfig.parse(vmid, expect_dict(data, "qemu.config"))

    async def vm_pending(self, node: str, vmid: int) -> list[PendingChange]:
        data = await self._transport.read(
            "qemu.pending", _vm(node, vmid, "pending"), node=node, vmid=vmid
        )
        return PendingChange.parse_list(expect_list(data, "qemu.pending"))

    async def vm_config_and_pending(
        self, node: str, vmid: int
    ) -> tuple[VmConfig, list[PendingChange]]:
        """``vm_config`` and ``vm_pending`` in one read: ``GET .../pending`` carries every
        key's applied and pending value. The config's ``digest`` is empty (see
        ``VmConfig.from_pending``): observation only, a write reads ``vm_config``."""
        data = await self._transport.read(
            "qemu.pending", _vm(node, vmid, "pending"), node=node, vmid=vmid
        )
        items = [i for i in expect_list(data, "qemu.pending") if isinstance(i, dict)]
        return VmConfig.from_pending(vmid, items), PendingChange.parse_list(items)

    async def wait_unlocked(self, node: str, vmid: int, *, timeout: float) -> VmStatus:
        """Poll until the VM carries no config lock (after a clone: pitfalls 3, 4)."""
        settings = self._transport.settings
        deadline = Deadline.after(timeout, self._clock)
        delay = settings.task_poll_initial
        while True:
            status = await self.vm_status(node, vmid)
            if status.lock is None:
                return status
            if deadline.expired():
                raise ProxmoxError(
                    0,
                    f"VM {vmid} still locked ({status.lock}) after {timeout:g}s",
                    operation="qemu.wait_unlocked",
                )
            await self._sleep(min(delay, deadline.remaining()))
            delay = min(delay * 2, settings.task_poll_max)

    # --- create, clone, config -------------------------------------------------------

    async def create_vm(
        self, node: str, *, vmid: int, options: Mapping[str, ParamValue]
    ) -> TaskRef:
        """``POST /nodes/{node}/qemu`` (``qmcreate``); ``sshkeys`` may be given in plain text."""
        params = _encode_config({**options, "vmid": vmid})
        data = await self._transport.write(
            "POST", "qemu.create", ("nodes", node, "qemu"), params, node=node, vmid=vmid
        )
        return TaskRef.of(expect_upid(data, "qemu.create"))

    async def clone_vm(
        self,
        node: str,
        source_vmid: int,
        *,
        newid: int,
        name: str | None = None,
        full: bool = True,
        target: str | None = None,
        storage: str | None = None,
        description: str | None = None,
        pool: str | None = None,
    ) -> TaskRef:
        """Clone ``source_vmid`` (on ``node``) to ``newid``; the task runs on ``node``.

        Afterwards the new VM carries ``lock: clone`` until the task ends: wait for the
        task, then ``wait_unlocked`` before changing its config.
        """
        params: dict[str, ParamValue] = {
            "newid": newid,
            "name": name,
            "full": full,
            "target": target,
            "storage": storage,
            "description": description,
            "pool": pool,
        }
        data = await self._transport.write(
            "POST", "qemu.clone", _vm(node, source_vmid, "clone"), params, node=node, vmid=newid
        )
        return TaskRef.of(expect_upid(data, "qemu.clone"))

    async def update_config(
        self,
        node: str,
        vmid: int,
        *,
        changes: Mapping[str, ParamValue] | None = None,
        delete: Sequence[str] = (),
        digest: str | None = None,
        sync: bool = False,
    ) -> TaskRef | None:
        """Set ``changes`` and remove ``delete`` keys, guarded by ``digest``.

        ``sync=False`` POSTs (a ``qmconfig`` task; needed for anything that allocates
        storage or hotplugs); ``sync=True`` PUTs and returns ``None``. ``sshkeys`` is
        given in plain text (a string or a list of keys) and encoded here.
        """
        params = _encode_config(dict(changes or {}))
        params["delete"] = ",".join(delete) if delete else None
        params["digest"] = digest
        if not any(v is not None for k, v in params.items() if k != "digest"):
            return None  # nothing to change: never send "no options specified"
        path = _vm(node, vmid, "config")
        if sync:
            await self._transport.write(
                "PUT", "qemu.config", path, params, idempotent=True, node=node, vmid=vmid
            )
            return None
        data = await self._transport.write(
            "POST", "qemu.config", path, params, node=node, vmid=vmid
        )
        return TaskRef.of(data) if isinstance(data, str) and data.startswith("UPID:") else None

    async def regenerate_cloudinit(self, node: str, vmid: int) -> None:
        """Rebuild the cloud-init drive after ci* changes (pitfall 13)."""
        await self._transport.write(
            "PUT",
            "qemu.cloudinit",
            _vm(node, vmid, "cloudinit"),
            idempotent=True,
            node=node,
            vmid=vmid,
        )

    async def resize_disk(
        self, node: str, vmid: int, *, disk: str, size: int, config: VmConfig
    ) -> TaskRef | None:
        """Grow ``disk`` to ``size`` bytes; ``config`` is the observed config (size, digest).

        Equal size: nothing sent, ``None``. Smaller: ``ShrinkRefused``, nothing sent.
        """
        current = config.disk_size(disk)
        if current is None:
            raise NotFound(
                0, f"VM {vmid} has no disk {disk!r} with a size", operation="qemu.resize"
            )
        if size < current:
            raise ShrinkRefused(vmid, disk, current, size)
        if size == current:
            return None
        params: dict[str, ParamValue] = {
            "disk": disk,
            "size": format_size(size),
            "digest": config.digest,
        }
        data = await self._transport.write(
            "PUT",
            "qemu.resize",
            _vm(node, vmid, "resize"),
            params,
            idempotent=True,
            node=node,
            vmid=vmid,
        )
        return TaskRef.of(data) if isinstance(data, str) and data.startswith("UPID:") else None

    # --- power -----------------------------------------------------------------------

    async def start_vm(self, node: str, vmid: int) -> TaskRef | None:
        """Start; ``None`` or an accepted task when it already runs (pitfall 17).

        For HA-managed VMs the ``hastart`` task ends before the VM runs (pitfall 20):
        poll ``vm_status`` for the outcome.
        """
        return await self._power(node, vmid, "start", {}, accept=ALREADY_RUNNING)

    async def stop_vm(self, node: str, vmid: int, *, timeout: int | None = None) -> TaskRef | None:
        """Hard stop; a stopped VM is a success."""
        return await self._power(node, vmid, "stop", {"timeout": timeout}, accept=NOT_RUNNING)

    async def shutdown_vm(
        self, node: str, vmid: int, *, timeout: int | None = None, force_stop: bool = True
    ) -> TaskRef | None:
        """ACPI/agent shutdown, killed after ``timeout`` when ``force_stop``; stopped is success."""
        params: dict[str, ParamValue] = {"timeout": timeout, "forceStop": force_stop}
        return await self._power(node, vmid, "shutdown", params, accept=NOT_RUNNING)

    async def reboot_vm(self, node: str, vmid: int, *, timeout: int | None = None) -> TaskRef:
        """Reboot (applies pending changes); a stopped VM is an error here."""
        data = await self._transport.write(
            "POST",
            "qemu.reboot",
            _vm(node, vmid, "status", "reboot"),
            {"timeout": timeout},
            node=node,
            vmid=vmid,
        )
        return TaskRef.of(expect_upid(data, "qemu.reboot"))

    async def _power(
        self, node: str, vmid: int, action: str, params: Mapping[str, ParamValue], *, accept: str
    ) -> TaskRef | None:
        operation = f"qemu.{action}"
        try:
            data = await self._transport.write(
                "POST", operation, _vm(node, vmid, "status", action), params, node=node, vmid=vmid
            )
        except ProxmoxError as exc:
            if accept in exc.message:
                return None
            raise
        return TaskRef.of(expect_upid(data, operation), accept=(accept,))

    # --- delete, migrate -------------------------------------------------------------

    async def delete_vm(
        self, node: str, vmid: int, *, purge: bool = True, destroy_unreferenced_disks: bool = True
    ) -> TaskRef | None:
        """Destroy a stopped VM (and, with ``purge``, its backup/replication/HA entries).

        ``None`` when the VM's config does not exist on ``node`` (already gone).
        """
        params: dict[str, ParamValue] = {
            "purge": purge,
            "destroy-unreferenced-disks": destroy_unreferenced_disks,
        }
        try:
            data = await self._transport.write(
                "DELETE", "qemu.delete", _vm(node, vmid), params, node=node, vmid=vmid
            )
        except NotFound:
            return None
        return TaskRef.of(expect_upid(data, "qemu.delete"))

    async def migrate_vm(
        self,
        node: str,
        vmid: int,
        *,
        target: str,
        online: bool = False,
        with_local_disks: bool = False,
    ) -> TaskRef:
        params: dict[str, ParamValue] = {
            "target": target,
            "online": online,
            "with-local-disks": with_local_disks,
        }
        data = await self._transport.write(
            "POST", "qemu.migrate", _vm(node, vmid, "migrate"), params, node=node, vmid=vmid
        )
        return TaskRef.of(expect_upid(data, "qemu.migrate"))


def _vm(node: str, vmid: int, *rest: str) -> tuple[str | int, ...]:
    return ("nodes", node, "qemu", vmid, *rest)


def _encode_config(options: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    params = dict(options)
    keys = params.get("sshkeys")
    if isinstance(keys, str | list | tuple):
        params["sshkeys"] = encode_sshkeys(keys) if keys else None
    return params
