"""Requests in flight to a pair's hung primary, through a real Caddy 2.6.

Caddy keeps serving a request with the config it started under: neither replacing the
route (the failover's ingress cut) nor a short ``apps.http.grace_period`` aborts it, and
the hung upstream answers it whenever it resumes. Why, in Caddy 2.6.2's source: a config
change stops the old ``http`` app, whose ``Stop`` calls ``http.Server.Shutdown`` (which
closes listeners and idle connections, never an active one) and returns without waiting
unless the process exits, cancelling the grace period's context on its way out; nothing
calls ``Close``. ``reverse_proxy``'s cleanup closes only upgraded (101) connections and
the transport's only idle ones. The admin API has no endpoint that closes a connection.

So a route to a pair member carries timeouts derived from the pair's probe
(``reconcilers/pairroutes.py``): a request in flight at the cut ends in a 504 within
``MemberTimeouts.in_flight()`` of the cut, never in the old primary's late answer, and a
failover whose old primary was not confirmed stopped routes to the new one only after
that (``reconcilers/standbypair/inflight.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web

from homeport.clients.caddy import CaddyClient
from homeport.kinds.standbypair import Probe
from homeport.reconcilers.pairroutes import MemberTimeouts
from homeport.reconcilers.standbypair.plan import Member, PairRoute, cut_route, serving_route
from homeport.simulator.caddy_process import CaddyProcess
from homeport.simulator.listeners import close_runner, serve_runner
from testkit.harness import until
from tests.clients.test_caddy import caddy_off, http_port

pytestmark = pytest.mark.integration
__all__ = ["caddy_off", "http_port"]  # fixtures shared with the Caddy client tests
HOST = "shop.test"


@dataclass
class HungUpstream:
    """An upstream that takes requests and answers only when it resumes."""

    port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    answered: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await self.resume.wait()
        self.answered.append(request.path)
        return web.Response(text="the old primary's late answer")


@pytest.fixture
async def hung() -> AsyncIterator[HungUpstream]:
    upstream = HungUpstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    sock = await serve_runner(runner, "127.0.0.1")
    upstream.port = sock.getsockname()[1]
    yield upstream
    upstream.resume.set()
    await close_runner(runner, sock)


@pytest.fixture
async def router(caddy_off: CaddyClient) -> CaddyClient:
    await caddy_off.ensure_server()
    return caddy_off


async def _in_flight_then_cut(
    router: CaddyClient, hung: HungUpstream, http_port: int, timeouts: MemberTimeouts | None
) -> asyncio.Task[httpx.Response]:
    """Send a request to the hung primary, then cut the ingress as a failover does."""
    route = PairRoute("shop", HOST, health_check=False, timeouts=timeouts)
    member = Member(app="shop-a", host="127.0.0.1", port=hung.port)
    await router.upsert_route(serving_route(route, member, 1))
    client = httpx.AsyncClient(timeout=30, trust_env=False)
    url = f"http://127.0.0.1:{http_port}/kv/order-1"
    request = asyncio.create_task(client.put(url, content=b"x", headers={"Host": HOST}))
    request.add_done_callback(lambda _: asyncio.ensure_future(client.aclose()))
    await hung.arrived.wait()
    await router.upsert_route(cut_route(route, member, 2))
    async with httpx.AsyncClient(timeout=5, trust_env=False) as other:
        after = await other.get(f"http://127.0.0.1:{http_port}/", headers={"Host": HOST})
    assert after.status_code == 503  # the cut route answers new requests at once
    return request


async def test_a_request_in_flight_to_a_hung_primary_ends_in_a_504_within_the_bound(
    router: CaddyClient, hung: HungUpstream, http_port: int
) -> None:
    probe = Probe(interval_seconds=0.3, timeout_seconds=0.2, failure_threshold=2)
    timeouts = MemberTimeouts.of(probe)
    request = await _in_flight_then_cut(router, hung, http_port, timeouts)
    # What a failover whose old primary may still run waits before the new one serves.
    await asyncio.sleep(timeouts.in_flight())
    assert request.done(), "still in flight past the bound the failover waits out"
    assert (await request).status_code == 504
    hung.resume.set()  # the old primary resumes: its answer reaches nobody
    assert hung.answered == []


async def test_a_short_grace_period_does_not_abort_a_request_in_flight(
    caddy: CaddyProcess, router: CaddyClient, hung: HungUpstream, http_port: int
) -> None:
    """``apps.http.grace_period`` ("connections will be forcefully closed") governs the
    stop of the config being replaced; in Caddy 2.6.2 its expiry closes nothing."""
    async with httpx.AsyncClient(base_url=caddy.admin_url, trust_env=False) as admin:
        put = await admin.put("/config/apps/http/grace_period", json="100ms")
    assert put.status_code == 200, put.text
    request = await _in_flight_then_cut(router, hung, http_port, None)
    await until(
        lambda: '"msg":"server shutdown","error":"context canceled"' in caddy.log(),
        what="the old server's grace period over",
    )
    assert not request.done()
    hung.resume.set()
    response = await request
    assert (response.status_code, response.text) == (200, "the old primary's late answer")


async def test_caddy_keeps_an_in_flight_request_across_a_route_change(
    router: CaddyClient, hung: HungUpstream, http_port: int
) -> None:
    """Why the timeout is needed: without it the cut does not abort the request."""
    request = await _in_flight_then_cut(router, hung, http_port, None)
    assert not request.done()
    hung.resume.set()
    response = await request
    assert (response.status_code, response.text) == (200, "the old primary's late answer")
