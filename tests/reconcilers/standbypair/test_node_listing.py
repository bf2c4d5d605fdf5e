"""The StandbyPair observes its members' nodes from ``/cluster/resources``. When that
listing fails the nodes' state is unknown (``node_online is None``) — before, every node
counted as online; and only a client error is an observation failure: a bug propagates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.clients.bundle import Clients
from homeport.clients.errors import Unreachable
from homeport.clients.proxmox_models import ClusterResources, NodeResource
from homeport.controller.clock import FakeClock
from homeport.controller.context import ControllerContext
from homeport.controller.store import DesiredObject, Store
from homeport.kinds import ObjectStatus, StandbyPair
from homeport.reconcilers.standbypair.observe import observe_pair
from homeport.source.validate import validate_sources

ROOT = Path(__file__).parents[3]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Proxmox:
    """Answers ``cluster_resources`` with ``answer``; every other call is unreachable."""

    def __init__(self, answer: Callable[[], ClusterResources]) -> None:
        self.answer = answer

    async def cluster_resources(self) -> ClusterResources:
        return self.answer()

    def __getattr__(self, name: str) -> Any:
        raise Unreachable(0, f"{name}: connection refused")


def _down() -> ClusterResources:
    raise Unreachable(0, "connection refused")


def _bug() -> ClusterResources:
    raise TypeError("a parser bug")


def _pve1(status: str) -> Callable[[], ClusterResources]:
    node = NodeResource(node="pve1", status=status, maxcpu=8, maxmem=1, maxdisk=1)
    return lambda: ClusterResources(nodes=(node,))


async def observe(tmp_path: Path, answer: Callable[[], ClusterResources]) -> Any:
    store = Store.open(tmp_path / "state.db")
    files = [
        (str(p), p.read_bytes())
        for p in (ROOT / "manifests/apps/shop.yaml", ROOT / "manifests/machines/machines.yaml")
    ]
    result = validate_sources(files)
    assert result.ok, [e.render() for e in result.errors]
    store.objects.apply_revision(
        "rev1", [DesiredObject(o.resource, o.file, o.line) for o in result.objects], NOW
    )
    store.objects.set_status(("VM", "shop-a"), ObjectStatus(details={"node": "pve1"}), NOW)
    base = ControllerContext(
        store=store, clock=FakeClock(), clients=Clients(proxmox=Proxmox(answer))
    )
    pair = store.objects.get(("StandbyPair", "shop"))
    assert pair is not None
    desired = pair.resource()
    assert isinstance(desired, StandbyPair)
    return await observe_pair(desired, base.for_object(pair.key), {}, 22)


async def test_a_failed_node_listing_is_unknown_not_online(tmp_path: Path) -> None:
    observed = await observe(tmp_path, _down)
    assert observed.primary.node == "pve1"
    assert observed.primary.node_online is None


@pytest.mark.parametrize(("status", "online"), [("online", True), ("offline", False)])
async def test_a_listed_node_is_as_listed(tmp_path: Path, status: str, online: bool) -> None:
    observed = await observe(tmp_path, _pve1(status))
    assert observed.primary.node_online is online


async def test_a_bug_is_not_an_observation_failure(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="a parser bug"):
        await observe(tmp_path, _bug)
