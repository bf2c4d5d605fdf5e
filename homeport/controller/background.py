"""Running reconcilers' background loops (a StandbyPair's probes and replication) beside
the engine, with the narrow ``BackgroundEnv`` they are given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from homeport.controller.clock import Clock
from homeport.controller.context import ControllerContext
from homeport.controller.coordination import Leadership
from homeport.controller.queue import WorkQueue
from homeport.controller.store import Key
from homeport.kinds import Resource
from homeport.reconcilers.base import ReconcileContext, Reconciler

log = logging.getLogger(__name__)


class ControllerBackgroundEnv:
    def __init__(
        self,
        *,
        context: ControllerContext,
        queue: WorkQueue[Key],
        leadership: Leadership,
        clock: Clock,
        stop: asyncio.Event,
    ) -> None:
        self._context = context
        self._queue = queue
        self._leadership = leadership
        self._clock = clock
        self.stop = stop

    def is_leader(self) -> bool:
        return self._leadership.is_leader()

    def objects(self, kind: str) -> list[tuple[Resource, Mapping[str, Any]]]:
        return [
            (o.resource(), o.status.details)
            for o in self._context.store.objects.of_kind(kind)
            if not o.deleting
        ]

    def context(self, kind: str, name: str) -> ReconcileContext:
        return self._context.for_object((kind, name))

    def wake(self, kind: str, name: str) -> None:
        self._queue.add((kind, name))

    def now(self) -> datetime:
        return self._clock.now()

    def monotonic(self) -> float:
        return self._clock.monotonic()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)


async def run_backgrounds(
    reconcilers: Mapping[str, Reconciler[Any, Any]], env: ControllerBackgroundEnv
) -> None:
    """Every reconciler's background loop, restarted after a crash until ``stop``."""

    async def keep_running(reconciler: Reconciler[Any, Any]) -> None:
        while not env.stop.is_set():
            try:
                await reconciler.background(env)
                return
            except Exception:
                log.exception(
                    "background loop of %s reconciler crashed; restarting", reconciler.kind
                )
                await env.sleep(1.0)

    await asyncio.gather(*(keep_running(r) for r in reconcilers.values()))
