"""Leadership through etcd (``backend = "etcd"``): the ``Leadership`` of ``coordination.py``.

Every daemon holds a lease of ``lease_duration`` seconds, renewed every ``renew_interval``,
and registers itself under ``planes/`` with it. Whoever creates the leader key (a txn that
succeeds only while the key does not exist) attached to its lease leads; the key's create
revision is the fencing token, strictly larger for every new leader. The others wait,
campaigning again as soon as the key disappears (the follower's watch nudges them) or at
their next renewal.

The leader stops acting one renew interval before its lease could expire when renewals
fail (self-fencing, measured on the monotonic clock from when the last successful renewal
was *sent*), and every shared write it makes is fenced in etcd by the token
(``replica.py``). Before ``is_leader`` turns true, ``on_elected`` (``takeover.py``) brings the
local store up to date with the shared state; if that fails the daemon resigns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeport.clients.etcd import (
    EtcdClient,
    EtcdError,
    compare_created,
    delete_op,
    put_op,
    range_op,
)
from homeport.controller.clock import Clock
from homeport.controller.coordination import holder_identity
from homeport.services.ha.keys import Keyspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaderView:
    """Who leads, as this daemon last saw it."""

    holder: str
    token: int


Elected = Callable[[int], Awaitable[None]]


class EtcdLeadership:
    def __init__(
        self,
        client: EtcdClient,
        keys: Keyspace,
        clock: Clock,
        *,
        holder: str | None = None,
        ttl: float = 6.0,
        renew_interval: float = 2.0,
        on_elected: Elected | None = None,
        on_view: Callable[[LeaderView | None], None] | None = None,
        on_problem: Callable[[str | None], None] | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self.holder = holder_identity(holder)
        self.ttl = ttl
        self.renew_interval = renew_interval
        self.on_elected = on_elected
        self.on_view = on_view
        self.on_problem = on_problem
        self.problem: str | None = None
        """Why this daemon cannot take part (etcd unavailable), None when it can."""
        self.view: LeaderView | None = None
        self._lease = 0
        self._lease_until = 0.0
        self._token = 0
        self._prepared = False
        self._preparing: asyncio.Task[None] | None = None
        self._fenced_logged = False
        self._became_leader = asyncio.Event()
        self._nudge = asyncio.Event()

    # -- the Leadership interface ---------------------------------------------------------
    def holds_lease(self) -> bool:
        """Leader key ours and the lease safely alive (one renew interval of margin)."""
        return bool(self._token) and (
            self.clock.monotonic() < self._lease_until - self.renew_interval
        )

    def lease_expires_at(self) -> float:
        """When the lease runs out unless renewed (monotonic; from the last renewal's send)."""
        return self._lease_until

    def fencing_token(self) -> int | None:
        return self._token if self.holds_lease() else None

    def is_leader(self) -> bool:
        return self._prepared and self.holds_lease()

    async def confirm(self) -> bool:
        if self.is_leader():
            return True
        # Still ours but inside the renewal margin (the keepalive task is late): one
        # keepalive now, the same as the renewal loop's, rather than a false change of leader.
        if not (self._prepared and self._token and self._lease):
            return False
        if self.clock.monotonic() >= self._lease_until:
            return False
        return await self._renew() is True and self.is_leader()

    def token(self) -> int:
        return self._token

    def leader_changed(self) -> None:
        """The leader key changed (the watch saw it): look again now, not at the next renewal."""
        self._nudge.set()

    async def wait_until_leader(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            if self.is_leader():
                return True
            self._became_leader.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._became_leader.wait(), timeout=self.renew_interval)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Terms of leases until ``stop``; then resign (revoke the lease) at once."""
        try:
            while not stop.is_set():
                try:
                    await self._term(stop)
                except EtcdError as exc:
                    self._unavailable(exc)
                    await self._pause(stop, min(self.renew_interval, 1.0))
        finally:
            await self._resign()

    # -- one lease ------------------------------------------------------------------------
    async def _term(self, stop: asyncio.Event) -> None:
        """Grant a lease and keep it (campaigning when nobody leads) until it is lost."""
        sent = self.clock.monotonic()
        self._lease, granted = await self.client.grant(self.ttl)
        self._lease_until = sent + granted
        await self.client.put(
            self.keys.plane(self.holder), {"holder": self.holder}, lease=self._lease
        )
        self._available()
        next_renewal = sent + self.renew_interval
        while not stop.is_set():
            try:
                await self._look()
            except EtcdError as exc:  # like a failed renewal: the lease is still ours
                self._unavailable(exc)
            await self._pause(stop, next_renewal - self.clock.monotonic(), nudge=not self._token)
            if stop.is_set() or self.clock.monotonic() < next_renewal:
                continue  # stopping, or nudged: campaign now
            renewed = await self._renew()
            if renewed is None:
                return  # the lease is gone: a new term with a new lease
            next_renewal = self.clock.monotonic() + (
                self.renew_interval if renewed else self.renew_interval / 4
            )

    async def _renew(self) -> bool | None:
        """One keepalive: True renewed, False failed (retry soon), None the lease is gone."""
        sent = self.clock.monotonic()
        try:
            remaining = await self.client.keepalive(self._lease)
        except EtcdError as exc:
            self._unavailable(exc)
            self._note_self_fenced()
            if self.clock.monotonic() >= self._lease_until:
                self._lost("the lease expired while etcd did not answer")
                self._lease = 0
                return None
            return False
        if remaining <= 0:
            self._lost("the lease expired (this daemon could not renew it in time)")
            self._lease = 0
            return None
        self._available()
        self._lease_until = sent + remaining
        self._fenced_logged = False
        return True

    async def _look(self) -> None:
        """Campaign when nobody leads; as leader, check that the key is still ours."""
        if not self._token:
            self._nudge.clear()
            await self._campaign()
        elif not await self._still_leader():
            self._lost("the leader key is no longer ours")

    async def _campaign(self) -> None:
        value = {"holder": self.holder}
        result = await self.client.txn(
            [compare_created(self.keys.leader, 0)],
            [put_op(self.keys.leader, value, lease=self._lease)],
            [range_op(self.keys.leader)],
        )
        if result.succeeded:
            self._elected(result.revision)
            return
        current = result.ranges()
        if not current:
            return  # gone meanwhile: the next nudge or renewal campaigns again
        leader = current[0]
        if leader.lease == self._lease:
            self._elected(leader.create_revision)  # ours already (a retried campaign)
            return
        self._see(LeaderView(str((leader.json() or {}).get("holder", "?")), leader.create_revision))

    def _elected(self, token: int) -> None:
        self._token = token
        self._prepared = False
        self._see(LeaderView(self.holder, token))
        log.info("elected leader (fencing token %d) as %s; taking over", token, self.holder)
        self._preparing = asyncio.create_task(self._prepare(token))

    async def _prepare(self, token: int) -> None:
        try:
            if self.on_elected is not None:
                await self.on_elected(token)
        except Exception as exc:
            log.exception("taking over failed; resigning so that another control plane leads")
            self._lost(f"take-over failed: {exc}")
            with contextlib.suppress(EtcdError):
                await self.client.txn(
                    [compare_created(self.keys.leader, token)], [delete_op(self.keys.leader)]
                )
            return
        if self._token == token:
            self._prepared = True
            self._became_leader.set()
            log.info("leading now (fencing token %d)", token)

    async def _still_leader(self) -> bool:
        leader = await self.client.get(self.keys.leader)
        return leader is not None and leader.create_revision == self._token

    # -- bookkeeping ----------------------------------------------------------------------
    def _lost(self, why: str, *, level: int = logging.WARNING) -> None:
        if self._token:
            log.log(level, "lost leadership (fencing token %d): %s", self._token, why)
        self._token = 0
        self._prepared = False
        if self._preparing is not None and not self._preparing.done():
            self._preparing.cancel()
        self._preparing = None

    def _note_self_fenced(self) -> None:
        if self._token and not self.holds_lease() and not self._fenced_logged:
            self._fenced_logged = True
            log.warning(
                "stopped acting: the leader lease could not be renewed and would expire "
                "within %.1fs (self-fenced until etcd answers)",
                max(0.0, self._lease_until - self.clock.monotonic()),
            )

    def _see(self, view: LeaderView | None) -> None:
        if view != self.view:
            self.view = view
            if self.on_view is not None:
                self.on_view(view)

    def _unavailable(self, exc: Exception) -> None:
        message = f"etcd unavailable: {exc}"
        if self.problem is None:
            log.warning("%s; this daemon does not act until etcd answers again", message)
        self.problem = message
        if self.on_problem is not None:
            self.on_problem(message)

    def _available(self) -> None:
        if self.problem is not None:
            log.info("etcd answers again")
            self.problem = None
            if self.on_problem is not None:
                self.on_problem(None)

    async def _pause(self, stop: asyncio.Event, seconds: float, *, nudge: bool = False) -> None:
        if seconds <= 0:
            return
        waits = [asyncio.ensure_future(stop.wait())]
        if nudge:
            waits.append(asyncio.ensure_future(self._nudge.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    async def _resign(self) -> None:
        self._lost(
            "stopping; the lease is revoked so that another plane leads at once", level=logging.INFO
        )
        self._prepared = False
        if not self._lease:
            return
        lease, self._lease = self._lease, 0
        with contextlib.suppress(EtcdError, asyncio.CancelledError):
            # The leader key and this plane's registration go with the lease: the next
            # leader takes over at once instead of after the lease's TTL.
            await asyncio.shield(self.client.revoke(lease))
