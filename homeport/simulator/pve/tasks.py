"""Worker tasks: UPIDs, logs ending in `TASK OK`/`TASK ERROR: ...`, simulated run time.

An operation (`clone`, `power`, `backups`, ...) spawns a worker coroutine through
`TaskRegistry.spawn`; the worker logs, sleeps simulated time and takes flocks through its
`TaskContext`, and raises `PveError` to fail. The registry turns the outcome into PVE's last
log line and exit status, releases the worker's flocks, and applies task faults (fail at
start, stick until released). A node crash kills its tasks mid-way: no last line
(`unexpected status`) and no cleanup, like a real power loss. Read by `proxmox_api.routes_tasks`.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.simulator.clock import SimClock
from homeport.simulator.errors import PveError
from homeport.simulator.pve.locks import vm_lock_path
from homeport.simulator.upid import Upid

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

Worker = Callable[["TaskContext"], Awaitable[None]]


class TaskInterrupted(Exception):
    """The task was stopped (`DELETE /nodes/{node}/tasks/{upid}`)."""


@dataclass
class Task:
    upid: Upid
    lines: list[str] = field(default_factory=list)
    status: str = "running"
    exitstatus: str | None = None
    endtime: int | None = None
    created: float = 0.0
    killed: bool = False
    warnings: int = 0

    @property
    def text(self) -> str:
        return str(self.upid)

    @property
    def ok(self) -> bool:
        return self.exitstatus == "OK" or (self.exitstatus or "").startswith("WARNINGS")

    def status_view(self) -> dict[str, Any]:
        view = self._base()
        view["status"] = self.status
        if self.exitstatus is not None and self.status == "stopped":
            view["exitstatus"] = self.exitstatus
        return view

    def list_view(self) -> dict[str, Any]:
        view = self._base()
        if self.status == "running":
            view["status"] = "RUNNING"
        else:
            view["status"] = self.exitstatus
            view["endtime"] = self.endtime
        return view

    def _base(self) -> dict[str, Any]:
        user, _, tokenid = self.upid.user.partition("!")
        view: dict[str, Any] = {
            "upid": self.text,
            "node": self.upid.node,
            "pid": self.upid.pid,
            "pstart": self.upid.pstart,
            "starttime": self.upid.starttime,
            "type": self.upid.type,
            "id": self.upid.id,
            "user": user,
        }
        if tokenid:
            view["tokenid"] = tokenid
        return view


@dataclass
class TaskAction:
    """What a task fault does to a matching task."""

    fail: str | None = None
    release: asyncio.Event | None = None  # set: a stuck task may finish


class TaskContext:
    """What a worker may do: log, sleep simulated time, take flocks."""

    def __init__(self, world: World, task: Task, action: TaskAction | None) -> None:
        self.world = world
        self.task = task
        self._action = action
        self._interrupt: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def node(self) -> str:
        return self.task.upid.node

    @property
    def user(self) -> str:
        return self.task.upid.user

    def log(self, line: str) -> None:
        self.task.lines.append(line)

    def warn(self, line: str) -> None:
        self.task.warnings += 1
        self.log(f"WARN: {line}")

    async def sleep(self, seconds: float) -> None:
        """Spend simulated time; a stuck task stays here until released."""
        await self.unstuck()
        if await self.world.clock.wait(self._interrupt, max(0.0, seconds)):
            raise TaskInterrupted("interrupted by signal")

    async def unstuck(self) -> None:
        release = self._action.release if self._action else None
        if release is not None and not release.is_set():
            self.log("(task is waiting for I/O)")
            waiter = asyncio.ensure_future(release.wait())
            either: set[asyncio.Future[Any]] = {waiter, self._interrupt}
            done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if self._interrupt in done:
                raise TaskInterrupted("interrupted by signal")

    async def lock_vm(
        self, vmid: int, *, exclusive: bool = True, timeout: float | None = None
    ) -> None:
        limit = self.world.timings.lock_timeout if timeout is None else timeout
        await self.world.locks.acquire(vm_lock_path(vmid), self, exclusive=exclusive, timeout=limit)

    def unlock_vm(self, vmid: int) -> None:
        self.world.locks.release(vm_lock_path(vmid), self)

    def interrupt(self) -> None:
        if not self._interrupt.done():
            self._interrupt.set_result(None)


@dataclass
class _Running:
    task: Task
    context: TaskContext
    runner: asyncio.Task[None]


class TaskRegistry:
    def __init__(self, clock: SimClock, archive_per_node: int) -> None:
        self._clock = clock
        self.tasks: dict[str, Task] = {}
        self._running: dict[str, _Running] = {}
        self._archive: dict[str, collections.deque[str]] = {}
        self._limit = archive_per_node
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    def spawn(
        self, world: World, node: str, kind: str, ident: str, user: str, worker: Worker
    ) -> Task:
        now = world.clock.now()
        state = world.nodes[node]
        upid = Upid(
            node=node,
            pid=state.next_pid(world.rng),
            pstart=int(max(0.0, now - state.boot_time) * 100),
            starttime=int(now),
            type=kind,
            id=ident,
            user=user,
        )
        task = Task(upid=upid, created=now)
        context = TaskContext(world, task, world.faults.task_action(kind, ident, node))
        runner = asyncio.get_running_loop().create_task(self._run(world, context, worker))
        self._running[task.text] = _Running(task, context, runner)
        self.add(task)
        world.changed()
        return task

    def add(self, task: Task) -> None:
        self.tasks[task.text] = task
        archive = self._archive.setdefault(task.upid.node, collections.deque())
        archive.append(task.text)
        while len(archive) > self._limit:
            old = archive[0]
            if old in self._running:
                break
            archive.popleft()
            self.tasks.pop(old, None)

    def get(self, upid: str) -> Task | None:
        return self.tasks.get(upid)

    def is_running(self, upid: str | None) -> bool:
        return upid is not None and upid in self._running

    def running(self) -> list[Task]:
        return [r.task for r in self._running.values()]

    def interrupt(self, upid: str) -> None:
        entry = self._running.get(upid)
        if entry is not None:
            entry.context.interrupt()

    def kill_node(self, node: str) -> None:
        """The node lost power: its workers die where they stand."""
        for entry in list(self._running.values()):
            if entry.task.upid.node == node:
                entry.task.killed = True
                entry.runner.cancel()

    async def wait(self, upid: str) -> None:
        if upid not in self._running:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(upid, []).append(fut)
        await fut

    async def shutdown(self) -> None:
        """Simulator stop: interrupt every worker and let it clean up."""
        for entry in list(self._running.values()):
            entry.context.interrupt()
        runners = [r.runner for r in self._running.values()]
        if runners:
            _, pending = await asyncio.wait(runners, timeout=5)
            for runner in pending:
                runner.cancel()
            if pending:
                await asyncio.wait(pending)

    async def _run(self, world: World, ctx: TaskContext, worker: Worker) -> None:
        task = ctx.task
        try:
            action = ctx._action
            if action is not None and action.fail is not None:
                raise PveError(action.fail)
            await worker(ctx)
            await ctx.unstuck()
            self._finish(task, f"TASK WARNINGS: {task.warnings}" if task.warnings else "TASK OK")
        except TaskInterrupted:
            self._finish(task, "TASK ERROR: interrupted by signal")
        except PveError as err:
            self._finish(task, f"TASK ERROR: {_task_error(err)}")
        except asyncio.CancelledError:
            self._end(task, "unexpected status")
            raise
        except Exception as err:
            world.internal_error(f"task {task.text}: {err!r}")
            self._finish(task, f"TASK ERROR: {err}")
        finally:
            world.locks.release_all(ctx)
            self._running.pop(task.text, None)
            for fut in self._waiters.pop(task.text, []):
                if not fut.done():
                    fut.set_result(None)
            world.changed()

    def _finish(self, task: Task, last_line: str) -> None:
        task.lines.append(last_line)
        if last_line == "TASK OK":
            self._end(task, "OK")
        elif last_line.startswith("TASK WARNINGS: "):
            self._end(task, last_line.removeprefix("TASK "))
        else:
            self._end(task, last_line.removeprefix("TASK ERROR: "))

    def _end(self, task: Task, exitstatus: str) -> None:
        task.status = "stopped"
        task.exitstatus = exitstatus
        task.endtime = int(self._clock.now())


def _task_error(err: PveError) -> str:
    if err.errors:
        return "; ".join(f"{k}: {v.rstrip()}" for k, v in err.errors.items())
    return err.message
