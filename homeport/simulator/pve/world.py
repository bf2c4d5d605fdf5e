"""`World`: the whole simulated cluster's state, and the services its operations share.

Holds nodes, storages, volumes, VMs, tasks, flocks, backup and replication jobs, HA, and the
guest seam; owns the background work (scheduler loops, guest calls) so a stop can cancel it.
Operations live in sibling modules and take the world as their first argument; `seed`
builds the initial estate, `persistence` saves and reloads it, `invariants.check` audits it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from homeport.simulator.clock import SimClock
from homeport.simulator.errors import PveError
from homeport.simulator.guest_protocol import GuestRuntime
from homeport.simulator.pve.agent import ExecResult
from homeport.simulator.pve.backup_jobs import BackupJobs
from homeport.simulator.pve.fault_hooks import FaultHooks
from homeport.simulator.pve.guests import Guests
from homeport.simulator.pve.ha import HaManager
from homeport.simulator.pve.locks import FileLocks
from homeport.simulator.pve.nodes import Node, quorate
from homeport.simulator.pve.pci import PciFunction
from homeport.simulator.pve.replication import ReplicationJobs
from homeport.simulator.pve.storage import Storage, VolumeStore
from homeport.simulator.pve.tasks import TaskRegistry
from homeport.simulator.pve.vms import Vm
from homeport.simulator.settings import SimulatorConfig


class World:
    def __init__(
        self,
        *,
        config: SimulatorConfig,
        clock: SimClock,
        runtime: GuestRuntime,
        faults: FaultHooks,
        archive_root: Path,
    ) -> None:
        self.config = config
        self.clock = clock
        self.timings = config.timings
        self.rng = random.Random(config.seed)
        self.faults = faults
        self.archive_root = archive_root
        self.nodes: dict[str, Node] = {}
        self.storages: dict[str, Storage] = {}
        self.pci: dict[str, list[PciFunction]] = {}
        """Each node's PCI functions (`pci.py`)."""
        self.pci_mappings: dict[str, dict[str, Any]] = {}
        """Cluster resource mappings of PCI devices: id → description and map entries."""
        self.volumes = VolumeStore()
        self.vms: dict[int, Vm] = {}
        self.tasks = TaskRegistry(clock, config.task_archive_per_node)
        self.locks = FileLocks(clock)
        self.guests = Guests(self, runtime)
        self.ha = HaManager()
        self.replication = ReplicationJobs()
        self.backup_jobs = BackupJobs()
        self.next_address = 0
        self.cluster_firewall: dict[str, Any] = {}
        self.cluster_firewall_rules: list[dict[str, Any]] = []
        self.agent_exec: dict[tuple[int, int], ExecResult] = {}
        self.internal_errors: list[str] = []
        self.guest_errors: list[str] = []
        self.on_change: Callable[[], None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._guest_work: set[asyncio.Task[None]] = set()

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def internal_error(self, message: str) -> None:
        self.internal_errors.append(message)

    def background(
        self, coro: Coroutine[Any, Any, None], what: str, *, guest: bool = False
    ) -> None:
        """Run `coro` alongside; failures are recorded (guest ones apart), never lost."""
        task = asyncio.get_running_loop().create_task(coro, name=what)
        self._background.add(task)
        if guest:
            self._guest_work.add(task)
        task.add_done_callback(lambda t: self._finished(t, what, guest))

    def guest_work(self) -> frozenset[asyncio.Task[None]]:
        """The guest-side effects still under way (halts, reachability changes)."""
        return frozenset(self._guest_work)

    def _finished(self, task: asyncio.Task[None], what: str, guest: bool) -> None:
        self._background.discard(task)
        self._guest_work.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        message = f"{what}: {task.exception()!r}"
        (self.guest_errors if guest else self.internal_errors).append(message)

    def node_or_error(self, name: str) -> Node:
        node = self.nodes.get(name)
        if node is None:
            raise PveError(
                f"hostname lookup '{name}' failed - failed to get address info for: {name}: "
                "Name or service not known"
            )
        return node

    def require_quorum(self) -> None:
        if not quorate(self):
            raise PveError("cluster not ready - no quorum?")

    def purge_vmid(self, vmid: int) -> None:
        self.backup_jobs.purge_vmid(vmid)
        self.replication.purge_vmid(vmid)
        self.ha.purge_vmid(vmid)

    def start_loops(self) -> None:
        self.background(self.backup_jobs.run(self), "backup scheduler")
        self.background(self.replication.run(self), "replication scheduler")
        self.background(self.ha.run(self), "ha manager")

    async def shutdown(self) -> None:
        await self.tasks.shutdown()
        await self.guests.shutdown()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(list(self._background))
