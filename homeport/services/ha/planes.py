"""Several control planes: the etcd backend's parts and the git mirror, wired for one daemon.

``ControlPlanes.build`` reads ``[coordination]`` and ``[source] peers``. With the etcd
backend it attaches the fenced replica to the store, and runs beside the daemon's other
tasks the shared-state follower (``follow.py``), the revision follower
(``revision_follow.py``) and, through ``EtcdLeadership`` (``leadership.py``), the take-over
(``takeover.py``). With peers it also keeps the repository in step with theirs
(``source/mirror.py``): at start, every ``peer_fetch_interval``, and before a take-over.
The daemon (``controller/daemon.py``) only sees a ``Leadership`` and one ``run`` task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from homeport.clients.etcd import EtcdClient, EtcdSettings, EtcdSyncClient
from homeport.controller.clock import Clock
from homeport.controller.config import CoordinationSettings, Settings
from homeport.controller.coordination import LEASE_NAME, Leadership
from homeport.controller.signing import SignatureGate
from homeport.controller.source_keys import ADOPTED
from homeport.controller.store import Key, Lease, Store
from homeport.services.ha.follow import SharedStateFollower
from homeport.services.ha.keys import Keyspace
from homeport.services.ha.leadership import EtcdLeadership, LeaderView
from homeport.services.ha.replica import EtcdReplica
from homeport.services.ha.revision_follow import RevisionFollower
from homeport.services.ha.takeover import TakeOver
from homeport.source.mirror import GitMirror
from homeport.source.sources import Source

log = logging.getLogger(__name__)
EVENT_KIND, EVENT_NAME = "Controller", "coordination"


def etcd_settings(settings: CoordinationSettings) -> EtcdSettings:
    """The client's settings; the password is read from its file here, never logged."""
    password = None
    if settings.password_file is not None:
        password = Path(settings.password_file).read_text().strip()
    return EtcdSettings(
        endpoints=tuple(settings.endpoints),
        ca_file=settings.ca_file,
        cert_file=settings.cert_file,
        key_file=settings.key_file,
        username=settings.username,
        password=password,
        timeout=settings.timeout,
    )


@contextlib.contextmanager
def operator_writes(store: Store, settings: Settings) -> Iterator[None]:
    """The CLI's requests (approvals, suspensions, failovers) also go to etcd — unfenced:
    they are for whichever daemon leads, which sees them through its watch."""
    if settings.coordination.backend != "etcd":
        yield
        return
    client = EtcdSyncClient(etcd_settings(settings.coordination))
    store.replicate_to(EtcdReplica(client, Keyspace(settings.coordination.prefix), None))
    try:
        yield
    finally:
        store.replicate_to(None)
        client.close()


