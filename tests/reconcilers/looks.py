"""Helpers of the tests that count what a resync reads and check the fresh-look rule
(docs/architecture.md, "Shared observations"): a context that serves one stale shared
read, and a marker of the calls made while a reconciler observes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import pytest

observing: ContextVar[str | None] = ContextVar("observing", default=None)
"""The name of the object being observed, while its reconciler's ``observe`` runs."""


def mark_observing(reconciler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set ``observing`` to the object's name while ``reconciler.observe`` runs."""
    observe = reconciler.observe

    async def observed(desired: Any, name: str, ctx: Any) -> Any:
        token = observing.set(name)
        try:
            return await observe(desired, name, ctx)
        finally:
            observing.reset(token)

    monkeypatch.setattr(reconciler, "observe", observed)


class StaleShared:
    """A reconcile's context whose first shared read of ``key`` is ``stale()`` (what a
    read taken a while ago would say), served as a read of another reconcile from the
    window is: the caller's own ``load`` does not run for it (a read the caller made
    itself is fresh). Every other call goes to ``inner``. ``loads`` counts the reads of
    ``key`` served."""

    def __init__(self, inner: Any, key: str, stale: Callable[[], Awaitable[Any]]) -> None:
        self.inner = inner
        self.key = key
        self.stale = stale
        self.loads = 0
        self.stale_served = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def shared(self, key: str, load: Any) -> Any:
        if key != self.key:
            return await self.inner.shared(key, load)
        self.loads += 1
        if self.stale_served:
            return await self.inner.shared(key, load)
        self.stale_served = True
        return await self.stale()
