"""Simulated time: the only clock the simulated estate reads.

Every duration in the world (task run times, boot times, lock timeouts, schedules) is in
simulated seconds. `SimClock` maps them onto wall time by `time_scale` and lets tests jump
ahead with `advance()` (days of backups in a second). Neighbours: `pve.tasks` and
`pve.scheduler` sleep on it, `pve.locks` times out on it, `proxmox_api.http` stamps headers
with it, `faults` delays in wall time on purpose (client timeouts are wall time).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from typing import Any


class SimClock:
    """Simulated epoch seconds = start + wall seconds elapsed * time_scale + advanced offset."""

    def __init__(self, *, time_scale: float = 1.0, start: float | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._start = time.time() if start is None else start
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._guard = threading.Lock()
        self._sleepers: set[asyncio.Future[None]] = set()

    def now(self) -> float:
        """The current simulated time, in epoch seconds."""
        elapsed = time.monotonic() - self._mono0
        return self._start + elapsed * self.time_scale + self._offset

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward and wake everything waiting on it (any thread)."""
        if seconds < 0:
            raise ValueError("simulated time never goes back")
        with self._guard:
            self._offset += seconds
            sleepers = list(self._sleepers)
        for fut in sleepers:
            fut.get_loop().call_soon_threadsafe(_resolve, fut)

    def resume_at(self, when: float) -> None:
        """Continue from `when` (a saved simulated time) before anything sleeps on this clock."""
        with self._guard:
            self._start += when - self.now()

    def wall_seconds(self, simulated: float) -> float:
        """How long `simulated` seconds take on the wall clock."""
        return max(0.0, simulated / self.time_scale)

    async def sleep(self, seconds: float) -> None:
        """Sleep for simulated `seconds` (wakes early only to re-check after `advance`)."""
        await self.sleep_until(self.now() + seconds)

    async def sleep_until(self, deadline: float) -> None:
        """Return once simulated time has reached `deadline`."""
        while (remaining := deadline - self.now()) > 0:
            await self._nap(remaining)

    async def wait(self, awaitable: Awaitable[object], timeout: float) -> bool:
        """Wait for `awaitable` at most `timeout` simulated seconds; True if it finished.

        A future passed in is left alone on timeout (the caller may keep waiting on it); a
        coroutine is wrapped in a task that is cancelled when the wait ends without it.
        """
        owned = not asyncio.isfuture(awaitable)
        fut = asyncio.ensure_future(awaitable)
        try:
            return await self._wait_future(fut, timeout)
        finally:
            if owned and not fut.done():
                fut.cancel()

    async def _wait_future(self, fut: asyncio.Future[Any], timeout: float) -> bool:
        deadline = self.now() + timeout
        while not fut.done():
            remaining = deadline - self.now()
            if remaining <= 0:
                return False
            waker = self._register()
            try:
                await asyncio.wait(
                    {fut, waker},
                    timeout=self.wall_seconds(remaining),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                self._unregister(waker)
        return True

    async def _nap(self, remaining: float) -> None:
        waker = self._register()
        handle = waker.get_loop().call_later(self.wall_seconds(remaining), _resolve, waker)
        try:
            await waker
        finally:
            handle.cancel()
            self._unregister(waker)

    def _register(self) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._guard:
            self._sleepers.add(fut)
        return fut

    def _unregister(self, fut: asyncio.Future[None]) -> None:
        with self._guard:
            self._sleepers.discard(fut)
        if not fut.done():
            fut.cancel()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
