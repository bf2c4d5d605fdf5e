"""The status page over real HTTP (uvicorn on a loopback socket, as the daemon serves it):
everything an operator looks at, escaped, read-only, no secret, live by server-sent events;
``/healthz`` and ``/readyz``."""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from homeport.controller.clock import FakeClock
from homeport.controller.liveness import DaemonHealth
from homeport.controller.store import Store
from homeport.services.web.app import PageSource, StatusPage, build_app
from homeport.services.web.server import bind, serve, url_of
from tests.controller.fakes import AlwaysLeader
from tests.services.web.estate_store import (
    HOSTILE,
    NOW,
    back_up,
    beat,
    degrade_pair,
    estate_store,
    hold,
    stall,
)

# Validation refuses secret-looking names in env (secrets go in the secrets directory:
# the browser test checks those values); this is a value the page must not show either.
SECRET = "s3cr3t-value-never-rendered-9f1c"
APP_WITH_SECRET = f"""---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: secretive}}
spec:
  vm: dev-1  # a VM with no App yet (one app per VM)
  source: {{repo: https://git.example.com/edge/shop.git, ref: main}}
  execStart: /usr/bin/python3 app.py
  port: 8091
  secretEnv: [{{name: SESSION_SECRET, secret: shop/session}}]
  env: {{GREETING: {SECRET}}}
"""


@dataclass
class Page:
    url: str
    store: Store
    clock: FakeClock
    leadership: AlwaysLeader
    health: DaemonHealth
    source: PageSource


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, *, extra: dict[str, str] | None = None) -> AsyncIterator[Page]:
    store = estate_store(tmp_path / "state.db", extra=extra)
    clock = FakeClock(NOW)
    leadership = AlwaysLeader()
    health = DaemonHealth(clock=clock, leadership=leadership, sync_stale_after=30.0, started_at=NOW)
    source = PageSource(store_path=tmp_path / "state.db", clock=clock, alive_within=15.0)
    stop = asyncio.Event()
    sock = bind("127.0.0.1:0")
    app = build_app(StatusPage(source=source, not_ready=health.not_ready, stop=stop))
    task = asyncio.create_task(serve(app, sock, stop))
    try:
        yield Page(url_of(sock), store, clock, leadership, health, source)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        source.close()
        store.close()


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        return await client.get(url)


