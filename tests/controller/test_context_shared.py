"""Shared observations (``ControllerContext.shared``): loaded once per window by one
caller, and dropped by ``invalidate`` even while a load is in flight, so that a read that
began before a mutation is never kept as the window's answer after it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homeport.clients.bundle import Clients
from homeport.controller.clock import FakeClock
from homeport.controller.context import ControllerContext
from homeport.controller.store import Store


def context(tmp_path: Path) -> ControllerContext:
    return ControllerContext(
        store=Store.open(tmp_path / "state.db"), clock=FakeClock(), clients=Clients()
    )


async def test_one_load_per_window_for_concurrent_callers(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0)
        return loads

    assert await asyncio.gather(*(ctx.shared("k", load) for _ in range(5))) == [1] * 5
    assert await ctx.shared("k", load) == 1 and loads == 1


async def test_an_invalidation_during_a_load_is_not_undone_when_it_ends(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    release = asyncio.Event()
    answers = iter(["read before the write", "read after the write"])

    async def load() -> str:
        answer = next(answers)
        if answer == "read before the write":
            await release.wait()
        return answer

    early = asyncio.create_task(ctx.shared("k", load))
    await asyncio.sleep(0)  # the early read is in flight
    ctx.invalidate("k")  # a mutation happened meanwhile
    release.set()
    assert await early == "read before the write"  # its own caller gets what it read
    assert await ctx.shared("k", load) == "read after the write"
