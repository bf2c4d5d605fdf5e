"""``homeport approve`` on another control plane than the leader's, through a real etcd
cluster: the CLI's plane sees what the leader holds (a revision, a VM's destruction),
approves exactly that, and the leader's store gets the approval."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from homeport.clients.etcd import EtcdClient, EtcdSettings, EtcdSyncClient
from homeport.controller.approvals import NotHeld, approve, held_items
from homeport.controller.clock import SystemClock
from homeport.controller.source_keys import APPROVALS, HELD
from homeport.controller.store import Store
from homeport.services.ha.follow import SharedStateFollower
from homeport.services.ha.keys import Keyspace
from homeport.services.ha.replica import EtcdReplica
from testkit.ha.etcd_cluster import EtcdCluster

pytestmark = pytest.mark.integration
KEYS = Keyspace("/approvals")
HELD_SHA = "2629140f8185e0d7c3a4b1f9e6d2c8a7b5e4f3d2"
NOW = "2026-01-01T00:00:00+00:00"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[EtcdCluster]:
    async with EtcdCluster.running(tmp_path / "etcd") as running:
        yield running


class Plane:
    """One control plane's store, writing its shared rows to etcd, and reading them back."""

    def __init__(self, cluster: EtcdCluster, path: Path) -> None:
        settings = EtcdSettings(tuple(cluster.endpoints), timeout=2.0)
        self.sync_client = EtcdSyncClient(settings)
        self.client = EtcdClient(settings)
        self.store = Store.open(path)
        self.replica = EtcdReplica(self.sync_client, KEYS, None)
        self.follower = SharedStateFollower(
            client=self.client,
            keys=KEYS,
            store=self.store,
            replica=self.replica,
            clock=SystemClock(),
            on_leader_key=lambda: None,
            on_adopted=lambda adopted: None,
            on_approvals=lambda: None,
        )

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """As ``operator_writes`` does for the CLI: shared rows go to etcd too."""
        self.store.replicate_to(self.replica)
        try:
            yield
        finally:
            self.store.replicate_to(None)

    async def close(self) -> None:
        self.store.close()
        self.sync_client.close()
        await self.client.close()


async def test_an_approval_given_on_another_plane_reaches_the_leader(
    cluster: EtcdCluster, tmp_path: Path
) -> None:
    leader, other = Plane(cluster, tmp_path / "a.db"), Plane(cluster, tmp_path / "b.db")
    try:
        with leader.writing():  # what the leader's revision sync and VM reconciler record
            leader.store.source_state.set(
                HELD, {"sha": HELD_SHA, "reason": "MassPrune", "message": "3 of 4"}
            )
            leader.store.memory.set(
                "VM.removal",
                "db",
                {"since": NOW, "vmid": 1004, "held": True, "disks": ["scsi0=local-lvm:x"]},
                now=NOW,
            )
        await other.follower.resync()
        assert [h.id for h in held_items(other.store)] == [HELD_SHA, "VM/db"]
        with other.writing():
            with pytest.raises(NotHeld):
                approve(other.store, HELD_SHA[:12], by="ops", now=NOW)
            approve(other.store, HELD_SHA, by="ops", now=NOW)
            approve(other.store, "VM/db", by="ops", now=NOW)
        await leader.follower.resync()
        assert leader.store.source_state.get(APPROVALS) == [HELD_SHA]
        assert leader.store.memory.get("VM.destroy-approval", "db")["since"] == NOW
    finally:
        await leader.close()
        await other.close()
