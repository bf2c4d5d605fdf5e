"""Is this daemon alive, leading and current? The heartbeat it writes to the store and
the ``DaemonHealth`` that ``/readyz`` and the gauges read.

``run_heartbeat`` rewrites this daemon's row in ``store.heartbeats`` every renew interval
(``leader`` or ``standby``) and marks it ``stopped`` on the way out, so ``homeport status``
can say whether anything is acting *now* (``views/liveness.py``) — the lease row alone
only says who led last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from homeport.controller.clock import Clock
from homeport.controller.coordination import Leadership
from homeport.controller.store import Heartbeat, Store

log = logging.getLogger(__name__)

FORGET_AFTER = timedelta(days=7)
"""Rows of daemons silent this long are dropped (every restart adds a row)."""


@dataclass
class DaemonHealth:
    """What the running daemon knows of itself, for ``/readyz`` and the gauges."""

    clock: Clock
    leadership: Leadership
    sync_stale_after: float
    """Seconds after which the last successful source sync no longer counts as recent
    (a few source poll intervals: a quiet source is still read every poll)."""
    started_at: datetime
    last_sync_at: datetime | None = None
    store_open: bool = True
    web_url: str | None = None
    heartbeat_error: str | None = field(default=None)

    def synced(self) -> None:
        self.last_sync_at = self.clock.now()

    def seconds_since_sync(self) -> float | None:
        if self.last_sync_at is None:
            return None
        return max((self.clock.now() - self.last_sync_at).total_seconds(), 0.0)

    def not_ready(self) -> str | None:
        """Why this daemon should not receive traffic meant for the acting one (None: ready)."""
        if not self.store_open:
            return "the store is closed (the daemon is stopping)"
        if self.heartbeat_error is not None:
            return f"the store cannot be written: {self.heartbeat_error}"
        if not self.leadership.is_leader():
            return "not leading: another daemon (or none) holds the lease"
        since = self.seconds_since_sync()
        if since is None:
            return "no successful sync of the source yet"
        if since > self.sync_stale_after:
            return (
                f"last successful sync of the source {since:.0f}s ago"
                f" (more than {self.sync_stale_after:.0f}s)"
            )
        return None


async def run_heartbeat(
    *, store: Store, health: DaemonHealth, interval: float, stop: asyncio.Event
) -> None:
    """Beat every ``interval`` until ``stop``; then one last ``stopped`` beat."""
    started = health.started_at.isoformat()
    try:
        while not stop.is_set():
            role = "leader" if health.leadership.is_leader() else "standby"
            _beat(store, health, role, started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        _beat(store, health, "stopped", started)


def _beat(store: Store, health: DaemonHealth, role: str, started: str) -> None:
    now = health.clock.now()
    try:
        store.heartbeats.beat(
            Heartbeat(
                holder=health.leadership.holder,
                role=role,
                beat_at=now.isoformat(),
                started_at=started,
                web_url=health.web_url,
            )
        )
        store.heartbeats.forget_before((now - FORGET_AFTER).isoformat())
        health.heartbeat_error = None
    except Exception as exc:  # a store hiccup must not stop the daemon; readyz reports it
        health.heartbeat_error = str(exc)
        log.exception("writing the heartbeat failed")
