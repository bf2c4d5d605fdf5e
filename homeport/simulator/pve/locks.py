"""Emulated flocks (`/var/lock/qemu-server/lock-<vmid>.conf`) with PVE's timeouts.

Distinct from the `lock:` property in a VM config (`vms.check_lock`): a flock guards a short
critical section, or (clone) a whole task, and a waiter gives up after a timeout in
simulated seconds with `can't lock file '...' - got timeout`. Shared holders (a clone of a
stopped source) coexist; an exclusive holder excludes everyone. Holders are owner objects
(tasks, or a request); re-acquiring by the same owner nests. Used by `tasks.TaskContext` and
the synchronous API paths (`config_update`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from homeport.simulator.clock import SimClock
from homeport.simulator.errors import PveError


def vm_lock_path(vmid: int) -> str:
    return f"/var/lock/qemu-server/lock-{vmid}.conf"


@dataclass
class _FileLock:
    exclusive: object | None = None
    depth: int = 0
    shared: dict[int, int] = field(default_factory=dict)  # id(owner) -> depth
    waiters: set[asyncio.Future[None]] = field(default_factory=set)

    def free_for(self, owner: object, exclusive: bool) -> bool:
        if self.exclusive is not None:
            return self.exclusive is owner
        if exclusive:
            return not self.shared or set(self.shared) == {id(owner)}
        return True


class FileLocks:
    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._locks: dict[str, _FileLock] = {}

    async def acquire(self, path: str, owner: object, *, exclusive: bool, timeout: float) -> None:
        lock = self._locks.setdefault(path, _FileLock())
        deadline = self._clock.now() + timeout
        while not lock.free_for(owner, exclusive):
            remaining = deadline - self._clock.now()
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            lock.waiters.add(waiter)
            try:
                woke = remaining > 0 and await self._clock.wait(waiter, remaining)
            finally:
                lock.waiters.discard(waiter)
            if not woke:
                raise PveError(f"can't lock file '{path}' - got timeout")
        self._take(lock, owner, exclusive)

    def _take(self, lock: _FileLock, owner: object, exclusive: bool) -> None:
        if exclusive or lock.exclusive is owner:
            lock.exclusive = owner
            lock.depth += 1
        else:
            lock.shared[id(owner)] = lock.shared.get(id(owner), 0) + 1

    def release(self, path: str, owner: object) -> None:
        lock = self._locks.get(path)
        if lock is None:
            return
        if lock.exclusive is owner:
            lock.depth -= 1
            if lock.depth <= 0:
                lock.exclusive, lock.depth = None, 0
        elif id(owner) in lock.shared:
            lock.shared[id(owner)] -= 1
            if lock.shared[id(owner)] <= 0:
                del lock.shared[id(owner)]
        for waiter in list(lock.waiters):
            if not waiter.done():
                waiter.set_result(None)
        if lock.exclusive is None and not lock.shared and not lock.waiters:
            del self._locks[path]

    def release_all(self, owner: object) -> None:
        for path in list(self._locks):
            lock = self._locks.get(path)
            while lock is not None and (lock.exclusive is owner or id(owner) in lock.shared):
                self.release(path, owner)
                lock = self._locks.get(path)

    def held(self, path: str) -> bool:
        lock = self._locks.get(path)
        return lock is not None and (lock.exclusive is not None or bool(lock.shared))

    @asynccontextmanager
    async def hold(
        self, path: str, owner: object, *, exclusive: bool = True, timeout: float
    ) -> AsyncIterator[None]:
        await self.acquire(path, owner, exclusive=exclusive, timeout=timeout)
        try:
            yield
        finally:
            self.release(path, owner)
