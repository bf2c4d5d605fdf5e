"""CaddyClient against a real Caddy 2.6 with real upstreams: routes, ownership, TLS, 412s."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from homeport.clients.caddy import CaddyClient, CaddySettings
from homeport.clients.caddy_config import (
    CATCH_ALL_ID,
    RouteSpec,
    catch_all_route,
    reverse_proxy_route,
)
from homeport.clients.errors import CaddyError
from homeport.simulator.caddy_process import CaddyProcess, free_port

from .conftest import LosingFirstAnswer, Upstream, serve_upstream

pytestmark = pytest.mark.integration


@pytest.fixture
def http_port() -> int:
    return free_port()


@pytest.fixture
async def caddy_off(caddy: CaddyProcess, http_port: int) -> AsyncIterator[CaddyClient]:
    settings = CaddySettings(
        admin_url=caddy.admin_url, tls="off", http_listen=(f"127.0.0.1:{http_port}",)
    )
    async with CaddyClient(settings) as client:
        yield client


def route_to(
    upstream: Upstream, name: str = "shop", host: str = "shop.test", epoch: int | None = None
) -> dict[str, Any]:
    spec = RouteSpec(name=name, hosts=[host], upstreams=[upstream.dial], epoch=epoch)
    return reverse_proxy_route(spec)


async def get(port: int, host: str, path: str = "/") -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host})


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polling the world with a deadline
            await asyncio.sleep(0.05)


async def admin_routes(caddy: CaddyProcess, server: str = "homeport") -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=caddy.admin_url, trust_env=False) as client:
        response = await client.get(f"/config/apps/http/servers/{server}/routes")
        return list(response.json())


async def add_by_hand(caddy: CaddyProcess, route: dict[str, object], index: int | None) -> None:
    """Insert at ``index``, or append (``None``), as an operator would with curl."""
    async with httpx.AsyncClient(base_url=caddy.admin_url, trust_env=False) as client:
        path = "/config/apps/http/servers/homeport/routes"
        if index is None:
            response = await client.post(path, json=route)
        else:
            response = await client.put(f"{path}/{index}", json=route)
        assert response.status_code == 200, response.text


async def test_upserted_route_serves_and_converged_upsert_writes_nothing(
    caddy_off: CaddyClient, upstream: Upstream, http_port: int
) -> None:
    assert await caddy_off.ensure_server()
    assert not await caddy_off.ensure_server()
    assert (await get(http_port, "shop.test")).status_code == 404  # homeport's catch-all

    route = route_to(upstream, epoch=3)
    assert await caddy_off.upsert_route(route)
    answer = await get(http_port, "shop.test", "/cart")
    assert answer.text == "upstream-1 host=shop.test epoch=3 path=/cart"
    assert await caddy_off.verify_route(route)

    before = caddy_off.stats.snapshot()
    assert not await caddy_off.upsert_route(route)
    assert not await caddy_off.ensure_server()
    assert caddy_off.stats.snapshot().minus(before).total_mutations == 0


async def test_changed_route_is_patched_in_place(
    caddy_off: CaddyClient, caddy: CaddyProcess, upstream: Upstream, http_port: int
) -> None:
    await caddy_off.ensure_server()
    await caddy_off.upsert_route(route_to(upstream, name="a", host="a.test"))
    await caddy_off.upsert_route(route_to(upstream, name="b", host="b.test"))
    async with serve_upstream("upstream-2") as second:
        assert await caddy_off.upsert_route(route_to(second, name="a", host="a.test"))
        assert (await get(http_port, "a.test")).text.startswith("upstream-2")
    ids = [r.get("@id") for r in await admin_routes(caddy)]
    assert ids == ["homeport-route-a", "homeport-route-b", CATCH_ALL_ID]


async def test_unowned_routes_are_preserved(
    caddy_off: CaddyClient, caddy: CaddyProcess, upstream: Upstream, http_port: int
) -> None:
    await caddy_off.ensure_server()
    manual = {
        "@id": "hand-made",
        "match": [{"host": ["manual.test"]}],
        "handle": [{"handler": "static_response", "status_code": 200, "body": "by hand"}],
        "terminal": True,
    }
    anonymous = {
        "match": [{"host": ["anon.test"]}],
        "handle": [{"handler": "static_response", "status_code": 200, "body": "anon"}],
    }
    await add_by_hand(caddy, manual, 0)
    await caddy_off.upsert_route(route_to(upstream))
    await add_by_hand(caddy, anonymous, None)  # after the catch-all: unreachable until fixed
    assert (await get(http_port, "anon.test")).status_code == 404
    assert await caddy_off.ensure_server()  # moves the catch-all last again
    assert (await get(http_port, "anon.test")).text == "anon"

    await caddy_off.upsert_route(route_to(upstream, epoch=9))
    assert await caddy_off.delete_route("homeport-route-shop")
    assert not await caddy_off.delete_route("homeport-route-shop")
    routes = await admin_routes(caddy)
    assert routes == [manual, anonymous, catch_all_route()]
    assert (await get(http_port, "manual.test")).text == "by hand"
    assert await caddy_off.list_owned_routes() == []


async def test_refusing_to_touch_unowned_ids(caddy_off: CaddyClient) -> None:
    with pytest.raises(ValueError):
        await caddy_off.upsert_route({"@id": "hand-made", "handle": []})
    with pytest.raises(ValueError):
        await caddy_off.delete_route(CATCH_ALL_ID)


async def test_rejected_route_raises_and_keeps_the_old_config(
    caddy_off: CaddyClient, upstream: Upstream, http_port: int
) -> None:
    await caddy_off.ensure_server()
    good = route_to(upstream)
    await caddy_off.upsert_route(good)
    bad = {**good, "handle": [{"handler": "no_such_handler"}]}
    with pytest.raises(CaddyError) as caught:
        await caddy_off.upsert_route(bad)
    assert caught.value.status == 500
    assert "no_such_handler" in caught.value.message
    assert await caddy_off.get_route("homeport-route-shop") == good
    assert (await get(http_port, "shop.test")).text.startswith("upstream-1")


async def test_concurrent_change_between_read_and_write_is_retried(
    caddy: CaddyProcess, upstream: Upstream, http_port: int
) -> None:
    """A hand edit lands between homeport's read and write: 412, fresh read, success."""
    interfered = False

    class Interfering(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal interfered
            if request.method == "PUT" and "/routes/" in request.url.path and not interfered:
                interfered = True
                await add_by_hand(caddy, {"@id": "sneaky", "handle": []}, 0)
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    settings = CaddySettings(
        admin_url=caddy.admin_url, tls="off", http_listen=(f"127.0.0.1:{http_port}",)
    )
    async with CaddyClient(settings, transport=Interfering()) as client:
        await client.ensure_server()
        assert await client.upsert_route(route_to(upstream))
        retries = client.stats.snapshot()
    assert interfered
    ids = [r.get("@id") for r in await admin_routes(caddy)]
    assert ids == ["sneaky", "homeport-route-shop", CATCH_ALL_ID]
    assert retries.mutations["PUT route"] == 2  # the 412, then the retry


async def test_write_whose_answer_is_lost_is_redone_from_a_fresh_read(
    caddy: CaddyProcess, upstream: Upstream, http_port: int
) -> None:
    """Caddy applied the insert but the answer never came: no duplicate route, a change."""
    losing = LosingFirstAnswer(lambda r: r.method == "PUT" and "/routes/" in r.url.path)

    settings = CaddySettings(
        admin_url=caddy.admin_url, tls="off", http_listen=(f"127.0.0.1:{http_port}",)
    )
    async with CaddyClient(settings, transport=losing) as client:
        await client.ensure_server()
        assert await client.upsert_route(route_to(upstream))
    assert losing.lost
    ids = [r.get("@id") for r in await admin_routes(caddy)]
    assert ids == ["homeport-route-shop", CATCH_ALL_ID]


def internal_tls(caddy: CaddyProcess) -> tuple[CaddySettings, int, int]:
    """Settings for certificates from Caddy's local CA on fresh ports: (the settings, the
    HTTPS port, the HTTP port)."""
    https_port, http_port = free_port(), free_port()
    settings = CaddySettings(
        admin_url=caddy.admin_url,
        tls="internal",
        https_listen=(f"127.0.0.1:{https_port}",),
        http_listen=(f"127.0.0.1:{http_port}",),
    )
    return settings, https_port, http_port


async def test_internal_tls_serves_https_and_redirects_http(
    caddy: CaddyProcess, upstream: Upstream
) -> None:
    settings, https_port, http_port = internal_tls(caddy)
    async with CaddyClient(settings) as client:
        await client.ensure_server()
        await client.upsert_route(route_to(upstream, host="secure.test"))
        redirect = await get(http_port, "secure.test", "/x?y=1")
        assert redirect.status_code == 308
        assert redirect.headers["location"] == f"https://secure.test:{https_port}/x?y=1"

        root = caddy.data_dir / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        await eventually(lambda: asyncio.to_thread(root.exists))
        context = ssl.create_default_context(cafile=str(root))
        async with httpx.AsyncClient(verify=context, trust_env=False) as https:
            answer = await https.get(
                f"https://127.0.0.1:{https_port}/",
                headers={"Host": "secure.test"},
                extensions={"sni_hostname": "secure.test"},
            )
        assert answer.text.startswith("upstream-1 host=secure.test")

        assert await client.delete_route("homeport-route-shop")
    async with httpx.AsyncClient(base_url=caddy.admin_url, trust_env=False) as admin:
        policies = (await admin.get("/config/apps/tls/automation/policies")).json()
    assert policies == []  # homeport's policy went with its last host


async def get_at(address: str, port: int, host: str) -> httpx.Response | None:
    """GET ``/`` at ``address:port`` with ``Host: host``; ``None`` if nothing listens."""
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            return await client.get(f"http://{address}:{port}/", headers={"Host": host})
    except httpx.ConnectError:
        return None


async def test_tailnet_route_answers_only_on_the_tailnet_listener(
    caddy: CaddyProcess, upstream: Upstream, http_port: int
) -> None:
    tailnet = "127.0.0.2"  # the router's tailnet address (any loopback address on Linux)
    settings = CaddySettings(
        admin_url=caddy.admin_url,
        tls="off",
        http_listen=(f"127.0.0.1:{http_port}",),
        tailnet_listen=(f"{tailnet}:{http_port}",),
    )
    async with CaddyClient(settings) as client:
        assert client.serves("tailnet")
        route = route_to(upstream, host="chat.lab.internal")
        assert await client.upsert_route(route, "tailnet")
        on_tailnet = await get_at(tailnet, http_port, "chat.lab.internal")
        assert on_tailnet is not None and on_tailnet.text.startswith("upstream-1")
        on_public = await get_at("127.0.0.1", http_port, "chat.lab.internal")
        assert on_public is not None and on_public.status_code == 404
        assert await client.route_exposure("homeport-route-shop") == "tailnet"
        assert [r["@id"] for r in await client.list_owned_routes()] == ["homeport-route-shop"]

        before = client.stats.snapshot()
        assert not await client.upsert_route(route, "tailnet")
        assert not await client.ensure_server()
        assert client.stats.snapshot().minus(before).total_mutations == 0

        # Made public: it moves to the public listener and leaves the tailnet one.
        assert await client.upsert_route(route, "public")
        assert await client.route_exposure("homeport-route-shop") == "public"
        moved = await get_at(tailnet, http_port, "chat.lab.internal")
        assert moved is not None and moved.status_code == 404
        assert await client.delete_route("homeport-route-shop")
        assert await client.list_owned_routes() == []


async def test_tailnet_hosts_get_certificates_from_the_internal_ca(
    caddy: CaddyProcess, upstream: Upstream
) -> None:
    https_port, http_port = free_port(), free_port()
    settings = CaddySettings(
        admin_url=caddy.admin_url,
        tls="acme",
        acme_email="ops@example.com",
        https_listen=(f"127.0.0.1:{https_port}",),
        http_listen=(f"127.0.0.1:{http_port}",),
        tailnet_listen=(f"127.0.0.2:{https_port}",),
    )
    async with CaddyClient(settings) as client:
        await client.upsert_route(route_to(upstream, host="gw.lab.internal"), "tailnet")
        await client.upsert_route(route_to(upstream, name="web", host="www.example.com"))
        async with httpx.AsyncClient(base_url=caddy.admin_url, trust_env=False) as admin:
            policies = (await admin.get("/config/apps/tls/automation/policies")).json()
        by_id = {p["@id"]: p for p in policies}
        assert by_id["homeport-tls-tailnet"]["subjects"] == ["gw.lab.internal"]
        assert by_id["homeport-tls-tailnet"]["issuers"] == [{"module": "internal"}]
        assert by_id["homeport-tls"]["subjects"] == ["www.example.com"]
        assert by_id["homeport-tls"]["issuers"][0]["module"] == "acme"


async def test_without_a_tailnet_listener_a_tailnet_route_is_refused(
    caddy_off: CaddyClient, upstream: Upstream
) -> None:
    assert not caddy_off.serves("tailnet")
    with pytest.raises(ValueError, match="tailnet_listen"):
        await caddy_off.upsert_route(route_to(upstream), "tailnet")


async def test_one_read_answers_what_per_route_reads_do(
    caddy_off: CaddyClient, upstream: Upstream
) -> None:
    """``routes_seen`` (one ``GET`` of the servers) says of each route what ``get_route``
    and ``route_exposure`` say, on a Caddy without homeport's servers too."""
    before = caddy_off.stats.snapshot()
    empty = await caddy_off.routes_seen()
    assert caddy_off.stats.snapshot().minus(before).reads == {"GET servers": 1}
    assert empty.route("homeport-route-shop") is None
    assert empty.exposure("homeport-route-shop") is None

    await caddy_off.upsert_route(route_to(upstream))
    seen = await caddy_off.routes_seen()
    assert seen.route("homeport-route-shop") == await caddy_off.get_route("homeport-route-shop")
    assert seen.route("homeport-route-shop") == route_to(upstream)
    assert seen.exposure("homeport-route-shop") == "public"
    assert seen.route("homeport-route-other") is None
