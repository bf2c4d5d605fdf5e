"""The status page's routes: ``/`` (the page), ``/events`` (its live fragment, server-sent
events), ``/status.json``, ``/healthz``, ``/readyz`` and ``/static``. GET and HEAD only
(Starlette answers 405 to anything else); no secret is in the read model it renders.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from homeport.controller.clock import Clock
from homeport.controller.store import Store
from homeport.services.views.objects import age
from homeport.services.views.status import page_document

LIVE_INTERVAL = 0.5
"""How often the live fragment is re-read (a failover shows within about this long)."""
HEADERS = {
    # Nothing but the page's own files, never framed, no referrer to the tailnet's others.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class PageSource:
    """The page's read model, from its own read-only connection to the store."""

    store_path: Path
    clock: Clock
    alive_within: float
    """Seconds a heartbeat counts as alive (the lease duration)."""
    coordination: Callable[[], dict[str, Any] | None] = lambda: None
    """The etcd backend's control planes as last read (``ha.status``), None otherwise."""
    _store: Store | None = field(default=None, init=False)

    def document(self) -> dict[str, Any]:
        if self._store is None:
            self._store = Store.open(self.store_path, readonly=True)
        now = self.clock.now()
        document = page_document(self._store, now=now, alive_within=self.alive_within)
        document["generatedAt"] = now.isoformat()
        coordination = self.coordination()
        if coordination is not None:
            document["coordination"] = coordination
        return document

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("homeport.services.web", "templates"),
        autoescape=True,  # every value from the store is text, never markup
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = _seconds
    return env


def _seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return "?"
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.0f}m"


@dataclass
class StatusPage:
    source: PageSource
    not_ready: Callable[[], str | None]
    """``DaemonHealth.not_ready``: why ``/readyz`` fails (None: ready)."""
    stop: asyncio.Event
    env: Environment = field(default_factory=templates)
    _live: tuple[float, str] | None = field(default=None, init=False)

    def render(self, template: str, document: dict[str, Any]) -> str:
        now = datetime.fromisoformat(document["generatedAt"])
        return self.env.get_template(template).render(
            doc=document, ago=lambda stamp: age(stamp, now)
        )

    async def page(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self.render("page.html", self.source.document()))

    async def status_json(self, request: Request) -> JSONResponse:
        return JSONResponse(self.source.document())

    async def events(self, request: Request) -> StreamingResponse:
        return StreamingResponse(
            self._fragments(request),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )

    async def _fragments(self, request: Request) -> AsyncIterator[str]:
        """The live fragment whenever it changed, until the client leaves or the daemon stops."""
        last = ""
        while not self.stop.is_set() and not await request.is_disconnected():
            html = self.live_fragment()
            if html != last:
                last = html
                yield "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=LIVE_INTERVAL)

    def live_fragment(self) -> str:
        """The live part, rendered at most once per interval however many pages watch."""
        now = asyncio.get_running_loop().time()
        if self._live is None or now - self._live[0] >= LIVE_INTERVAL / 2:
            self._live = (now, self.render("live.html", self.source.document()))
        return self._live[1]

    async def healthz(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> PlainTextResponse:
        reason = self.not_ready()
        if reason is None:
            return PlainTextResponse("ready\n")
        return PlainTextResponse(f"not ready: {reason}\n", status_code=503)


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(
                        (k.lower().encode(), v.encode())
                        for k, v in HEADERS.items()
                        if k.lower().encode() not in present
                    ),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def build_app(page: StatusPage) -> Starlette:
    static = Path(__file__).parent / "static"
    get = ["GET"]  # Starlette adds HEAD to GET routes
    return Starlette(
        routes=[
            Route("/", page.page, methods=get),
            Route("/events", page.events, methods=get),
            Route("/status.json", page.status_json, methods=get),
            Route("/healthz", page.healthz, methods=get),
            Route("/readyz", page.readyz, methods=get),
            Mount("/static", StaticFiles(directory=static), name="static"),
        ],
        middleware=[Middleware(_SecurityHeaders)],
    )
