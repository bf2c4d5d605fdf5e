"""A shared read, and whether this reconcile made it (docs/architecture.md, "Shared
observations"): a read loaded by the caller itself began in this reconcile, so a plan made
on it needs no second look before it acts; one served from the window (loaded by another
reconcile, up to a window old) does."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from homeport.reconcilers.base import ClientAccess

_order = itertools.count(1)


def began() -> int:
    """The next mark on the reads' common order: a read that takes one as it begins is
    known to have begun after every read (or note) that took a smaller one. Exact, as the
    event loop runs one thing at a time, and free of clocks (a fake clock standing still
    in a test cannot make an old note look newer than a list)."""
    return next(_order)


K = TypeVar("K")
V = TypeVar("V")


class Notes(Generic[K, V]):
    """What a reconciler read back alone after changing it, each noted with the mark
    ``began`` gave when its read began: newer than a shared read that began before it,
    and dropped once a shared read begins after it (that read has caught up). The VM
    entries (``cluster.FreshEntries``) and the routes written (``proxyroute/written.py``)
    patch their window's shared read with them."""

    def __init__(self) -> None:
        self._notes: dict[K, tuple[int, V]] = {}

    def note(self, key: K, value: V, *, order: int | None = None) -> None:
        """``value`` for ``key``, read back from the mark ``order`` on (default: now)."""
        self._notes[key] = (began() if order is None else order, value)

    def since(self, read_began: int) -> dict[K, V]:
        """The notes newer than a shared read that began at ``read_began``; older ones
        are dropped."""
        for stale in [k for k, (order, _) in self._notes.items() if order < read_began]:
            del self._notes[stale]
        return {key: value for key, (_, value) in self._notes.items()}

    def forget(self, key: K) -> None:
        self._notes.pop(key, None)

    def __len__(self) -> int:
        return len(self._notes)


CADDY_ROUTES = "caddy.routes"
"""The one shared read of homeport's route servers in Caddy: every ProxyRoute observes it,
and whoever writes a route (a ProxyRoute, a StandbyPair's reroute) drops it."""


async def shared_look(
    ctx: ClientAccess, key: str, load: Callable[[], Awaitable[Any]]
) -> tuple[Any, bool]:
    """``ctx.shared(key, load)``, and True when ``load`` ran for this call."""
    ran = False

    async def loaded() -> Any:
        nonlocal ran
        ran = True
        return await load()

    value = await ctx.shared(key, loaded)
    return value, ran
