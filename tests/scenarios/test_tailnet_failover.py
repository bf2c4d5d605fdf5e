"""A failover keeps a tailnet-only route on the tailnet listener: the pair rewrites the
route (cut, then the new primary) in the block it lives in, never in the public one."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from testkit.harness import EstateHarness, until
from testkit.traffic import Traffic
from tests.scenarios.test_failover_scenarios import ESTATE, Scenario

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
HOST = "shop.lab.internal"


async def test_a_failover_keeps_a_tailnet_route_off_the_public_listener(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(ESTATE, manifests)
    estate = manifests / "estate.yaml"
    route = "spec: {host: shop.example.com, standbyPair: shop}"
    assert route in estate.read_text()
    estate.write_text(
        estate.read_text().replace(
            route, f"spec: {{host: {HOST}, standbyPair: shop, exposure: tailnet}}"
        )
    )
    async with EstateHarness.running(tmp_path, manifests=manifests) as h:
        await h.converged(timeout=60)
        endpoints = h.estate.endpoints()["caddy"]
        pair = Scenario(h, Traffic(endpoints["tailnet"] + "/", HOST))
        await until(
            lambda: bool(pair.memory().get("established")), timeout=30, what="pair established"
        )
        # The same host asked on the public listener for the whole test: never routed.
        leak = Traffic(endpoints["public"] + "/", HOST)
        stop = asyncio.Event()
        task = asyncio.create_task(pair.traffic.run(stop))
        leak_task = asyncio.create_task(leak.run(stop))
        try:
            await until(lambda: len(pair.traffic.samples) > 5, what="traffic")
            vmid, _ = pair.vm("shop-a")
            crashed = time.monotonic()
            await h.estate.guests.crash_vm(vmid)
            await pair.wait_promoted()
            await pair.wait_healthy()
        finally:
            stop.set()
            await task
            await leak_task
        assert leak.samples and {s.status for s in leak.samples} == {404}
        pair.check_traffic(crashed)
        assert pair.traffic.samples[-1].app == "homeport-shop-b"
        assert await h.clients.caddy.route_exposure("homeport-route-shop") == "tailnet"
