"""Time as the clients see it: an injected clock and sleep, and bounded retries with backoff.

Every client (``proxmox_transport``, ``proxmox_tasks``, ``ssh``, ``caddy``, ``tailscale``,
``probes``) takes a ``Clock`` and a ``Sleep`` instead of reading the time, so tests drive
them with a fake clock; defaults come from the running event loop. ``RetryPolicy`` lives in
each client's settings and ``retrying`` is the one loop that applies it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from homeport.clients.errors import ClientError

Clock = Callable[[], float]
"""Monotonic seconds (the event loop's time by default)."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits a number of seconds (``asyncio.sleep`` by default)."""

T = TypeVar("T")


def loop_clock() -> float:
    """The running event loop's monotonic time: the default ``Clock``."""
    return asyncio.get_running_loop().time()


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a client repeats a call that failed transiently."""

    attempts: int = 4
    """Tries in total, the first included (1 = never retry)."""
    base_delay: float = 0.25
    """Delay before the first retry, in seconds."""
    multiplier: float = 2.0
    """Growth of the delay from one retry to the next."""
    max_delay: float = 5.0
    """Upper bound of a single delay, in seconds."""
    jitter: float = 0.5
    """Fraction of each delay taken off at random, so clients do not retry in lockstep."""

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        raw = min(self.max_delay, self.base_delay * self.multiplier**retry)
        return raw * (1.0 - self.jitter * rng.random())


RetryDelay = Callable[[ClientError], "float | None"]
"""For a failure: ``None`` if it must not be retried, else the least delay (e.g. Retry-After)."""


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retry_delay: RetryDelay,
    sleep: Sleep,
    rng: random.Random,
    on_retry: Callable[[ClientError], None] | None = None,
) -> T:
    """Run ``call``; repeat it after transient failures as ``policy`` allows, then re-raise."""
    for attempt in range(max(1, policy.attempts)):
        try:
            return await call()
        except ClientError as exc:
            floor = retry_delay(exc)
            if floor is None or attempt + 1 >= policy.attempts:
                raise
            if on_retry is not None:
                on_retry(exc)
            await sleep(max(floor, policy.delay(attempt, rng)))
    raise AssertionError("unreachable: the last attempt returns or raises")


@dataclass
class Deadline:
    """A point in time on a ``Clock``: how long is left, and whether it has passed."""

    clock: Clock
    at: float

    @classmethod
    def after(cls, seconds: float, clock: Clock) -> Deadline:
        return cls(clock, clock() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.clock() >= self.at
