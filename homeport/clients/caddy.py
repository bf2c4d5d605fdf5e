"""``CaddyClient``: homeport's routes in a running Caddy, through the admin API only.

The ProxyRoute reconciler calls ``ensure_server`` once per resync, then ``upsert_route`` /
``delete_route`` per object and ``list_owned_routes`` to find orphans; route JSON comes from
``caddy_config.reverse_proxy_route``. Surgical writes only: a route that is there once, in
its server, is PATCHed by its ``@id``; otherwise it is PATCHed or inserted at its index in
homeport's server, guarded by If-Match on that server's route list
(``caddy_config.etag``: recomputed FNV-1a on Caddy 2.6, the header on ≥ 2.8), and a 412
is retried after a fresh read. Nothing without a ``homeport-`` ``@id`` is ever changed;
routes added by hand in homeport's server keep their content and order (homeport's 404
catch-all is kept last). ``POST /load`` is never used: a config without the ``admin``
block would move the admin endpoint.

A refused change (Caddy answers 500 when a config fails to load) raises ``CaddyError``;
Caddy has then kept its previous config.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import httpx
from opentelemetry.trace import Tracer

from homeport.clients.caddy_config import (
    CATCH_ALL_ID,
    TAILNET_TLS_POLICY_ID,
    TLS_POLICY_ID,
    Exposure,
    Json,
    RoutesSeen,
    ServerLayout,
    TlsMode,
    catch_all_route,
    etag,
    is_owned_route,
    route_hosts,
    server_layout,
    tailnet_server_name,
    tailnet_tls_policy,
    tls_policy,
)
from homeport.clients.callstats import CallStats
from homeport.clients.errors import CaddyConflict, CaddyError, CaddyUnreachable, ClientError
from homeport.clients.timing import RetryPolicy, Sleep, retrying
from homeport.clients.tracing import Attributes, ClientTracing

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True, kw_only=True)
class CaddySettings:
    """Where Caddy's admin API is and what homeport owns in its config."""

    admin_url: str = "http://127.0.0.1:2019"
    """Caddy's admin endpoint (loopback or tailnet only)."""
    server: str = "homeport"
    """Name of the server block homeport owns under ``apps.http.servers``."""
    https_listen: tuple[str, ...] = (":443",)
    """Listener addresses of the HTTPS server."""
    http_listen: tuple[str, ...] = (":80",)
    """Listener addresses for plain HTTP: redirects (``internal``) or the server (``off``)."""
    tailnet_listen: tuple[str, ...] = ()
    """The router's tailnet address(es) for ``exposure: tailnet`` routes (none: no such
    routes can be served)."""
    tls: TlsMode = "acme"
    """``acme`` (public certificates), ``internal`` (Caddy's local CA), ``off`` (tests)."""
    acme_email: str | None = None
    """ACME account contact, when ``tls`` is ``acme``."""
    timeout: float = 5.0
    """Seconds per admin API request."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retries when the admin API cannot be reached."""
    conflict_retries: int = 3
    """Fresh read-and-write rounds after a 412 before ``CaddyConflict`` is raised."""


