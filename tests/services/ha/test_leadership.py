"""EtcdLeadership and the fenced replica against a real 3-member etcd cluster on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homeport.clients.etcd import EtcdClient, EtcdSettings, EtcdSyncClient
from homeport.controller.clock import SystemClock
from homeport.services.ha.keys import Keyspace
from homeport.services.ha.leadership import EtcdLeadership
from homeport.services.ha.replica import EtcdReplica, FencedOut
from testkit.ha.etcd_cluster import EtcdCluster
from testkit.harness import until

pytestmark = pytest.mark.integration
KEYS = Keyspace("/test")


@contextlib.asynccontextmanager
async def leading(
    cluster: EtcdCluster, name: str, *, ttl: float = 2.0, renew: float = 0.5
) -> AsyncIterator[EtcdLeadership]:
    client = EtcdClient(EtcdSettings(tuple(cluster.endpoints), timeout=0.5))
    leadership = EtcdLeadership(
        client, KEYS, SystemClock(), holder=name, ttl=ttl, renew_interval=renew
    )
    stop = asyncio.Event()
    task = asyncio.create_task(leadership.run(stop))
    try:
        yield leadership
    finally:
        stop.set()
        await task
        await client.close()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[EtcdCluster]:
    async with EtcdCluster.running(tmp_path / "etcd") as running:
        yield running


async def test_one_leader_fencing_token_is_the_keys_create_revision(cluster: EtcdCluster) -> None:
    async with leading(cluster, "a") as a:
        await until(a.is_leader, timeout=10, what="a leads")
        async with leading(cluster, "b") as b:
            await until(lambda: b.view is not None, timeout=10, what="b sees the leader")
            assert not b.is_leader()
            assert b.view is not None and b.view.token == a.token()
            client = EtcdClient(EtcdSettings(tuple(cluster.endpoints)))
            try:
                leader = await client.get(KEYS.leader)
            finally:
                await client.close()
            assert leader is not None and leader.create_revision == a.token()
            first = a.token()
            await asyncio.sleep(1.5)  # several renewals: leadership holds, token unchanged
            assert a.is_leader() and a.token() == first and not b.is_leader()
        # b resigned cleanly; a still leads
        assert a.is_leader()


async def test_clean_stop_hands_over_at_once_with_a_larger_token(cluster: EtcdCluster) -> None:
    async with leading(cluster, "a", ttl=6.0, renew=2.0) as a:
        await until(a.is_leader, timeout=10, what="a leads")
        first = a.token()
        async with leading(cluster, "b", ttl=6.0, renew=2.0) as b:
            await until(lambda: b.view is not None, timeout=10, what="b follows")
            assert not b.is_leader()
        # a leaves, revoking its lease: the next one need not wait the 6 s lease out
    async with leading(cluster, "c", ttl=6.0, renew=2.0) as c:
        await until(c.is_leader, timeout=5, what="c leads at once")
        assert c.token() > first


async def test_a_fenced_out_leader_cannot_write_even_while_its_clock_says_it_leads(
    cluster: EtcdCluster,
) -> None:
    sync = EtcdSyncClient(EtcdSettings(tuple(cluster.endpoints)))
    try:
        async with leading(cluster, "a", ttl=10.0, renew=2.0) as a:
            await until(a.is_leader, timeout=10, what="a leads")
            replica = EtcdReplica(sync, KEYS, a)
            replica.put(("memory", "StandbyPair", "shop"), {"epoch": 2})
            # Another daemon takes the key (as after a's lease expired while it was paused).
            client = EtcdClient(EtcdSettings(tuple(cluster.endpoints)))
            try:
                await client.delete(KEYS.leader)
                await client.put(KEYS.leader, {"holder": "b"})
                assert a.fencing_token() is not None  # a's own clock has not noticed yet
                with pytest.raises(FencedOut):
                    replica.put(("memory", "StandbyPair", "shop"), {"epoch": 3})
                stored = await client.get(KEYS.key(("memory", "StandbyPair", "shop")))
            finally:
                await client.close()
            assert stored is not None and stored.json() == {"epoch": 2}
            await until(lambda: not a.is_leader(), timeout=5, what="a notices")
    finally:
        sync.close()


async def test_a_leader_that_cannot_renew_stops_acting_before_its_lease_expires(
    cluster: EtcdCluster,
) -> None:
    async with leading(cluster, "a", ttl=4.0, renew=1.0) as a:
        await until(a.is_leader, timeout=10, what="a leads")
        for member in cluster.members:
            cluster.stop(member, sig=signal.SIGKILL)
        expiry = a.lease_expires_at()
        await until(lambda: not a.is_leader(), timeout=5, what="self-fencing")
        # It stopped acting while the lease it last renewed was still alive.
        assert SystemClock().monotonic() < expiry
        assert a.lease_expires_at() == expiry  # no renewal got through
        assert a.problem is not None and "etcd unavailable" in a.problem


class SkewedClock(SystemClock):
    """The system clock, moved forward by hand: a renewal that is late by ``skew``."""

    def __init__(self) -> None:
        self.skew = 0.0

    def monotonic(self) -> float:
        return super().monotonic() + self.skew


async def test_a_late_keepalive_is_made_up_before_acting(cluster: EtcdCluster) -> None:
    client = EtcdClient(EtcdSettings(tuple(cluster.endpoints), timeout=0.5))
    clock = SkewedClock()
    a = EtcdLeadership(client, KEYS, clock, holder="a", ttl=6.0, renew_interval=2.0)
    stop = asyncio.Event()
    task = asyncio.create_task(a.run(stop))
    try:
        await until(a.is_leader, timeout=10, what="a leads")
        first = a.token()
        clock.skew = 4.5  # inside the renewal margin, the lease still alive
        assert not a.is_leader()
        assert await a.confirm()  # one keepalive now, not a false change of leader
        assert a.is_leader() and a.token() == first
        clock.skew = 60.0  # long past the lease: never confirmed on the way to an action
        assert not await a.confirm()
    finally:
        stop.set()
        await task
        await client.close()