class ControlPlanes:
    def __init__(self, *, settings: Settings, store: Store, clock: Clock, source: Source) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.mirror = _mirror(settings)
        self.leadership: EtcdLeadership | None = None
        self._enqueue: Callable[[list[Key]], None] = lambda keys: None
        self._wake: Callable[[], None] = lambda: None
        self._touch: Callable[[Key], None] = lambda key: None
        self._problem: str | None = None
        coordination = settings.coordination
        if coordination.backend != "etcd":
            return
        client_settings = etcd_settings(coordination)
        self.keys = Keyspace(coordination.prefix)
        self.client = EtcdClient(client_settings)
        self.sync_client = EtcdSyncClient(client_settings)
        self.leadership = EtcdLeadership(
            self.client,
            self.keys,
            clock,
            holder=coordination.identity,
            ttl=coordination.lease_duration,
            renew_interval=coordination.renew_interval,
            on_elected=self._take_over,
            on_view=self._record_view,
            on_problem=self._record_problem,
        )
        self.replica = EtcdReplica(self.sync_client, self.keys, self.leadership)
        store.replicate_to(self.replica)
        self.revisions = RevisionFollower(
            store=store,
            source=source,
            mirror=self.mirror,
            clock=clock,
            leading=self.leadership.holds_lease,
            signatures=SignatureGate.for_settings(settings),
        )
        self.follower = SharedStateFollower(
            client=self.client,
            keys=self.keys,
            store=store,
            replica=self.replica,
            clock=clock,
            on_leader_key=self.leadership.leader_changed,
            on_adopted=self.revisions.follow,
            on_approvals=lambda: self._wake(),
            on_object=lambda key: self._touch(key),
        )
        self.takeover = TakeOver(
            client=self.client,
            keys=self.keys,
            store=store,
            replica=self.replica,
            follower=self.follower,
            revisions=self.revisions,
            clock=clock,
            enqueue=lambda keys: self._enqueue(keys),
            wake_sync=lambda: self._wake(),
        )

    def leadership_or(self, fallback: Callable[[], Leadership]) -> Leadership:
        return self.leadership if self.leadership is not None else fallback()

    def bind(
        self,
        *,
        enqueue: Callable[[list[Key]], None],
        wake_sync: Callable[[], None],
        touch: Callable[[Key], None],
    ) -> None:
        """What a take-over queues (every object, interrupted ones first), what wakes the
        revision sync, and what reconciles one object (an operator's request arrived)."""
        self._enqueue = enqueue
        self._wake = wake_sync
        self._touch = touch

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:
            if self.mirror is not None:
                group.create_task(self._mirror_loop(stop))
            if self.leadership is not None:
                group.create_task(self.follower.run(stop))
                group.create_task(self.revisions.run(stop))

    async def close(self) -> None:
        self.store.replicate_to(None)
        if self.leadership is not None:
            await self.client.close()
            self.sync_client.close()

    # -- the parts' callbacks -------------------------------------------------------------
    async def _take_over(self, token: int) -> None:
        await self.takeover(token)
        adopted = self._adopted_sha()
        mirror = self.mirror
        if mirror is not None and adopted and await asyncio.to_thread(mirror.behind, adopted):
            # Adopting from a branch behind the running revision would look like a force-push.
            await asyncio.to_thread(mirror.catch_up, adopted)

    def _adopted_sha(self) -> str | None:
        wanted = self.revisions.wanted if self.leadership is not None else None
        adopted = wanted or self.store.source_state.get(ADOPTED) or {}
        return adopted.get("sha") or None

    def _record_view(self, view: LeaderView | None) -> None:
        """Who leads, in the local store: ``homeport status`` and the notifier read it."""
        if view is None:
            return
        now = self.clock.now()
        ttl = self.settings.coordination.lease_duration
        expires = (now + timedelta(seconds=ttl)).timestamp()
        self.store.leases.record(Lease(LEASE_NAME, view.holder, view.token, expires), stamp=now)

    def _record_problem(self, problem: str | None) -> None:
        """Say why this daemon does not act (an event: ``homeport status`` shows it)."""
        if (problem is None) == (self._problem is None):
            self._problem = problem
            return
        self._problem = problem
        self.store.events.emit(
            kind=EVENT_KIND,
            name=EVENT_NAME,
            reason="CoordinationUnavailable" if problem else "CoordinationRestored",
            message=problem
            or "etcd answers again; the leader acts again (after a take-over if it changed)",
            now=self.clock.now(),
            warning=problem is not None,
        )

    async def _mirror_loop(self, stop: asyncio.Event) -> None:
        assert self.mirror is not None
        mirror = self.mirror
        await asyncio.to_thread(mirror.configure)
        while not stop.is_set():
            try:
                result = await asyncio.to_thread(mirror.catch_up, self._adopted_sha())
                for peer, why in result.unreachable.items():
                    log.debug("peer %s not reachable: %s", peer, why)
                if result.moved_to is not None:
                    self._wake()
            except Exception:  # a git hiccup must not stop the mirror for good
                log.exception("catching up with the peers failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), timeout=self.settings.source.peer_fetch_interval
                )


def _mirror(settings: Settings) -> GitMirror | None:
    source = settings.source
    if source.repo is None or not source.peers:
        return None
    return GitMirror(source.repo, branch=source.branch, peers=source.peers)
