"""What a newly elected leader does before it acts: pick up exactly where the last one stopped.

1. Read the whole shared state into the local store (``follow.py``): reconcilers' memory
   (a StandbyPair's epoch, phase and quarantine), allocations, failover records, pending
   prunes, status, the journal.
2. Apply the adopted revision (``revision_follow.py``), fetching the commit from the peers
   when needed. A leader that cannot must not act on an older desired state: the error
   makes it resign (``leadership.py``) so that another control plane leads.
3. Mark the journal's in-flight intents of earlier leaders ``interrupted`` — a fenced write,
   so only while this daemon still leads — and reconcile their objects first: observe and
   plan decide what still needs doing, so nothing that was done is done again.
4. Forget which source head was seen last (adoption looks afresh) and queue every object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from homeport.clients.etcd import EtcdClient
from homeport.controller.clock import Clock
from homeport.controller.source_keys import LAST_SEEN
from homeport.controller.store import Key, Store
from homeport.services.ha.follow import SharedStateFollower
from homeport.services.ha.keys import Keyspace
from homeport.services.ha.replica import EtcdReplica
from homeport.services.ha.revision_follow import RevisionFollower

log = logging.getLogger(__name__)
KEEP_JOURNAL = 500
"""Finished journal entries kept in etcd (the local stores keep their whole history)."""


class TakeOver:
    def __init__(
        self,
        *,
        client: EtcdClient,
        keys: Keyspace,
        store: Store,
        replica: EtcdReplica,
        follower: SharedStateFollower,
        revisions: RevisionFollower,
        clock: Clock,
        enqueue: Callable[[list[Key]], None],
        wake_sync: Callable[[], None],
    ) -> None:
        self.client = client
        self.keys = keys
        self.store = store
        self.replica = replica
        self.follower = follower
        self.revisions = revisions
        self.clock = clock
        self.enqueue = enqueue
        self.wake_sync = wake_sync

    async def __call__(self, token: int) -> None:
        await self.follower.resync()
        if self.revisions.wanted is not None:
            await self.revisions.apply(self.revisions.wanted)
        interrupted = await self.interrupt_in_flight(token)
        self.store.source_state.set(LAST_SEEN, None)
        await self.trim_journal()
        self.enqueue(interrupted)
        self.wake_sync()

    async def interrupt_in_flight(self, token: int) -> list[Key]:
        """Intents earlier leaders left open: now ``interrupted``; their objects."""
        kvs, _ = await self.client.range(self.keys.table("journal"), prefix=True)
        keys: list[Key] = []
        now = self.clock.now().isoformat()
        for kv in kvs:
            entry = kv.json() or {}
            if entry.get("state") != "intent" or entry.get("fencing_token") == token:
                continue
            entry.update(state="interrupted", finished_at=now)
            shared = self.keys.parse(kv.key)
            assert shared is not None
            self.replica.put(shared, entry)
            with self.store.link.paused():
                self.store.journal.merge(entry)
            log.warning(
                "action left in flight by %s (token %s): %s %s/%s %s",
                entry.get("holder"),
                entry.get("fencing_token"),
                entry.get("verb"),
                entry.get("kind"),
                entry.get("name"),
                entry.get("description"),
            )
            keys.append((str(entry["kind"]), str(entry["name"])))
        return keys

    async def trim_journal(self, keep: int = KEEP_JOURNAL) -> int:
        """Drop the oldest finished entries beyond ``keep`` from etcd; how many."""
        kvs, _ = await self.client.range(self.keys.table("journal"), prefix=True)
        finished = [kv for kv in kvs if (kv.json() or {}).get("state") != "intent"]
        dropped = 0
        for kv in finished[: max(0, len(finished) - keep)]:
            shared = self.keys.parse(kv.key)
            if shared is not None:
                self.replica.delete(shared, required=False)
                dropped += 1
        return dropped
