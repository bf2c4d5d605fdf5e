"""A StandbyPair whose Apps deploy a release artifact: the pair converges and replicates
(data, not code); a new artifact checksum reaches the standby first and the primary only
after the standby runs it; a primary crash promotes the standby, which serves the same
artifact release."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.controller.store import Store
from testkit.harness import EstateHarness, until
from tests.artifact_server import ArtifactServer, serve_artifacts, sha256_of, tarball

pytestmark = pytest.mark.integration

PAIR_ESTATE = Path(__file__).parents[2] / "scenarios" / "pair_estate" / "estate.yaml"
GIT = '{repo: "https://git.example.com/edge/shop.git"}'


def estate(url: str, sha: str) -> str:
    text = PAIR_ESTATE.read_text()
    assert text.count(GIT) == 2
    return text.replace(GIT, f'{{artifact: {{url: "{url}", sha256: "{sha}"}}}}')


def publish(server: ArtifactServer, path: str, version: str) -> str:
    body = tarball({"VERSION": f"{version}\n"})
    server.files[path] = body
    return sha256_of(body)


def release_of(h: EstateHarness, app: str) -> Any:
    obj = h.object("App", app)
    return None if obj is None else obj.status.details.get("release")


def first_step(h: EstateHarness, app: str, sha: str, verb: str) -> int:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        entries = store.journal.entries()
    finally:
        store.close()
    return min(
        e.id
        for e in entries
        if (e.kind, e.name) == ("App", app) and e.verb == verb and sha[:12] in e.description
    )


async def served_by(h: EstateHarness, app: str, timeout: float = 60) -> httpx.Response:
    """The route's answer once ``app`` serves it (the reroute follows the promotion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await h.through_caddy("shop.example.com")
        if response.status_code == 200 and response.json()["app"] == app:
            return response
        if loop.time() > deadline:
            raise AssertionError(f"{app} never served the route: {response.status_code}")
        await asyncio.sleep(0.1)


def pair_memory(h: EstateHarness) -> dict[str, Any]:
    return h.pair_memory("shop")


async def test_a_pair_of_artifact_apps_rolls_standby_first_and_fails_over(tmp_path: Path) -> None:
    async with serve_artifacts() as server:
        first = publish(server, "/shop-1.tar", "1")
        manifests = tmp_path / "pair-manifests"
        manifests.mkdir()
        (manifests / "estate.yaml").write_text(estate(f"{server.url}/shop-1.tar", first))
        async with EstateHarness.running(tmp_path, manifests=manifests) as h:
            await h.converged(timeout=90)
            await until(lambda: bool(pair_memory(h).get("established")), what="pair established")
            assert release_of(h, "shop-a") == release_of(h, "shop-b") == first

            second = publish(server, "/shop-2.tar", "2")
            await h.push({"manifests/estate.yaml": estate(f"{server.url}/shop-2.tar", second)})
            await until(
                lambda: release_of(h, "shop-a") == second and release_of(h, "shop-b") == second,
                timeout=90,
                what="both on the second artifact",
            )
            # Standby first: the primary fetched only after the standby had switched.
            switched = first_step(h, "shop-b", second, "switch-release")
            assert switched < first_step(h, "shop-a", second, "fetch")
            assert server.downloads["/shop-2.tar"] == 2  # once per VM

            vmid = int(h.object("VM", "shop-a").status.details["vmid"])  # type: ignore[union-attr]
            await h.estate.guests.crash_vm(vmid)  # type: ignore[union-attr]
            await until(lambda: pair_memory(h).get("epoch") == 2, timeout=60, what="promoted")
            response = await served_by(h, "homeport-shop-b")
            assert response.json()["release"] == second
