"""What reconcilers see of the controller: clients, other objects, shared observations.

Each kind sees only the clients its reconciler declared (``serve``, called by the engine
at start); a context made for a kind nobody served (a test's) holds every client given.

``ControllerContext`` is shared by all reconciles; ``ObjectContext`` binds it to the key
being reconciled (for events). Shared observations are loaded once per ``ttl`` and by
one caller at a time (concurrent reconciles await the same load), and dropped after a
mutation so the next reconcile sees the change.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from homeport.clients.bundle import Clients, MissingClient
from homeport.controller.clock import Clock
from homeport.controller.logs import log_event
from homeport.controller.store import AllocationError, Key, Store
from homeport.kinds import Resource
from homeport.reconcilers.base import AllocationTaken, Reconciler

log = logging.getLogger(__name__)
FailoverObserver = Callable[[str, int, Mapping[str, Any]], None]
"""Told (pair, epoch, fields) after each write of a failover record (telemetry)."""


class ControllerContext:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        clients: Clients,
        ttl: float = 2.0,
        on_failover: FailoverObserver | None = None,
    ) -> None:
        self.on_failover = on_failover
        self.store = store
        self.clock = clock
        self.clients = clients
        self._served: dict[str, Clients] = {}
        """Per kind: the part of ``clients`` its reconciler declared (``serve``)."""
        self.ttl = ttl
        self.waker: Callable[[Key], None] = lambda key: None
        """Set by the engine: queue a key for a reconcile."""
        self._shared: dict[str, tuple[float, asyncio.Future[Any]]] = {}

    async def shared(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        now = self.clock.monotonic()
        cached = self._shared.get(key)
        if cached is not None and (not cached[1].done() or cached[0] > now):
            return await asyncio.shield(cached[1])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._shared[key] = (now + self.ttl, future)
        try:
            value = await load()
        except BaseException as exc:
            if self._ours(key, future):
                self._shared.pop(key, None)
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        future.set_result(value)
        # Dropped meanwhile (``invalidate``: a mutation after this read began): the read
        # answers its own callers, and the next one reads again.
        if self._ours(key, future):
            self._shared[key] = (self.clock.monotonic() + self.ttl, future)
        return value

    def _ours(self, key: str, future: asyncio.Future[Any]) -> bool:
        held = self._shared.get(key)
        return held is not None and held[1] is future

    def invalidate(self, key: str) -> None:
        self._shared.pop(key, None)

    def invalidate_all(self) -> None:
        self._shared.clear()

    def serve(self, reconcilers: Mapping[str, Reconciler[Any, Any]]) -> None:
        """Give each kind only the clients its reconciler declared (``Reconciler.uses``);
        ``MissingClient`` when one of them is not configured, before any reconcile."""
        for kind, reconciler in reconcilers.items():
            missing = self.clients.missing(reconciler.uses)
            if missing:
                names = ", ".join(repr(n) for n in missing)
                raise MissingClient(
                    f"the {kind} reconciler needs the {names} client, which was not "
                    "configured: build the clients with controller.wiring.build_clients"
                )
            self._served[kind] = self.clients.only(reconciler.uses, owner=kind)

    def for_object(self, key: Key) -> ObjectContext:
        return ObjectContext(self, key, self._served.get(key[0], self.clients))


class ObjectContext:
    """The ReconcileContext of one reconcile."""

    def __init__(self, base: ControllerContext, key: Key, clients: Clients | None = None) -> None:
        self.base = base
        self.key = key
        self.clients = base.clients if clients is None else clients
        """The clients the kind declared (``ControllerContext.serve``); all, unless served."""

    def now(self) -> datetime:
        return self.base.clock.now()

    def status_details(self, kind: str, name: str) -> Mapping[str, Any]:
        obj = self.base.store.objects.get((kind, name))
        return obj.status.details if obj is not None else {}

    def desired(self, kind: str, name: str) -> Resource | None:
        obj = self.base.store.objects.get((kind, name))
        return obj.resource() if obj is not None and not obj.deleting else None

    def last_manifest(self) -> Resource | None:
        obj = self.base.store.objects.get(self.key)
        try:
            return obj.resource() if obj is not None else None
        except ValidationError:
            # Stored by an older homeport and no longer valid: the caller falls back to
            # the safest reading (a VM's removal is then held, never destroyed).
            return None

    def recall(self, kind: str | None = None, name: str | None = None) -> dict[str, Any]:
        return self.base.store.memory.get(kind or self.key[0], name or self.key[1])

    def remember(self, value: Mapping[str, Any], *, slot: str | None = None) -> None:
        kind = f"{self.key[0]}.{slot}" if slot else self.key[0]
        if slot and not value:
            self.base.store.memory.forget(kind, self.key[1])
            return
        self.base.store.memory.set(kind, self.key[1], dict(value), now=self.now().isoformat())

    def is_ready(self, kind: str, name: str) -> bool:
        obj = self.base.store.objects.get((kind, name))
        return obj is not None and obj.ready and not obj.deleting

    def objects(self, kind: str) -> list[tuple[Resource, Mapping[str, Any]]]:
        return list(self.base.store.objects.resources_of_kind(kind))

    def allocated(self, pool: str) -> int | None:
        return self.base.store.allocations.get(pool, *self.key)

    def taken(self, pool: str) -> set[int]:
        return self.base.store.allocations.taken(pool)

    def allocate(
        self, pool: str, value: int, *, high: int | None = None, unavailable: Iterable[int] = ()
    ) -> int:
        """Reserve ``value`` for this object; with ``high``, the first free one of
        ``value..high`` (not reserved, not in ``unavailable``): a candidate another object
        reserved meanwhile is no conflict when the pool has room. ``AllocationTaken`` when
        nothing in the range is free."""
        try:
            return self.base.store.allocations.allocate(
                pool,
                *self.key,
                low=value,
                high=value if high is None else high,
                unavailable=unavailable,
                now=self.now(),
                preferred=value if high is None else None,
            )
        except (AllocationError, sqlite3.IntegrityError):
            # Held already, or inserted by another writer between our read and our insert.
            raise AllocationTaken(pool, value) from None

    def release(self, pool: str) -> None:
        self.base.store.allocations.release(pool, *self.key)

    async def shared(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        return await self.base.shared(key, load)

    def invalidate(self, key: str) -> None:
        self.base.invalidate(key)

    def wake(self, kind: str, name: str) -> None:
        self.base.waker((kind, name))

    def record_failover(self, epoch: int, fields: Mapping[str, Any]) -> None:
        self.base.store.failovers.upsert(self.key[1], epoch, dict(fields))
        if self.base.on_failover is not None:
            self.base.on_failover(self.key[1], epoch, fields)

    def record_backup(self, volid: str, fields: Mapping[str, Any]) -> None:
        self.base.store.backups.record(volid, fields, now=self.now().isoformat())

    def backup_records(self, vm: str) -> list[dict[str, Any]]:
        return self.base.store.backups.for_vm(vm)

    def event(
        self, reason: str, message: str, *, warning: bool = False, about: Key | None = None
    ) -> None:
        kind, name = about or self.key
        log_event(
            log, kind, name, reason, message, level=logging.WARNING if warning else logging.INFO
        )
        self.base.store.events.emit(
            kind=kind,
            name=name,
            reason=reason,
            message=message,
            now=self.base.clock.now(),
            warning=warning,
        )
