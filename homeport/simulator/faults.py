"""The fault catalogue of the simulated Proxmox cluster, injectable from test code.

API faults match requests by method and path regex (searched in the path after
`/api2/json`), optionally a number of times or with a probability: an error status
(`596 Connection timed out`), a hold until the client gives up, a slow answer, or a lost
response (the action happens, then the connection drops). World faults: task failure,
stuck task (until released), full storage, stalled replication, damaged archive reads and
bit rot in an archive, node crash, partition and recovery. Every random choice comes from one `random.Random(seed)`. Methods are safe to call
from any thread: they run on the simulator's loop. The world consults this object through
`pve.fault_hooks.FaultHooks`; `proxmox_api.server` through `match_api`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from homeport.simulator.pve import nodes
from homeport.simulator.pve.power import power_off
from homeport.simulator.pve.tasks import TaskAction

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

T = TypeVar("T")
DEFAULT_STALL = "replication stalled: command 'zfs send -Rpv -- rpool/data/vm-disk@__replicate__' failed: got timeout"


@dataclass
class ApiRule:
    """One API fault. `kind`: error | timeout | slow | drop."""

    kind: str
    path: re.Pattern[str]
    method: re.Pattern[str]
    status: int = 596
    message: str = "Connection timed out"
    delay: float = 0.0
    count: int | None = None
    probability: float = 1.0
    hits: int = 0


@dataclass
class TaskRule:
    """Fail or stick the tasks it matches."""

    type: re.Pattern[str]
    vmid: int | None
    node: str | None
    fail: str | None
    stick: bool
    count: int | None
    probability: float
    release: asyncio.Event | None = None
    hits: int = 0
    upids: list[str] = field(default_factory=list)


class Faults:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.api_rules: list[ApiRule] = []
        self.task_rules: list[TaskRule] = []
        self.full: set[tuple[str, str | None]] = set()
        self.stalled: dict[str | None, str] = {}
        self.corrupt: dict[str | None, int | None] = {}
        self.no_such_task_window: float = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._world: World | None = None

    def bind(self, world: World) -> None:
        """Called by the simulator on its loop at start."""
        self._world = world
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    # --- API faults -------------------------------------------------------------------

    def api_error(
        self,
        path: str = ".*",
        *,
        method: str = ".*",
        status: int = 596,
        message: str = "Connection timed out",
        count: int | None = None,
        probability: float = 1.0,
    ) -> ApiRule:
        """Answer matching requests with `status` and `message` (the action does not happen)."""
        return self._api("error", path, method, count, probability, status=status, message=message)

    def api_timeout(
        self,
        path: str = ".*",
        *,
        method: str = ".*",
        count: int | None = None,
        probability: float = 1.0,
    ) -> ApiRule:
        """Never answer matching requests: hold them until the client gives up."""
        return self._api("timeout", path, method, count, probability)

    def api_slow(
        self,
        path: str = ".*",
        *,
        delay: float,
        method: str = ".*",
        count: int | None = None,
        probability: float = 1.0,
    ) -> ApiRule:
        """Answer matching requests after `delay` wall seconds (clients time out in wall time)."""
        return self._api("slow", path, method, count, probability, delay=delay)

    def api_drop_response(
        self,
        path: str = ".*",
        *,
        method: str = ".*",
        count: int | None = None,
        probability: float = 1.0,
    ) -> ApiRule:
        """Perform matching requests, then drop the connection instead of answering."""
        return self._api("drop", path, method, count, probability)

    def no_such_task_chaos(self, window: float = 1.0) -> None:
        """New tasks answer `400 no such task` for `window` simulated seconds (0: off)."""
        self.no_such_task_window = window

    def _api(
        self,
        kind: str,
        path: str,
        method: str,
        count: int | None,
        probability: float,
        **extra: object,
    ) -> ApiRule:
        rule = ApiRule(
            kind,
            re.compile(path),
            re.compile(method, re.IGNORECASE),
            count=count,
            probability=probability,
        )
        for key, value in extra.items():
            setattr(rule, key, value)
        self._run(lambda: self.api_rules.append(rule))
        return rule

    def match_api(self, method: str, path: str) -> ApiRule | None:
        for rule in self.api_rules:
            if rule.count is not None and rule.hits >= rule.count:
                continue
            if not rule.method.fullmatch(method) or not rule.path.search(path):
                continue
            if rule.probability < 1.0 and self.random.random() >= rule.probability:
                continue
            rule.hits += 1
            return rule
        return None

    # --- task faults ------------------------------------------------------------------

    def fail_tasks(
        self,
        type: str = ".*",
        *,
        vmid: int | None = None,
        node: str | None = None,
        message: str = "simulated task failure",
        count: int | None = 1,
        probability: float = 1.0,
    ) -> TaskRule:
        """Matching tasks end at once with `TASK ERROR: <message>` (nothing else happens)."""
        rule = TaskRule(re.compile(type), vmid, node, message, False, count, probability)
        self._run(lambda: self.task_rules.append(rule))
        return rule

    def stick_tasks(
        self,
        type: str = ".*",
        *,
        vmid: int | None = None,
        node: str | None = None,
        count: int | None = 1,
    ) -> TaskRule:
        """Matching tasks hang (holding their locks) at their first wait until `release`."""
        rule = TaskRule(re.compile(type), vmid, node, None, True, count, 1.0)

        def add() -> None:
            rule.release = asyncio.Event()
            self.task_rules.append(rule)

        self._run(add)
        return rule

    def release(self, rule: TaskRule) -> None:
        """Let the tasks a stick rule holds finish (and stop sticking new ones)."""

        def go() -> None:
            rule.count = rule.hits
            if rule.release is not None:
                rule.release.set()

        self._run(go)

    def task_action(self, kind: str, ident: str, node: str) -> TaskAction | None:
        for rule in self.task_rules:
            if rule.count is not None and rule.hits >= rule.count:
                continue
            if not rule.type.fullmatch(kind) or (rule.node is not None and rule.node != node):
                continue
            if rule.vmid is not None and ident != str(rule.vmid):
                continue
            if rule.probability < 1.0 and self.random.random() >= rule.probability:
                continue
            rule.hits += 1
            return TaskAction(fail=rule.fail, release=rule.release if rule.stick else None)
        return None

    # --- storage and replication ------------------------------------------------------

    def disk_full(self, storage: str, node: str | None = None, *, full: bool = True) -> None:
        """Declare `storage` (on `node`, or everywhere) full: allocations and copies fail."""

        def go() -> None:
            (self.full.add if full else self.full.discard)((storage, node))

        self._run(go)

    def storage_full(self, scope: str, storage: str) -> bool:
        return any(s == storage and (n is None or n == scope or scope == "*") for s, n in self.full)

    def stall_replication(self, job_id: str | None = None, *, error: str = DEFAULT_STALL) -> None:
        """Syncs of `job_id` (or all jobs) fail with `error`; `fail_count` grows."""
        self._run(lambda: self.stalled.__setitem__(job_id, error))

    def unstall_replication(self, job_id: str | None = None) -> None:
        self._run(lambda: self.stalled.pop(job_id, None))

    def replication_error(self, job_id: str) -> str | None:
        return self.stalled.get(job_id, self.stalled.get(None))

    # --- archives -----------------------------------------------------------------------

    def corrupt_reads(self, node: str | None = None, *, count: int | None = 1) -> None:
        """The next `count` archive reads through `node`'s shell (SFTP, `cp`) flip a byte:
        a flaky disk or controller on the way to an offsite copy (None: until `clear`)."""
        self._run(lambda: self.corrupt.__setitem__(node, count))

    def corrupt_read(self, node: str) -> bool:
        for key in (node, None):
            if key in self.corrupt:
                left = self.corrupt[key]
                if left is not None and left <= 1:
                    del self.corrupt[key]
                elif left is not None:
                    self.corrupt[key] = left - 1
                return True
        return False

    def corrupt_archive(self, volid: str, node: str | None = None) -> None:
        """Bit rot: overwrite 4 KiB in the middle of the archive `volid` (as `node` sees it):
        its checksum changes and a restore from it fails."""
        self._run(lambda: _corrupt_archive(self._require_world(), volid, node, self.random))

    # --- nodes ------------------------------------------------------------------------

    def crash_node(self, node: str) -> None:
        """Power loss: guests and tasks die, the API for the node answers 595."""
        self._run(lambda: nodes.crash(self._require_world(), node))

    def partition_node(self, node: str) -> None:
        """Network partition: the node keeps running but nobody reaches it or its guests."""
        self._run(lambda: nodes.partition(self._require_world(), node))

    def recover_node(self, node: str) -> None:
        """Power or network back; a crashed node reboots and starts its `onboot` guests."""
        self._run(lambda: nodes.recover(self._require_world(), node))

    def crash_vm(self, vmid: int) -> None:
        """The VM's QEMU process dies: PVE shows it stopped, its guest halts (no task)."""
        self._run(lambda: _crash_vm(self._require_world(), vmid))

    def clear(self) -> None:
        """Remove every API, task, storage and replication fault (nodes stay as they are)."""

        def go() -> None:
            for rule in self.task_rules:
                if rule.release is not None:
                    rule.release.set()
            self.api_rules.clear()
            self.task_rules.clear()
            self.full.clear()
            self.stalled.clear()
            self.corrupt.clear()
            self.no_such_task_window = 0.0

        self._run(go)

    def _require_world(self) -> World:
        if self._world is None:
            raise RuntimeError("the simulator is not running")
        return self._world

    def _run(self, action: Callable[[], T]) -> T:
        if self._loop is None or threading.get_ident() == self._loop_thread:
            return action()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(action())
            except BaseException as err:
                future.set_exception(err)

        self._loop.call_soon_threadsafe(call)
        return future.result(timeout=10)


def _corrupt_archive(world: World, volid: str, node: str | None, rng: random.Random) -> None:
    storage = world.storages.get(volid.split(":", 1)[0])
    scopes = [storage.scope(node)] if storage is not None and node else None
    volume = next(
        (
            v
            for v in world.volumes.by_key.values()
            if v.volid == volid and (scopes is None or v.scope in scopes)
        ),
        None,
    )
    if volume is None or not volume.archive:
        raise ValueError(f"no backup archive {volid}")
    path = world.archive_root / volume.archive
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    block = bytes(rng.getrandbits(8) for _ in range(min(4096, len(data) - middle)))
    data[middle : middle + len(block)] = block
    path.write_bytes(bytes(data))


def _crash_vm(world: World, vmid: int) -> None:
    vm = world.vms.get(vmid)
    if vm is None or not vm.running:
        raise ValueError(f"VM {vmid} is not running")
    power_off(world, vm)