async def test_the_page_shows_objects_pairs_backups_revision_and_daemons(tmp_path: Path) -> None:
    async with serving(tmp_path) as page:
        degrade_pair(page.store)
        stall(page.store, "App", "community-a", "health check failed: 502 on /healthz")
        back_up(page.store, newest=NOW - timedelta(hours=2))
        hold(page.store)
        beat(page.store, url="http://127.0.0.1:8765/")
        response = await get(page.url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    text = html.unescape(response.text)
    for kind in ("Machine", "VM", "App", "ProxyRoute", "StandbyPair", "BackupPolicy"):
        assert f'data-kind="{kind}"' in text
    assert 'data-object="App/community-a"' in text
    assert "health check failed: 502 on /healthz" in text
    # The pair: who serves, epoch, lag, and the failover with each step's duration.
    assert 'data-pair="shop" data-primary="shop-b" data-epoch="2"' in text
    assert "replication lag 3.5s" in text
    assert "automatic shop-a → shop-b, completed" in text
    assert "data-loss window 4.2s" in text
    assert "+0.50s" in text and "Promoted" in text
    # A Degraded pair says Degraded and never Healthy.
    pair = text[
        text.index('data-pair="shop"') : text.index("</article>", text.index('data-pair="shop"'))
    ]
    assert "Degraded" in pair and "Healthy" not in pair
    # Backups: freshness and 3-2-1; revision, held revision, daemons.
    assert "shop-a" in text and "2.0h old" in text and "holds" in text and "passed" in text
    assert "a1b2c3d4e5f6" in text
    assert "would delete 6 objects" in text and "homeport approve" in text
    assert "cp1:4242:abcdef leads" in text
    assert "http://127.0.0.1:8765/" in text
    # A pair the daemon has not armed yet (community, no details) names no "None" primary.
    assert 'data-pair="community" data-primary="" data-epoch=""' in text
    assert "not armed yet: no primary chosen" in text and "None" not in text


async def test_every_value_is_escaped(tmp_path: Path) -> None:
    async with serving(tmp_path) as page:
        stall(page.store, "VM", "shop-a", HOSTILE)
        response = await get(page.url)
    assert HOSTILE not in response.text
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in response.text


async def test_no_secret_is_ever_rendered(tmp_path: Path) -> None:
    async with serving(tmp_path, extra={"apps/secretive.yaml": APP_WITH_SECRET}) as page:
        stall(page.store, "App", "secretive", "health check failed")
        bodies = [(await get(page.url + path)).text for path in ("", "status.json")]
        bodies.append(await first_event(page.url))
    assert all("secretive" in body for body in bodies)  # the App is shown...
    assert not [body for body in bodies if SECRET in body]  # ...never its env


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_nothing_but_get_and_head_is_allowed(tmp_path: Path, method: str) -> None:
    async with serving(tmp_path) as page, httpx.AsyncClient(trust_env=False) as client:
        for path in ("", "events", "status.json", "healthz", "readyz", "static/page.js"):
            response = await client.request(method, page.url + path)
            assert response.status_code == 405, (method, path)
        head = await client.head(page.url)
    assert head.status_code == 200


async def test_the_page_is_served_with_a_strict_content_policy(tmp_path: Path) -> None:
    async with serving(tmp_path) as page:
        response = await get(page.url)
        script = await get(page.url + "static/page.js")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-frame-options"] == "DENY"
    assert script.status_code == 200 and "EventSource" in script.text


async def first_event(url: str) -> str:
    """The first server-sent event of ``/events``: the live fragment as it is now."""
    async with (
        httpx.AsyncClient(trust_env=False, timeout=10) as client,
        client.stream("GET", url + "events") as response,
        contextlib.aclosing(aiter_events(response)) as events,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        return await anext(events)


async def test_the_live_fragment_follows_a_failover(tmp_path: Path) -> None:
    async with serving(tmp_path) as page:
        degrade_pair(page.store, primary="shop-a", standby="shop-b")
        async with (
            httpx.AsyncClient(trust_env=False, timeout=10) as client,
            client.stream("GET", page.url + "events") as response,
            contextlib.aclosing(aiter_events(response)) as events,
        ):
            first = await anext(events)
            assert 'data-primary="shop-a"' in first
            degrade_pair(page.store, primary="shop-b", standby="shop-a")
            second = await asyncio.wait_for(anext(events), 5)
    assert 'data-primary="shop-b"' in second
    assert "<html" not in second  # a fragment for the page's live part, not a new page


async def aiter_events(response: httpx.Response) -> AsyncGenerator[str, None]:
    lines: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            lines.append(line.removeprefix("data: "))
        elif line == "" and lines:
            yield "\n".join(lines)
            lines = []


async def test_healthz_answers_while_the_process_lives(tmp_path: Path) -> None:
    async with serving(tmp_path) as page:
        page.leadership.leading = False
        response = await get(page.url + "healthz")
    assert (response.status_code, response.text) == (200, "ok\n")


async def test_readyz_says_why_not(tmp_path: Path) -> None:
    async with serving(tmp_path) as page:
        first = await get(page.url + "readyz")
        page.health.synced()
        ready = await get(page.url + "readyz")
        page.clock.advance(31)
        stale = await get(page.url + "readyz")
        page.health.synced()
        page.leadership.leading = False
        follower = await get(page.url + "readyz")
    assert (first.status_code, first.text) == (
        503,
        "not ready: no successful sync of the source yet\n",
    )
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert stale.status_code == 503
    assert stale.text == "not ready: last successful sync of the source 31s ago (more than 30s)\n"
    assert follower.status_code == 503 and "not leading" in follower.text


async def test_the_etcd_members_and_planes_are_shown_when_known(tmp_path: Path) -> None:
    coordination = {
        "backend": "etcd",
        "members": [
            {"name": "etcd1", "url": "https://10.0.0.1:2379", "healthy": True, "leader": True},
            {"name": "etcd2", "url": "https://10.0.0.2:2379", "healthy": False, "error": "refused"},
        ],
        "quorum": True,
        "leader": {"holder": "cp1:1:aa", "token": 42},
        "planes": ["cp1:1:aa", "cp2:2:bb"],
        "problem": None,
    }
    async with serving(tmp_path) as page:
        before = await get(page.url)
        page.source.coordination = lambda: coordination
        after = await get(page.url)
    assert 'id="etcd"' not in before.text  # the local backend has no etcd section
    text = html.unescape(after.text)
    assert "planes running: cp1:1:aa, cp2:2:bb · leader cp1:1:aa (fencing token 42)" in text
    assert "https://10.0.0.2:2379" in text and "refused" in text


async def test_the_page_says_plainly_when_nothing_is_acting(tmp_path: Path) -> None:
    async with serving(tmp_path) as page:
        beat(page.store, at=NOW - timedelta(minutes=3))
        response = await get(page.url)
    text = html.unescape(response.text)
    assert '<div class="card bad" id="daemon">' in text
    assert (
        "no daemon is alive: nothing is acting (the last one, cp1:4242:abcdef, went silent 3m ago)"
        in text
    )
