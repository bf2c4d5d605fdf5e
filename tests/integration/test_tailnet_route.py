"""A tailnet-only ProxyRoute on the simulator + real Caddy, through the daemon.

The route answers on the router's tailnet address (the simulator's loopback stand-in) and
not on the public listener; a converged estate costs Caddy zero mutating calls; made
public, the route moves to the public listener.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration

ESTATE = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: dell}
spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536, storageGiB: 500}}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: gateway}
spec: {machine: dell, cores: 1, memoryMiB: 1024}
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {name: gateway}
spec:
  vm: gateway
  source: {repo: "https://git.example.com/edge/shop.git", ref: main}
  execStart: /usr/bin/python3 app.py
  port: 8080
---
apiVersion: homeport.dev/v1alpha1
kind: ProxyRoute
metadata: {name: gateway}
spec: {host: EXPOSED_HOST, app: gateway, exposure: EXPOSURE}
"""
KINDS = {"Machine", "VM", "App", "ProxyRoute"}


async def answer(base: str, host: str) -> int:
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        return (await client.get(f"{base}/", headers={"Host": host})).status_code


def estate(host: str, exposure: str) -> str:
    return ESTATE.replace("EXPOSED_HOST", host).replace("EXPOSURE", exposure)


async def test_tailnet_route_is_served_only_on_the_tailnet_address(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "gateway.yaml").write_text(estate("gateway.lab.internal", "tailnet"))
    async with EstateHarness.running(tmp_path, manifests=manifests) as h:
        await h.settled(KINDS, timeout=120)
        endpoints = h.estate.endpoints()["caddy"]
        assert await answer(endpoints["tailnet"], "gateway.lab.internal") == 200
        assert await answer(endpoints["public"], "gateway.lab.internal") == 404

        caddy = h.clients.caddy
        before = caddy.stats.snapshot()
        assert h.daemon is not None and h.daemon.engine is not None
        h.daemon.engine.enqueue_all()
        await until(lambda: not h.daemon.engine.queue.busy(), what="a full resync")  # type: ignore[union-attr]
        await asyncio.sleep(0.5)
        assert caddy.stats.snapshot().minus(before).mutations == {}

        # Made public (under a public name): the route leaves the tailnet listener.
        await h.push({"manifests/gateway.yaml": estate("gateway.example.com", "public")}, "public")
        await until(
            lambda: h.object("ProxyRoute", "gateway").status.details.get("exposure") == "public",
            timeout=60,
            what="the route made public",
        )  # type: ignore[union-attr]
        await h.settled(KINDS, timeout=60)
        assert await answer(endpoints["public"], "gateway.example.com") == 200
        assert await answer(endpoints["tailnet"], "gateway.example.com") == 404
