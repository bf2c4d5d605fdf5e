"""Keeping the local store in step with the shared state in etcd (every daemon, always).

``SharedStateFollower`` reads everything under the estate's prefix once (``resync``), then
watches it (``/v3/watch``) and writes what changes into the local store with the replica
link paused (rows from etcd are not sent back). So a waiting daemon's store stays warm —
``homeport get``/``describe`` work on every control plane — and a new leader only has to
re-read once (``takeover.py``). A row this process wrote itself at a later revision than
the one being applied is left alone: the watch never rolls back a newer local write.

The adopted revision is handed to ``RevisionFollower`` (``revision_follow.py``): applying it
needs the commit (git) and validation, which do not belong in this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from homeport.clients.etcd import EtcdClient, EtcdCompacted, EtcdError, KeyValue, WatchEvent
from homeport.controller.clock import Clock
from homeport.controller.store import SharedKey, Store
from homeport.kinds import ObjectStatus
from homeport.services.ha.keys import Keyspace
from homeport.services.ha.replica import EtcdReplica

log = logging.getLogger(__name__)


class SharedStateFollower:
    def __init__(
        self,
        *,
        client: EtcdClient,
        keys: Keyspace,
        store: Store,
        replica: EtcdReplica,
        clock: Clock,
        on_leader_key: Callable[[], None],
        on_adopted: Callable[[dict[str, Any] | None], None],
        on_approvals: Callable[[], None],
        on_object: Callable[[tuple[str, str]], None] = lambda key: None,
    ) -> None:
        self.on_object = on_object
        """A row about one object came from elsewhere (an operator's request): look at it."""
        self.client = client
        self.keys = keys
        self.store = store
        self.replica = replica
        self.clock = clock
        self.on_leader_key = on_leader_key
        self.on_adopted = on_adopted
        self.on_approvals = on_approvals

    async def run(self, stop: asyncio.Event, retry: float = 1.0) -> None:
        while not stop.is_set():
            try:
                revision = await self.resync()
                await self._watch(stop, revision)
            except EtcdCompacted:
                continue  # fell too far behind: read everything again
            except EtcdError as exc:
                log.debug("following the shared state paused: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry)

    async def _watch(self, stop: asyncio.Event, revision: int) -> None:
        while not stop.is_set():
            stream = self.client.watch(self.keys.root, start_revision=revision + 1)
            stopped = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    step = asyncio.ensure_future(anext(stream))
                    await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    if not step.done():
                        step.cancel()
                        await asyncio.gather(step, return_exceptions=True)
                        return
                    try:
                        batch_revision, events = step.result()
                    except StopAsyncIteration:
                        break  # idle or closed: watch again from where it stopped
                    self.apply_events(events)
                    revision = max(revision, batch_revision)
            finally:
                stopped.cancel()
                await stream.aclose()

    async def resync(self) -> int:
        """Read the whole shared state and make the local store match it; its revision."""
        kvs, revision = await self.client.range(self.keys.root, prefix=True)
        self.apply_snapshot(kvs, revision)
        return revision

    # -- applying -------------------------------------------------------------------------
    def apply_snapshot(self, kvs: list[KeyValue], revision: int) -> None:
        rows: dict[SharedKey, KeyValue] = {}
        for kv in kvs:
            key = self.keys.parse(kv.key)
            if key is not None:
                rows[key] = kv
        with self.store.link.paused():
            for table in ("memory", "alloc"):
                present = {k for k in rows if k[0] == table}
                for stale in self._local_keys(table) - present:
                    if self._newer_here(stale, revision):
                        continue
                    self._delete(stale)
            for key, kv in rows.items():
                if not self._newer_here(key, revision):
                    self._put(key, kv.json())
        adopted = rows.get(("source", "adopted"))
        if adopted is not None and not self._newer_here(("source", "adopted"), revision):
            self.on_adopted(adopted.json())

    def apply_events(self, events: list[WatchEvent]) -> None:
        for event in events:
            if event.kv.key == self.keys.leader:
                self.on_leader_key()
                continue
            key = self.keys.parse(event.kv.key)
            if key is None or self._newer_here(key, event.kv.mod_revision):
                continue
            with self.store.link.paused():
                if event.kind == "DELETE":
                    self._delete(key)
                else:
                    self._put(key, event.kv.json())
            if key == ("source", "adopted"):
                self.on_adopted(event.kv.json() if event.kind != "DELETE" else None)
            elif key[0] == "memory":
                self.on_object((str(key[1]).split(".")[0], str(key[2])))

    def _newer_here(self, key: SharedKey, revision: int) -> bool:
        return self.replica.written.get(self.keys.key(key), 0) >= revision

    def _local_keys(self, table: str) -> set[SharedKey]:
        if table == "memory":
            return {("memory", k, n) for k, n in self.store.memory.names()}
        return {("alloc", *k) for k in self.store.allocations.all()}

    def _put(self, key: SharedKey, value: Any) -> None:
        table, *parts = key
        try:
            apply = _PUT[str(table)]
        except KeyError:
            return  # a table of a newer homeport: not ours to read
        apply(self, [str(p) if not isinstance(p, int) else p for p in parts], value)

    def _delete(self, key: SharedKey) -> None:
        table, *parts = key
        store = self.store
        if table == "memory":
            store.memory.forget(str(parts[0]), str(parts[1]))
        elif table == "alloc":
            store.allocations.release(str(parts[0]), str(parts[1]), str(parts[2]))

    # -- one row per table ----------------------------------------------------------------
    def _memory(self, parts: list[Any], value: Any) -> None:
        self.store.memory.set(parts[0], parts[1], dict(value or {}), now=self._now())

    def _alloc(self, parts: list[Any], value: Any) -> None:
        pool, kind, name = parts
        allocations = self.store.allocations
        if allocations.get(pool, kind, name) == value["value"]:
            return
        allocations.release(pool, kind, name)
        self.store.db.execute(  # whoever held the value here before lost it in etcd already
            "DELETE FROM allocations WHERE pool = ? AND value = ?", [pool, value["value"]]
        )
        allocations.put(pool, kind, name, int(value["value"]), at=str(value["at"]))

    def _journal(self, parts: list[Any], value: Any) -> None:
        self.store.journal.merge(dict(value))

    def _failover(self, parts: list[Any], value: Any) -> None:
        self.store.failovers.upsert(parts[0], int(parts[1]), dict(value or {}))

    def _status(self, parts: list[Any], value: Any) -> None:
        if self.store.objects.get((parts[0], parts[1])) is not None:
            status = ObjectStatus.model_validate(value)
            self.store.objects.set_status((parts[0], parts[1]), status, self.clock.now())

    def _prune(self, parts: list[Any], value: Any) -> None:
        if self.store.objects.get((parts[0], parts[1])) is None and isinstance(value, dict):
            self.store.objects.insert_deleting(value, revision="", now=self.clock.now())

    def _source(self, parts: list[Any], value: Any) -> None:
        if parts in (["approvals"], ["reverify"]):
            # An operator's request for the revision sync (``homeport approve``,
            # ``homeport reconcile --reverify``): whoever leads acts on it.
            self.store.source_state.set(parts[0], value)
            self.on_approvals()
        elif parts == ["held"]:  # what ``homeport approve`` may approve on this plane
            self.store.source_state.set("held", value)
        # "adopted" goes through the RevisionFollower: objects first, then the record.

    def _now(self) -> str:
        return self.clock.now().isoformat()


_PUT: dict[str, Callable[[SharedStateFollower, list[Any], Any], None]] = {
    "memory": SharedStateFollower._memory,
    "alloc": SharedStateFollower._alloc,
    "journal": SharedStateFollower._journal,
    "failover": SharedStateFollower._failover,
    "status": SharedStateFollower._status,
    "prune": SharedStateFollower._prune,
    "source": SharedStateFollower._source,
}
