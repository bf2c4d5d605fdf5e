"""The engine in-process on one object, for an operator's request when no daemon runs.

``homeport backup now`` and ``homeport estate shutdown|start`` write their request into
the store and poke the daemon; when no daemon listens, the command itself becomes the
leader for as long as the request takes (the same ``local`` lease a daemon takes, so a
daemon starting meanwhile waits for it) and reconciles only that object — and the objects
it wakes whose reconcilers it was given (an estate shutdown wakes the StandbyPairs whose
final sync it waits for) — with the daemon's own engine, reconcilers and clients:
observe, pure plan, journaled act under its fencing token, the same error policy. One
code path whoever runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from homeport.clients.bundle import Clients
from homeport.controller.clock import Clock
from homeport.controller.config import Settings
from homeport.controller.context import ControllerContext
from homeport.controller.coordination import LEASE_NAME, LocalLeadership
from homeport.controller.engine import Engine, Outcome
from homeport.controller.store import Key, Store
from homeport.reconcilers.base import Reconciler

Settled = Callable[[Store], bool]

STUCK = frozenset({"suspended", "held", "stalled", "gone", "pruned"})
"""Outcomes after which the object is not looked at again without a change: the request
waits for the operator, who hears why."""


async def reconcile_until(
    *,
    settings: Settings,
    store: Store,
    reconcilers: Mapping[str, Reconciler[Any, Any]],
    clients: Clients,
    clock: Clock,
    key: Key,
    settled: Settled,
    holder: str,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> Outcome | None:
    """Reconcile ``key`` until ``settled(store)`` or a stuck outcome (returned: the last
    one); None when another holder leads (a daemon that does not answer its socket: it
    acts on the request itself)."""
    coordination = settings.coordination
    leadership = LocalLeadership(
        store,
        clock,
        holder=holder,
        duration=coordination.lease_duration,
        renew_interval=coordination.renew_interval,
    )
    if not leadership.try_once():
        return None
    context = ControllerContext(store=store, clock=clock, clients=clients)
    engine = Engine(
        store=store,
        reconcilers=reconcilers,
        context=context,
        clock=clock,
        settings=settings.controller,
        leadership=leadership,
    )
    woken: list[Key] = []

    def wake(other: Key) -> None:
        if other[0] in reconcilers and other != key and other not in woken:
            woken.append(other)

    context.waker = wake  # the engine's queue is not run here: what it wakes, we do
    try:
        while True:
            outcome = await engine.reconcile(key)
            while woken:
                await engine.reconcile(woken.pop(0))
            if settled(store) or outcome.result in STUCK:
                return outcome
            await sleep(outcome.requeue_after if outcome.requeue_after is not None else 1.0)
            if not leadership.try_once():  # renewed between passes; lost: the leader acts
                return None
    finally:
        store.leases.release(LEASE_NAME, leadership.holder)
