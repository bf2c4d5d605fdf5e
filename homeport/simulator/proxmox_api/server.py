"""The HTTPS listener: one aiohttp handler doing what pveproxy + pvedaemon do per request.

Order per request: authenticate (401 with an empty body otherwise, except the login), apply
API faults, find the route (501), check the node a proxied path names (500 unknown, 595
unreachable), merge and validate parameters (400), run the handler, answer `{"data": ...}`.
A "lost response" fault runs the handler and then cuts the connection; a "timeout" fault
holds the request until the client hangs up or the server stops.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl
import urllib.parse
from typing import Any

from aiohttp import web

from homeport.listening import stop_accepting
from homeport.simulator.errors import PveError
from homeport.simulator.faults import ApiRule
from homeport.simulator.listeners import close_runner, serve_runner
from homeport.simulator.proxmox_api import (
    routes_agent,
    routes_cluster,
    routes_firewall,
    routes_ha,
    routes_pci,
    routes_qemu,
    routes_replication,
    routes_storage,
    routes_tasks,
)
from homeport.simulator.proxmox_api.auth import NO_TICKET, AuthFailed, Identity
from homeport.simulator.proxmox_api.context import ApiContext
from homeport.simulator.proxmox_api.control import Control
from homeport.simulator.proxmox_api.exchanges import Exchange, publish
from homeport.simulator.proxmox_api.http import (
    decode_body,
    decode_urlencoded,
    failure,
    success,
    unauthorized,
)
from homeport.simulator.proxmox_api.router import Call, Result, Route, Router
from homeport.simulator.schema import validate

PREFIX = "/api2/json"
CONTROL = "/_sim"
LOGIN = "/access/ticket"
log = logging.getLogger(__name__)


def build_router() -> Router:
    routes: list[Route] = []
    for module in (
        routes_cluster,
        routes_qemu,
        routes_agent,
        routes_tasks,
        routes_storage,
        routes_replication,
        routes_ha,
        routes_firewall,
        routes_pci,
    ):
        routes += module.ROUTES
    return Router(routes)


class ProxmoxApiServer:
    def __init__(self, context: ApiContext, ssl_context: ssl.SSLContext) -> None:
        self._context = context
        self._ssl = ssl_context
        self._router = build_router()
        self._control = Control(context)
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._stopping = asyncio.Event()
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        self._sock = await serve_runner(
            self._runner, host, port, ssl_context=self._ssl, backlog=512
        )
        self.port = self._sock.getsockname()[1]

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is None:
            return
        if self._sock is not None:
            await stop_accepting([self._sock])
        server = self._runner.server
        for connection in list(server.connections if server is not None else []):
            # A TLS close would wait for the peer's close_notify; a stopping node just drops.
            if connection.transport is not None:
                connection.transport.abort()
        await close_runner(self._runner, None)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now = self._context.world.clock.now()
        try:
            return await self._serve(request)
        except AuthFailed as err:
            delay = self._context.config.auth_failure_delay
            if delay:
                await asyncio.sleep(delay)  # PVE's 3 s brake on guessing, in wall time
            return unauthorized(
                now, "No ticket" if str(err) == NO_TICKET else "Authentication failed!"
            )
        except PveError as err:
            return failure(err, now)
        except ConnectionResetError:
            raise  # the client went away mid-request (killed, timed out): nobody to answer
        except Exception as err:
            # A simulator bug: answer like a crashed handler, and make check() report it.
            self._context.world.internal_error(f"{request.method} {request.path}: {err!r}")
            log.exception("simulated API handler failed")
            return failure(PveError(f"simulator error: {err}"), now)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        raw_path, _, query = request.raw_path.partition("?")
        path = urllib.parse.unquote(raw_path)
        body = await request.read()
        if path.startswith(CONTROL + "/"):
            self._identify(request, path)
            data = self._control.handle(request.method, path, body)
            if inspect.isawaitable(data):
                data = await data
            return success(data, None, self._context.world.clock.now())
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            raise PveError("no such uri", status=501)
        sub = path[len(PREFIX) :] or "/"
        identity = self._identify(request, sub)
        sent = self._sent(request, query, body)
        try:
            result, rule = await self._dispatch(request, sub, identity, sent)
        except PveError as err:
            publish(Exchange(request.method, sub, sent, err.status, None))
            raise
        data, extra = (result.data, result.extra) if isinstance(result, Result) else (result, None)
        publish(Exchange(request.method, sub, sent, 200, data))
        if rule is not None and rule.kind == "drop":
            return self._drop(request)
        return success(data, extra, self._context.world.clock.now())

    async def _dispatch(
        self, request: web.Request, sub: str, identity: Identity, sent: dict[str, Any]
    ) -> tuple[Any, ApiRule | None]:
        rule = self._context.faults.match_api(request.method, sub)
        if rule is not None:
            await self._before(rule, request)
        route, path_params = self._router.match(request.method, sub)
        if route.proxied:
            self._check_node(path_params["node"])
        params = self._merge_path(dict(sent), path_params)
        call = Call(self._context, identity, validate(route.schema, params))
        result = await route.handler(call)
        if request.method != "GET":
            self._context.world.changed()
        return result, rule

    def _identify(self, request: web.Request, sub: str) -> Identity:
        if request.method == "POST" and sub.rstrip("/") == LOGIN:
            return Identity("")
        return self._context.auth.authenticate(request.method, request.headers, request.cookies)

    async def _before(self, rule: ApiRule, request: web.Request) -> None:
        if rule.kind == "error":
            raise PveError(rule.message, status=rule.status)
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay)
        elif rule.kind == "timeout":
            await self._hold(request)

    async def _hold(self, request: web.Request) -> None:
        # Wall time on purpose: the client's timeout is what ends this.
        while not self._stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                await asyncio.wait_for(self._stopping.wait(), 0.05)
            except TimeoutError:
                continue
        raise PveError("request held by fault", status=596)

    def _drop(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=204)

    def _check_node(self, name: str) -> None:
        node = self._context.world.node_or_error(name)
        if not node.reachable:
            raise PveError("No route to host", status=595)

    def _sent(self, request: web.Request, query: str, body: bytes) -> dict[str, Any]:
        """The query and body parameters as the client sent them (the query wins)."""
        params = decode_urlencoded(query)
        if body:
            if request.method in ("GET", "DELETE"):
                raise PveError(f"Unexpected content for method '{request.method}'", status=501)
            params = {**decode_body(request.content_type, body), **params}
        return params

    def _merge_path(self, params: dict[str, Any], path_params: dict[str, str]) -> dict[str, Any]:
        for key, value in path_params.items():
            if key in params and str(params[key]) != value:
                raise PveError(
                    "Parameter verification failed.",
                    status=400,
                    errors={
                        key: "duplicate parameter (already defined in URI) with conflicting values!"
                    },
                )
            params[key] = value
        return params
