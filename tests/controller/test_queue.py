"""The work queue on a fake clock: dedup, dirty keys, exact delays and backoff."""

from __future__ import annotations

import asyncio
import random

import pytest

from homeport.controller.backoff import Backoff
from homeport.controller.clock import FakeClock
from homeport.controller.queue import QueueShutDown, WorkQueue


def make(jitter: float = 0.0, cap: float = 8.0) -> tuple[FakeClock, WorkQueue[str]]:
    clock = FakeClock()
    return clock, WorkQueue(clock, Backoff(base=1.0, cap=cap, jitter=jitter))


def test_duplicates_merge() -> None:
    _, queue = make()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert queue.pop_ready() == "a"
    assert queue.pop_ready() == "b"
    assert queue.pop_ready() is None


def test_key_added_while_processing_runs_again_after_done_never_concurrently() -> None:
    _, queue = make()
    queue.add("a")
    assert queue.pop_ready() == "a"
    queue.add("a")
    assert queue.pop_ready() is None  # one reconcile per key at a time
    queue.done("a")
    assert queue.pop_ready() == "a"


def test_add_after_becomes_ready_exactly_at_its_due_time() -> None:
    clock, queue = make()
    queue.add_after("a", 5.0)
    assert queue.due_at("a") == 5.0
    clock.advance(4.999)
    assert queue.pop_ready() is None
    clock.advance(0.001)
    assert queue.pop_ready() == "a"


def test_earliest_due_time_wins() -> None:
    clock, queue = make()
    queue.add_after("a", 10.0)
    queue.add_after("a", 3.0)
    queue.add_after("a", 7.0)
    assert queue.due_at("a") == 3.0
    clock.advance(3.0)
    assert queue.pop_ready() == "a"
    clock.advance(10.0)
    queue.done("a")
    assert queue.pop_ready() is None  # the superseded due times do not fire again


def test_exact_exponential_backoff_and_cap() -> None:
    clock, queue = make(cap=8.0)
    delays = []
    for _ in range(6):
        delays.append(queue.add_rate_limited("a"))
        clock.advance(delays[-1])
        assert queue.pop_ready() == "a"
        queue.done("a")
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    queue.forget("a")
    assert queue.add_rate_limited("a") == 1.0


def test_jitter_is_bounded_and_replays_with_its_seed() -> None:
    def run(seed: int) -> list[float]:
        backoff = Backoff(base=1.0, cap=300.0, jitter=0.2, rng=random.Random(seed))
        return [backoff.next_delay("k") for _ in range(8)]

    first = run(42)
    assert first == run(42)
    assert first != run(43)
    for count, delay in enumerate(first):
        nominal = min(2.0**count, 300.0)
        assert nominal * 0.8 <= delay <= nominal * 1.2


async def test_get_waits_for_the_fake_clock() -> None:
    clock, queue = make()
    queue.add_after("a", 2.0)
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.advance(2.0)
    assert await asyncio.wait_for(waiter, 1) == "a"


async def test_get_wakes_on_add_and_stops_on_shutdown() -> None:
    _, queue = make()
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.add("b")
    assert await asyncio.wait_for(waiter, 1) == "b"
    stopper = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    with pytest.raises(QueueShutDown):
        await asyncio.wait_for(stopper, 1)


def test_depth_counts_ready_and_delayed() -> None:
    _, queue = make()
    queue.add("a")
    queue.add_after("b", 1.0)
    assert queue.depth() == 2


def test_busy_ignores_delayed_keys() -> None:
    clock, queue = make()
    queue.add_after("later", 5.0)
    assert not queue.busy()
    queue.add("now")
    assert queue.busy()
    assert queue.pop_ready() == "now"
    assert queue.busy()
    queue.done("now")
    assert not queue.busy()
    clock.advance(5.0)
    assert queue.busy()