class CaddyClient:
    """Owned routes and server blocks in one Caddy instance."""

    def __init__(
        self,
        settings: CaddySettings,
        *,
        tracer: Tracer | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.stats = CallStats()
        self._http = httpx.AsyncClient(
            base_url=settings.admin_url.rstrip("/"),
            timeout=settings.timeout,
            transport=transport,
            trust_env=False,
            # Caddy replaces its admin server on every config change: never reuse a socket.
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self._tracing = ClientTracing(tracer)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lock = asyncio.Lock()
        self._layout: ServerLayout = server_layout(
            settings.server,
            tls=settings.tls,
            https_listen=settings.https_listen,
            http_listen=settings.http_listen,
            tailnet_listen=settings.tailnet_listen,
        )

    @property
    def routes_path(self) -> str:
        return self._routes_path(self.settings.server)

    def serves(self, exposure: Exposure) -> bool:
        """Is a server block configured for routes of ``exposure``?"""
        return self._layout.server_for(exposure) is not None

    def _routes_path(self, server: str) -> str:
        return f"/config/apps/http/servers/{server}/routes"

    def _route_servers(self) -> dict[Exposure, str]:
        """Every server homeport's routes may be in (a stale tailnet server included)."""
        return {
            "public": self.settings.server,
            "tailnet": tailnet_server_name(self.settings.server),
        }

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CaddyClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- reading -------------------------------------------------------------------------

    async def get_route(self, route_id: str) -> Json | None:
        """The route with ``@id`` ``route_id`` as Caddy runs it, or ``None``."""
        try:
            value, _ = await self._get(f"/id/{route_id}", "route", route_id=route_id)
        except CaddyError as exc:
            if exc.status == 404:
                return None
            raise
        return value if isinstance(value, dict) else None

    async def list_owned_routes(self) -> list[Json]:
        """homeport's routes in its servers, in order (catch-all excluded)."""
        found: list[Json] = []
        for server in self._route_servers().values():
            routes, _ = await self._routes(server, tagged=False)
            found += [r for r in routes or [] if is_owned_route(r)]
        return found

    async def route_exposure(self, route_id: str) -> Exposure | None:
        """Which of homeport's servers runs route ``route_id`` (``None``: neither)."""
        return (await self.routes_seen()).exposure(route_id)

    async def routes_seen(self) -> RoutesSeen:
        """homeport's route servers in one read (``GET /config/apps/http/servers``): every
        route's content and server, what ``get_route`` and ``route_exposure`` say of one."""
        value, _ = await self._get("/config/apps/http/servers", "servers", missing_ok=True)
        found: dict[Exposure, tuple[Json, ...]] = {}
        for exposure, server in self._route_servers().items():
            routes = _dig(value, server, "routes")
            listed = routes if isinstance(routes, list) else []
            found[exposure] = tuple(r for r in listed if isinstance(r, dict))
        mine = set(self._route_servers().values())
        others = [v for k, v in value.items() if k not in mine] if isinstance(value, dict) else []
        elsewhere = frozenset(
            r.get("@id") for v in others for r in _dig(v, "routes") or [] if isinstance(r, dict)
        )
        return RoutesSeen(found, elsewhere - {None})

    async def verify_route(self, route: Json) -> bool:
        """Read back: does Caddy run exactly this route?"""
        return await self.get_route(str(route["@id"])) == route

    # --- bootstrap -----------------------------------------------------------------------

    async def ensure_server(self) -> bool:
        """Create or repair homeport's server blocks (listeners, TLS mode, catch-all last).

        Touches only the server blocks homeport owns, its TLS policy and, in ``internal``
        mode, the local CA's ``install_trust`` when unset. ``True`` if anything changed.
        """
        async with self._lock:
            return await self._rounds(self._ensure)

    async def _ensure(self) -> bool:
        root, _ = await self._get("/config/", "config")
        servers = _dig(root, "apps", "http", "servers") or {}
        changed = False
        for name, owned in self._layout.servers.items():
            changed |= await self._ensure_block(name, owned, servers.get(name))
        for stale in (
            f"{self.settings.server}-redirect",
            tailnet_server_name(self.settings.server),
        ):
            if stale not in self._layout.servers and stale in servers:
                await self._mutate("DELETE", f"/config/apps/http/servers/{stale}", "server")
                changed = True
        if self.settings.tls == "internal" and not _dig(
            root, "apps", "pki", "certificate_authorities", "local"
        ):
            path = "/config/apps/pki/certificate_authorities/local"
            await self._mutate("PUT", path, "pki", json={"install_trust": False})
            changed = True
        for exposure, name in self._route_servers().items():
            routes, _ = await self._routes(name, tagged=False)
            changed |= await self._sync_tls(exposure, route_hosts(routes or []))
        return changed

    async def _ensure_block(self, name: str, owned: Json, current: object) -> bool:
        path = f"/config/apps/http/servers/{name}"
        fixed = self._layout.fixed_routes.get(name)
        if not isinstance(current, dict):
            routes = [fixed] if fixed is not None else [catch_all_route()]
            await self._mutate("PUT", path, "server", json={**owned, "routes": routes})
            return True
        changed = False
        for key, value in owned.items():
            if current.get(key) != value:
                method: Method = "PATCH" if key in current else "PUT"
                await self._mutate(method, f"{path}/{key}", "server", json=value)
                changed = True
        if "automatic_https" not in owned and "automatic_https" in current:
            await self._mutate("DELETE", f"{path}/automatic_https", "server")
            changed = True
        present = current.get("routes")
        if fixed is not None:
            if present != [fixed]:
                method = "PATCH" if present is not None else "PUT"
                await self._mutate(method, f"{path}/routes", "route", json=[fixed])
                changed = True
            return changed
        return await self._keep_catch_all_last(path, present) or changed

    async def _keep_catch_all_last(self, path: str, routes: object) -> bool:
        wanted = catch_all_route()
        if not isinstance(routes, list):
            await self._mutate("PUT", f"{path}/routes", "route", json=[wanted])
            return True
        if routes and routes[-1] == wanted and _indexes(routes, CATCH_ALL_ID) == [len(routes) - 1]:
            return False
        for index in reversed(_indexes(routes, CATCH_ALL_ID)):
            await self._mutate("DELETE", f"{path}/routes/{index}", "route", route_id=CATCH_ALL_ID)
        await self._mutate("POST", f"{path}/routes", "route", json=wanted, route_id=CATCH_ALL_ID)
        return True

    # --- routes --------------------------------------------------------------------------

    async def upsert_route(
        self, route: Json, exposure: Exposure = "public", *, seen: RoutesSeen | None = None
    ) -> bool:
        """Make the server for ``exposure`` run ``route`` (by its ``@id``), and no other
        server of homeport's; ``True`` if anything changed. ``seen``: the caller's fresh
        read of the route servers (``routes_seen``), else one is made here.

        A route that read finds exactly once, in ``exposure``'s server, is written by its
        id (``_rewrite``). Otherwise, the careful way: an existing route is PATCHed at its
        index, a new one inserted before the catch-all, each guarded by If-Match on the
        route list; a route whose exposure changed is written to its new server first,
        then removed from the old one (a public route made tailnet-only leaves the public
        listener).
        """
        route_id = _owned_id(route)
        server = self._layout.server_for(exposure)
        if server is None:
            raise ValueError(f"no Caddy server for {exposure} routes: set [caddy] tailnet_listen")
        async with self._lock:
            written, lost = await self._rewrite(route_id, route, exposure, seen)
            if written is not None:
                return written
            changed = await self._rounds(lambda: self._upsert_once(route_id, route, server))
            for other, name in self._route_servers().items():
                if other != exposure:
                    changed |= await self._rounds(partial(self._delete_once, route_id, other, name))
            return changed or lost

    async def _rewrite(
        self, route_id: str, route: Json, exposure: Exposure, seen: RoutesSeen | None
    ) -> tuple[bool | None, bool]:
        """Write a route that is there by its id (``PATCH /id/...``), with no read of its
        server's route list and its ETag (a pure-Python hash over every route on Caddy
        2.6: a cost per route written that grew with the estate). An id names one object,
        so a write by id cannot land on another route, whatever changed meanwhile; the
        list is read only when a host leaves (the TLS policy keeps the hosts still
        routed). (written, or None for the careful way: not placed exactly once in
        ``exposure``'s server, or gone meanwhile; whether a lost write may have landed).
        """
        if seen is None:
            seen = await self.routes_seen()
        previous = seen.route(route_id)
        if previous is None or seen.placed(route_id) != (exposure,):
            return None, False
        if previous == route:
            return False, False
        old_hosts, new_hosts = set(route_hosts([previous])), set(route_hosts([route]))
        if new_hosts - old_hosts:
            # Certificates for new hosts must come from homeport's issuer from the first try.
            await self._sync_tls(exposure, sorted(new_hosts), only_grow=True)
        try:
            await self._mutate("PATCH", f"/id/{route_id}", "route", json=route, route_id=route_id)
        except CaddyUnreachable as exc:
            if not exc.sent:
                raise
            return None, True  # it may have landed: the careful way reads afresh
        except CaddyError as exc:
            if exc.status == 404:
                return None, False  # removed meanwhile: the careful way inserts it
            raise
        if old_hosts - new_hosts:
            after = await self.routes_seen()
            await self._sync_tls(exposure, route_hosts(after.routes.get(exposure, ())))
        return True, False

    async def delete_route(self, route_id: str) -> bool:
        """Remove homeport's route ``route_id`` from its servers; ``False`` if not there."""
        _owned_id({"@id": route_id})
        changed = False
        async with self._lock:
            for exposure, name in self._route_servers().items():
                changed |= await self._rounds(partial(self._delete_once, route_id, exposure, name))
        return changed

    async def _upsert_once(self, route_id: str, route: Json, server: str) -> bool:
        routes, tag = await self._routes(server)
        if routes is None or CATCH_ALL_ID not in _ids(routes):
            await self._ensure()
            routes, tag = await self._routes(server)
            assert routes is not None
        found = _indexes(routes, route_id)
        if found and routes[found[0]] == route and len(found) == 1:
            return False
        exposure: Exposure = "public" if server == self.settings.server else "tailnet"
        # Certificates for new hosts must come from homeport's issuer from the first try.
        others = [r for r in routes if r.get("@id") != route_id]
        await self._sync_tls(exposure, route_hosts([*routes, route]), only_grow=True)
        if len(found) > 1:
            await self._delete_at(server, found[-1], tag, route_id)  # 2.6 allows duplicate @ids
            return await self._upsert_once(route_id, route, server)
        if found:
            await self._write_at(server, "PATCH", found[0], route, tag, route_id)
        else:
            index = _indexes(routes, CATCH_ALL_ID)[-1]
            await self._write_at(server, "PUT", index, route, tag, route_id)
        await self._sync_tls(exposure, route_hosts([*others, route]))
        return True

    async def _delete_once(self, route_id: str, exposure: Exposure, server: str) -> bool:
        routes, tag = await self._routes(server)
        found = _indexes(routes or [], route_id)
        if not found or routes is None:
            return False
        for number, index in enumerate(reversed(found)):
            await self._delete_at(server, index, tag, route_id)
            # The next deletion writes back with If-Match: a tag; the last read only counts
            # the hosts left.
            routes, tag = await self._routes(server, tagged=number + 1 < len(found))
            assert routes is not None
        await self._sync_tls(exposure, route_hosts(routes))
        return True

    async def _write_at(
        self, server: str, method: Method, index: int, route: Json, tag: str, route_id: str
    ) -> None:
        path = f"{self._routes_path(server)}/{index}"
        await self._mutate(method, path, "route", json=route, if_match=tag, route_id=route_id)

    async def _delete_at(self, server: str, index: int, tag: str, route_id: str) -> None:
        path = f"{self._routes_path(server)}/{index}"
        await self._mutate("DELETE", path, "route", if_match=tag, route_id=route_id)

    async def _rounds(self, attempt: Callable[[], Awaitable[bool]]) -> bool:
        """Read-and-write rounds: after a 412, or a write whose answer was lost (Caddy
        drops connections while it swaps configs), read again and redo what is still
        needed. Every write is planned from a fresh read, so redoing never duplicates."""
        rounds = max(1, self.settings.conflict_retries)
        lost = False  # a lost write may have changed something: then report a change
        for round_ in range(rounds):
            try:
                return await attempt() or lost
            except CaddyConflict:
                if round_ + 1 >= rounds:
                    raise
            except CaddyUnreachable as exc:
                if round_ + 1 >= rounds or not exc.sent:
                    raise
                lost = True
        raise AssertionError("unreachable")

    async def _routes(
        self, server: str | None = None, *, tagged: bool = True
    ) -> tuple[list[Json] | None, str]:
        """The route list of ``server`` (homeport's main server by default); ``None`` when
        the server or its routes do not exist. ``tagged``: with the ETag a write of it
        needs (``_get``)."""
        if server is None:
            server = self.settings.server
        value, tag = await self._get(
            self._routes_path(server), "routes", missing_ok=True, tagged=tagged
        )
        if not isinstance(value, list):
            return None, tag
        return [r for r in value if isinstance(r, dict)], tag

    # --- TLS policy ----------------------------------------------------------------------

    async def _sync_tls(
        self, exposure: Exposure, hosts: Sequence[str], *, only_grow: bool = False
    ) -> bool:
        """Keep the TLS automation policy of ``exposure``'s hosts equal to ``hosts``."""
        settings = self.settings
        value, _ = await self._get("/config/apps/tls", "tls", missing_ok=True)
        policies = _dig(value, "automation", "policies")
        policies = policies if isinstance(policies, list) else None
        policy_id = TLS_POLICY_ID if exposure == "public" else TAILNET_TLS_POLICY_ID
        found = _indexes(policies or [], policy_id)
        current = policies[found[0]] if policies and found else None
        if only_grow and current is not None:
            hosts = sorted({*hosts, *current.get("subjects", [])})
        if exposure == "public":
            desired = tls_policy(hosts, tls=settings.tls, acme_email=settings.acme_email)
        else:
            desired = tailnet_tls_policy(hosts, tls=settings.tls)
        base = "/config/apps/tls/automation/policies"
        if desired == current:
            return False
        if desired is None:
            if not only_grow:
                await self._mutate("DELETE", f"{base}/{found[0]}", "tls")
            return not only_grow
        if current is not None:
            await self._mutate("PATCH", f"{base}/{found[0]}", "tls", json=desired)
        elif policies:
            # First, so a catch-all policy of someone else's cannot shadow homeport's hosts.
            await self._mutate("PUT", f"{base}/0", "tls", json=desired)
        elif policies is not None:
            await self._mutate("POST", base, "tls", json=desired)
        else:
            await self._mutate("PUT", base, "tls", json=[desired])
        return True

    # --- HTTP ----------------------------------------------------------------------------

    async def _get(
        self,
        path: str,
        obj: str,
        *,
        route_id: str | None = None,
        missing_ok: bool = False,
        tagged: bool = False,
    ) -> tuple[Any, str]:
        """The value at ``path`` and, when ``tagged`` (it is to be written back with
        ``If-Match``), its ETag ("" otherwise: with Caddy 2.6 the tag is a pure-Python hash
        over the whole body, a cost that grows with the routes, paid only when needed)."""
        try:
            response = await self._call("GET", path, obj, route_id=route_id)
        except CaddyError as exc:
            # 2.6 answers 400 "invalid traversal path" below a missing object.
            if missing_ok and exc.status == 400 and "traversal" in exc.message:
                return None, ""
            raise
        tag = (
            etag(response.url.path, response.content, response.headers.get("etag"))
            if tagged
            else ""
        )
        return (response.json() if response.content.strip() else None), tag

    async def _mutate(
        self,
        method: Method,
        path: str,
        obj: str,
        *,
        json: object = None,
        if_match: str | None = None,
        route_id: str | None = None,
    ) -> None:
        await self._call(method, path, obj, json=json, if_match=if_match, route_id=route_id)

    async def _call(
        self,
        method: Method,
        path: str,
        obj: str,
        *,
        json: object = None,
        if_match: str | None = None,
        route_id: str | None = None,
    ) -> httpx.Response:
        operation = f"{method} {obj}"
        self.stats.record(operation, mutating=method != "GET")

        async def attempt() -> httpx.Response:
            return await self._send(method, path, operation, json, if_match, route_id)

        def retry_delay(exc: ClientError) -> float | None:
            if not isinstance(exc, CaddyUnreachable):
                return None
            return 0.0 if method == "GET" or not exc.sent else None

        return await retrying(
            attempt,
            policy=self.settings.retry,
            retry_delay=retry_delay,
            sleep=self._sleep,
            rng=self._rng,
            on_retry=lambda _exc: self.stats.record_retry(operation),
        )

    async def _send(
        self,
        method: Method,
        path: str,
        operation: str,
        json: object,
        if_match: str | None,
        route_id: str | None,
    ) -> httpx.Response:
        headers = {"If-Match": if_match} if if_match else {}
        url = self._http.base_url
        attributes: Attributes = {
            "http.request.method": method,
            "server.address": url.host,
            "server.port": url.port,
            "caddy.route_id": route_id,
        }
        with self._tracing.span(f"caddy {operation}", attributes) as span:
            try:
                response = await self._http.request(
                    method,
                    path,
                    headers=headers,
                    json=json if method != "GET" and method != "DELETE" else None,
                )
            except httpx.ConnectError:
                # Never sent: safe to repeat even a mutation.
                raise CaddyUnreachable(
                    "admin API refused the connection", operation=operation, sent=False
                ) from None
            except httpx.HTTPError as exc:
                raise CaddyUnreachable(
                    f"admin API failed ({type(exc).__name__})", operation=operation
                ) from None
            span.set("http.response.status_code", response.status_code)
        if response.status_code >= 400:
            raise _error(response, operation)
        return response


def _error(response: httpx.Response, operation: str) -> CaddyError:
    try:
        message = str(response.json().get("error", "")) or response.reason_phrase
    except ValueError:
        message = response.text.strip()[:500] or response.reason_phrase
    kind = CaddyConflict if response.status_code == 412 else CaddyError
    return kind(response.status_code, message, operation=operation)


def _owned_id(route: Json) -> str:
    if not is_owned_route(route):
        raise ValueError(f"refusing to touch a route homeport does not own: {route.get('@id')!r}")
    return str(route["@id"])


def _ids(routes: Sequence[Json]) -> list[str]:
    return [str(r.get("@id", "")) for r in routes]


def _indexes(routes: Sequence[object], object_id: str) -> list[int]:
    return [i for i, r in enumerate(routes) if isinstance(r, dict) and r.get("@id") == object_id]


def _dig(value: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
