"""Who may act: leadership with a fencing token (``local`` backend: a lease row in the store).

One daemon holds the lease and acts; a second one on the same store waits. The leader
renews every ``renew_interval``; if it cannot renew, it stops acting *before* its lease
can expire (self-fencing: ``is_leader`` turns false ``renew_interval`` early). Every
journaled action carries ``token``. The etcd backend implements the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from typing import Protocol

from homeport.controller.clock import Clock
from homeport.controller.store import Store
from homeport.controller.store.leases import LEASE_NAME as LEASE_NAME  # its home; kept here too

log = logging.getLogger(__name__)


class Leadership(Protocol):
    holder: str

    def is_leader(self) -> bool: ...

    async def confirm(self) -> bool:
        """Leader right now, with a lease that outlasts the next action: renew first when
        the lease is still ours but its background renewal is late."""
        ...

    def token(self) -> int: ...

    async def run(self, stop: asyncio.Event) -> None:
        """Acquire and keep renewing until ``stop``; release on the way out."""
        ...

    async def wait_until_leader(self, stop: asyncio.Event) -> bool: ...


def holder_identity(name: str | None) -> str:
    """A holder id unique to this daemon instance, so two daemons never share a lease even
    with the same configured name; a restarted daemon waits for its predecessor's lease."""
    return f"{name or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LocalLeadership:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        holder: str | None = None,
        duration: float = 15.0,
        renew_interval: float = 5.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.holder = holder_identity(holder)
        self.duration = duration
        self.renew_interval = renew_interval
        self._token = 0
        self._valid_until = 0.0
        self._became_leader = asyncio.Event()

    def is_leader(self) -> bool:
        # Stop acting one renew interval before the lease could expire.
        return self.clock.now().timestamp() < self._valid_until - self.renew_interval

    async def confirm(self) -> bool:
        if self.is_leader():
            return True
        # The renewal task shares the event loop with every reconcile; a loop busy for a
        # few seconds delays it past the margin while the lease is still ours. Renew here
        # instead of reporting a change of leader that did not happen. An expired lease is
        # not taken back on this path: another daemon may have acted meanwhile.
        if not self._valid_until or self.clock.now().timestamp() >= self._valid_until:
            return False
        try:
            return self.try_once() and self.is_leader()
        except Exception:  # a store hiccup: not the leader for this action, retried later
            log.exception("lease renewal before acting failed")
            return False

    def token(self) -> int:
        return self._token

    def try_once(self) -> bool:
        now = self.clock.now()
        lease = self.store.leases.try_acquire(
            LEASE_NAME, self.holder, now=now.timestamp(), duration=self.duration, stamp=now
        )
        if lease is None:
            if self._valid_until:
                log.warning("lost leadership to another daemon")
            self._valid_until = 0.0
            return False
        if lease.token != self._token:
            log.info("acquired leadership (fencing token %d) as %s", lease.token, self.holder)
        self._token = lease.token
        self._valid_until = lease.expires
        self._became_leader.set()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self.try_once()
                except Exception:  # a store hiccup must not kill the renew loop
                    log.exception("lease renewal failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.renew_interval)
        finally:
            self.store.leases.release(LEASE_NAME, self.holder)
            self._valid_until = 0.0

    async def wait_until_leader(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            if self.is_leader():
                return True
            self._became_leader.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._became_leader.wait(), timeout=self.renew_interval)
        return False
