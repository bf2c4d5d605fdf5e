"""`SimulatorThread`: a `ProxmoxSimulator` on its own event loop in a background thread.

Synchronous clients (proxmoxer, requests) and synchronous tests need the simulator's loop to
keep running while they block. `call` and `run` execute code on that loop; `faults` methods
marshal themselves already.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from homeport.simulator.clock import SimClock
from homeport.simulator.guest_protocol import GuestRuntime
from homeport.simulator.settings import SimulatorConfig
from homeport.simulator.simulator import ProxmoxSimulator

T = TypeVar("T")


class SimulatorThread:
    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        runtime: GuestRuntime | None = None,
        clock: SimClock | None = None,
    ) -> None:
        self.sim = ProxmoxSimulator(config, runtime=runtime, clock=clock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="pve-simulator", daemon=True
        )

    def start(self) -> ProxmoxSimulator:
        self._thread.start()
        try:
            self.run(self.sim.start())
        except BaseException:
            self.stop()
            raise
        return self.sim

    def stop(self) -> None:
        try:
            self.run(self.sim.stop())
            self.run(_cancel_leftovers())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the simulator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """Run a plain function on the simulator's loop (safe access to the world)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def go() -> None:
            try:
                future.set_result(fn())
            except BaseException as err:
                future.set_exception(err)

        self._loop.call_soon_threadsafe(go)
        return future.result(timeout)

    def __enter__(self) -> ProxmoxSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _cancel_leftovers() -> None:
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)
