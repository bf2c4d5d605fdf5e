"""A route that is there is written by its ``@id`` (``CaddyClient._rewrite``), against a
real Caddy 2.6: no read of every route (hashed for its ETag on 2.6) per route written;
and the careful way whenever writing by id could miss or land elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from homeport.clients.caddy import CaddyClient, CaddySettings
from homeport.clients.caddy_config import CATCH_ALL_ID
from homeport.simulator.caddy_process import CaddyProcess, free_port

from .conftest import LosingFirstAnswer, Upstream, serve_upstream
from .test_caddy import admin_routes, get, internal_tls, route_to

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(caddy: CaddyProcess) -> AsyncIterator[tuple[CaddyClient, int]]:
    """A client whose HTTPS server has Caddy's internal CA: a TLS policy to keep."""
    settings, _, http_port = internal_tls(caddy)
    async with CaddyClient(settings) as made:
        await made.ensure_server()
        yield made, http_port


async def admin(caddy: CaddyProcess, method: str, path: str, body: object = None) -> Any:
    async with httpx.AsyncClient(base_url=caddy.admin_url, trust_env=False) as http:
        response = await http.request(method, path, json=body)
        assert response.status_code == 200, response.text
        return response.json() if response.content.strip() else None


async def subjects(caddy: CaddyProcess) -> list[str]:
    policies = await admin(caddy, "GET", "/config/apps/tls/automation/policies")
    return sorted(s for p in policies if p.get("@id") == "homeport-tls" for s in p["subjects"])


async def test_a_changed_upstream_is_one_write_by_id_and_no_route_list_read(
    client: tuple[CaddyClient, int], caddy: CaddyProcess, upstream: Upstream
) -> None:
    caddy_client, _ = client
    for name in ("a", "b", "c"):
        await caddy_client.upsert_route(route_to(upstream, name=name, host=f"{name}.test"))
    async with serve_upstream("upstream-2") as second:
        before = caddy_client.stats.snapshot()
        assert await caddy_client.upsert_route(route_to(second, name="b", host="b.test"))
        spent = caddy_client.stats.snapshot().minus(before)
        assert spent.reads == {"GET servers": 1}  # no route list, no TLS policy read
        assert spent.mutations == {"PATCH route": 1}
        # With the caller's fresh read (the ProxyRoute reconciler's), not even that.
        seen = await caddy_client.routes_seen()
        before = caddy_client.stats.snapshot()
        assert await caddy_client.upsert_route(
            route_to(upstream, name="b", host="b.test"), seen=seen
        )
        spent = caddy_client.stats.snapshot().minus(before)
        assert spent.reads == {} and spent.mutations == {"PATCH route": 1}
        assert await caddy_client.upsert_route(route_to(second, name="b", host="b.test"))
        route = await caddy_client.get_route("homeport-route-b")
        assert route == route_to(second, name="b", host="b.test")
    ids = [r.get("@id") for r in await admin_routes(caddy)]
    assert ids == [f"homeport-route-{n}" for n in "abc"] + [CATCH_ALL_ID]  # in place
    assert await subjects(caddy) == ["a.test", "b.test", "c.test"]


async def test_a_changed_host_moves_its_certificate_subject(
    client: tuple[CaddyClient, int], caddy: CaddyProcess, upstream: Upstream
) -> None:
    caddy_client, http_port = client
    for name in ("a", "b"):
        await caddy_client.upsert_route(route_to(upstream, name=name, host=f"{name}.test"))
    before = caddy_client.stats.snapshot()
    assert await caddy_client.upsert_route(route_to(upstream, name="a", host="z.test"))
    spent = caddy_client.stats.snapshot().minus(before)
    assert "GET routes" not in spent.reads  # no If-Match: no ETag to hash
    # The subject before the route (certificates from homeport's issuer from the first
    # try), the old one dropped after it.
    assert spent.mutations == {"PATCH tls": 2, "PATCH route": 1}
    assert await subjects(caddy) == ["b.test", "z.test"]
    assert (await get(http_port, "z.test")).status_code == 308  # HTTP redirects to HTTPS
    assert [r.get("@id") for r in await admin_routes(caddy)] == [
        "homeport-route-a",
        "homeport-route-b",
        CATCH_ALL_ID,
    ]


async def test_a_copy_outside_homeports_servers_is_never_written(
    client: tuple[CaddyClient, int], caddy: CaddyProcess, upstream: Upstream
) -> None:
    """An id Caddy might resolve to another server's copy: written at its index in
    homeport's server (the careful way), the copy left as it was."""
    caddy_client, _ = client
    await caddy_client.upsert_route(route_to(upstream, name="a", host="a.test"))
    copy = route_to(upstream, name="a", host="a.test")
    other = {"listen": [f"127.0.0.1:{free_port()}"], "routes": [copy]}
    await admin(caddy, "PUT", "/config/apps/http/servers/by-hand", other)
    async with serve_upstream("upstream-2") as second:
        changed = route_to(second, name="a", host="a.test")
        before = caddy_client.stats.snapshot()
        assert await caddy_client.upsert_route(changed)
        spent = caddy_client.stats.snapshot().minus(before)
    assert spent.mutations == {"PATCH route": 1} and "GET routes" in spent.reads
    assert (await admin_routes(caddy))[0] == changed
    assert await admin_routes(caddy, "by-hand") == [copy]


async def test_a_route_removed_after_the_read_is_inserted_again(
    client: tuple[CaddyClient, int], caddy: CaddyProcess, upstream: Upstream
) -> None:
    caddy_client, _ = client
    await caddy_client.upsert_route(route_to(upstream, name="a", host="a.test"))
    await caddy_client.upsert_route(route_to(upstream, name="b", host="b.test"))
    seen = await caddy_client.routes_seen()
    await admin(caddy, "DELETE", "/id/homeport-route-a")  # by hand, after homeport's read
    async with serve_upstream("upstream-2") as second:
        changed = route_to(second, name="a", host="a.test")
        assert await caddy_client.upsert_route(changed, seen=seen)
        assert await caddy_client.verify_route(changed)
    ids = [r.get("@id") for r in await admin_routes(caddy)]
    assert ids == ["homeport-route-b", "homeport-route-a", CATCH_ALL_ID]


async def test_a_write_by_id_whose_answer_is_lost_is_checked_on_a_fresh_read(
    caddy: CaddyProcess, upstream: Upstream
) -> None:
    """Caddy applied the PATCH but its answer never came: the careful way reads again,
    finds the route as written, writes nothing more, and reports the change."""
    losing = LosingFirstAnswer(lambda r: r.method == "PATCH" and r.url.path.startswith("/id/"))

    settings = CaddySettings(
        admin_url=caddy.admin_url, tls="off", http_listen=(f"127.0.0.1:{free_port()}",)
    )
    async with CaddyClient(settings, transport=losing) as caddy_client:
        await caddy_client.ensure_server()
        await caddy_client.upsert_route(route_to(upstream, name="a", host="a.test"))
        changed = route_to(upstream, name="a", host="a.test", epoch=4)
        before = caddy_client.stats.snapshot()
        assert await caddy_client.upsert_route(changed)
        spent = caddy_client.stats.snapshot().minus(before)
    assert losing.lost and spent.mutations == {"PATCH route": 1}
    assert [r.get("@id") for r in await admin_routes(caddy)] == ["homeport-route-a", CATCH_ALL_ID]
    assert (await admin_routes(caddy))[0] == changed
