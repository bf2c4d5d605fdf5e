"""``homeport reconcile --reverify`` with several control planes: the request goes to etcd
(as approvals do) and reaches whichever plane leads, against a real etcd cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homeport.clients.etcd import EtcdClient, EtcdSettings, EtcdSyncClient
from homeport.controller.clock import FakeClock
from homeport.controller.revisions import request_reverify
from homeport.controller.source_keys import REVERIFY
from homeport.controller.store import Store
from homeport.services.ha.follow import SharedStateFollower
from homeport.services.ha.keys import Keyspace
from homeport.services.ha.replica import EtcdReplica
from testkit.ha.etcd_cluster import EtcdCluster

pytestmark = pytest.mark.integration
KEYS = Keyspace("/test")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[EtcdCluster]:
    async with EtcdCluster.running(tmp_path / "etcd") as running:
        yield running


async def test_a_reverify_request_reaches_the_other_planes(
    cluster: EtcdCluster, tmp_path: Path
) -> None:
    settings = EtcdSettings(tuple(cluster.endpoints))
    sync, client = EtcdSyncClient(settings), EtcdClient(settings)
    operator, leader = Store.open(tmp_path / "cp1.db"), Store.open(tmp_path / "cp2.db")
    woken: list[str] = []
    try:
        # The CLI writes unfenced, as ``operator_writes`` does.
        operator.replicate_to(EtcdReplica(sync, KEYS, None))
        request_reverify(operator, "2026-01-01T00:00:00+00:00")
        follower = SharedStateFollower(
            client=client,
            keys=KEYS,
            store=leader,
            replica=EtcdReplica(sync, KEYS, None),
            clock=FakeClock(),
            on_leader_key=lambda: None,
            on_adopted=lambda adopted: None,
            on_approvals=lambda: woken.append("sync"),
        )
        await follower.resync()
        assert leader.source_state.get(REVERIFY) == "2026-01-01T00:00:00+00:00"
        assert woken == ["sync"]  # the revision sync is woken to act on it
    finally:
        operator.replicate_to(None)
        operator.close()
        leader.close()
        sync.close()
        await client.close()
