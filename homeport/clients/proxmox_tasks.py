"""Waiting for Proxmox tasks: poll a UPID's status with backoff until it stops.

Every long operation in ``proxmox`` (clone, config, power, delete, migrate), ``proxmox_backups``
(vzdump) returns a ``TaskRef``; reconcilers hand it to ``ProxmoxTasks.wait``. A task is
done when its status is ``stopped``; it succeeded when the exit status is ``OK`` or
``WARNINGS: n`` (reference §6.2) or matches the ``TaskRef.accept`` list (e.g. "already
running", pitfall 17). A fresh UPID may answer ``no such task`` for a moment (pitfall 11):
that is retried for ``no_such_task_grace`` seconds. Failures carry the log's last lines.
"""

from __future__ import annotations

from collections.abc import Callable

from homeport.clients.errors import NotFound, TaskFailed, TaskTimeout
from homeport.clients.proxmox_fields import PveItem, PveStr
from homeport.clients.proxmox_models import TaskRef, TaskResult, TaskStatus
from homeport.clients.proxmox_transport import ProxmoxTransport, expect_dict, expect_list
from homeport.clients.timing import Clock, Deadline, Sleep

ProgressCallback = Callable[[TaskStatus], None]
"""Called with every status polled while waiting (for logs, events, progress bars)."""

LOG_TAIL_LINES = 20


class ActiveTask(PveItem):
    """A task still running somewhere in the cluster (``GET /cluster/tasks``)."""

    upid: PveStr = ""
    node: PveStr = ""
    type: PveStr = ""
    """PVE's worker type: ``qmigrate``, ``qmclone``, ``qmstart``, ``vzdump``, ..."""
    id: PveStr = ""
    """The object it works on (a vmid for guest tasks), as PVE writes it."""


class ProxmoxTasks:
    """Task status, logs and waiting, over the shared transport."""

    def __init__(self, transport: ProxmoxTransport, *, clock: Clock, sleep: Sleep) -> None:
        self._transport = transport
        self._clock = clock
        self._sleep = sleep

    async def status(self, node: str, upid: str) -> TaskStatus:
        data = await self._transport.read(
            "tasks.status", ("nodes", node, "tasks", upid, "status"), node=node
        )
        return TaskStatus.parse(expect_dict(data, "tasks.status"))

    async def active(self) -> list[ActiveTask]:
        """The tasks running anywhere in the cluster: ``/cluster/tasks`` lists recent ones,
        and only a finished task has an ``endtime``."""
        data = await self._transport.read("tasks.cluster", ("cluster", "tasks"))
        items = expect_list(data, "tasks.cluster")
        return ActiveTask.parse_list([item for item in items if not item.get("endtime")])

    async def log(self, node: str, upid: str, *, start: int = 0, limit: int = 1000) -> list[str]:
        data = await self._transport.read(
            "tasks.log",
            ("nodes", node, "tasks", upid, "log"),
            {"start": start, "limit": limit},
            node=node,
        )
        lines = sorted(expect_list(data, "tasks.log"), key=lambda line: int(line.get("n", 0)))
        return [str(line.get("t", "")) for line in lines]

    async def log_tail(self, node: str, upid: str, *, lines: int = LOG_TAIL_LINES) -> list[str]:
        return (await self.log(node, upid))[-lines:]

    async def wait(
        self,
        task: TaskRef,
        *,
        timeout: float,
        on_progress: ProgressCallback | None = None,
    ) -> TaskResult:
        """Wait for ``task``; see ``wait_task``."""
        return await self.wait_task(
            task.node, task.upid, timeout=timeout, on_progress=on_progress, accept=task.accept
        )

    async def wait_task(
        self,
        node: str,
        upid: str,
        *,
        timeout: float,
        on_progress: ProgressCallback | None = None,
        accept: tuple[str, ...] = (),
    ) -> TaskResult:
        """Poll until the task stops; its result, or ``TaskFailed`` / ``TaskTimeout``."""
        settings = self._transport.settings
        started = self._clock()
        deadline = Deadline.after(timeout, self._clock)
        delay = settings.task_poll_initial
        while True:
            status = await self._poll(node, upid, started, deadline)
            if status is not None:
                if on_progress is not None:
                    on_progress(status)
                if not status.running:
                    return await self._finish(node, upid, status, accept)
            if deadline.expired():
                raise TaskTimeout(upid, self._clock() - started)
            await self._sleep(min(delay, deadline.remaining()))
            delay = min(delay * 2, settings.task_poll_max)

    async def _poll(
        self, node: str, upid: str, started: float, deadline: Deadline
    ) -> TaskStatus | None:
        try:
            return await self.status(node, upid)
        except NotFound:
            grace = self._transport.settings.no_such_task_grace
            if self._clock() - started >= grace or deadline.expired():
                raise
            return None

    async def _finish(
        self, node: str, upid: str, status: TaskStatus, accept: tuple[str, ...]
    ) -> TaskResult:
        exitstatus = status.exitstatus or "unexpected status"
        if status.succeeded or any(marker in exitstatus for marker in accept):
            return TaskResult(upid, exitstatus)
        try:
            tail = await self.log_tail(node, upid)
        except NotFound:
            tail = []
        raise TaskFailed(upid, exitstatus, tail)
