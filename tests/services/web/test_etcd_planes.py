"""The page's etcd section comes from a real etcd cluster, read off the event loop: every
member with its health, and a member that went down shown as down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.controller.config import Settings
from homeport.services.web.planes import PlanesView
from testkit.ha.etcd_cluster import EtcdCluster
from testkit.harness import until

pytestmark = pytest.mark.integration


def etcd_settings(tmp_path: Path, endpoints: list[str]) -> Settings:
    return Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "state.db")},
            "source": {"directory": str(tmp_path)},
            "coordination": {"backend": "etcd", "endpoints": endpoints, "timeout": 0.5},
        }
    )


async def test_the_members_are_read_from_etcd_and_refreshed(tmp_path: Path) -> None:
    async with EtcdCluster.running(tmp_path / "etcd", size=3) as cluster:
        view = PlanesView(etcd_settings(tmp_path, cluster.endpoints), refresh=0.2)
        stop = asyncio.Event()
        task = asyncio.create_task(view.run(stop))
        try:
            await until(lambda: view() is not None, timeout=20, what="the first read")
            first = view()
            assert first is not None
            assert [m["healthy"] for m in first["members"]] == [True, True, True]
            assert (
                first["quorum"] is True
                and first["problem"]
                == "no control plane leads right now (a take-over may be under way)"
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_the_local_backend_reads_nothing(tmp_path: Path) -> None:
    settings = Settings.model_validate({"source": {"directory": str(tmp_path)}})
    view = PlanesView(settings)
    await asyncio.wait_for(view.run(asyncio.Event()), 1)  # returns at once
    assert view() is None
