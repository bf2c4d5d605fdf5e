"""The Caddy JSON homeport owns: route builder, server blocks per TLS mode, ETags.

Pure functions, no I/O. The ProxyRoute reconciler builds routes with
``reverse_proxy_route``; ``caddy.CaddyClient`` puts them into the server block built by
``server_block`` and guards its writes with ``etag``. Everything homeport owns carries an
``@id`` starting with ``homeport-``; anything else in Caddy's config is left alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

TlsMode = Literal["acme", "internal", "off"]
Exposure = Literal["public", "tailnet"]
"""Which server block serves a route: the public listener or the router's tailnet address."""

ROUTE_PREFIX = "homeport-route-"
CATCH_ALL_ID = "homeport-catch-all"
REDIRECT_ID = "homeport-redirect"
TLS_POLICY_ID = "homeport-tls"
TAILNET_TLS_POLICY_ID = "homeport-tls-tailnet"
EPOCH_HEADER = "X-Homeport-Epoch"

Json = dict[str, Any]


def route_id(name: str) -> str:
    """The ``@id`` of the route for ProxyRoute ``name``."""
    return f"{ROUTE_PREFIX}{name}"


def is_owned_route(route: object) -> bool:
    return isinstance(route, dict) and str(route.get("@id", "")).startswith(ROUTE_PREFIX)


def upstream(address: str, port: int) -> str:
    """Caddy's ``dial`` form: ``10.0.0.5:8080`` or ``[fd7a::1]:8080``."""
    try:
        is_v6 = ipaddress.ip_address(address).version == 6
    except ValueError:
        is_v6 = False
    return f"[{address}]:{port}" if is_v6 else f"{address}:{port}"


@dataclass(frozen=True, kw_only=True)
class RouteSpec:
    """One public route: hostnames (and a path prefix) to upstreams, health-aware."""

    name: str
    hosts: Sequence[str]
    upstreams: Sequence[str]
    """``addr:port`` of each upstream, the preferred one first."""
    path_prefix: str | None = None
    health_uri: str | None = None
    """Path Caddy checks actively (the App's health path); ``None`` = passive checks only."""
    health_interval: str = "5s"
    health_timeout: str = "2s"
    try_duration: str = "5s"
    """How long Caddy keeps trying other upstreams for one request."""
    fail_duration: str = "10s"
    """How long a failed upstream counts as down (passive health check)."""
    epoch: int | None = None
    """StandbyPair fencing epoch, sent upstream as ``X-Homeport-Epoch``."""
    dial_timeout: float | None = None
    """Seconds to connect to an upstream (Caddy's default: 3 s)."""
    response_header_timeout: float | None = None
    """Seconds an upstream has to send its response headers; then Caddy answers 504 and
    drops the upstream connection (default: none, a hung upstream holds the request)."""


TRY_INTERVAL = 0.25
"""Seconds Caddy waits before it retries a request that failed (``try_interval``)."""


def reverse_proxy_route(spec: RouteSpec) -> Json:
    """The route JSON for ``spec`` (stable key order, so equal specs give equal JSON)."""
    if not spec.hosts or not spec.upstreams:
        raise ValueError(f"route {spec.name!r} needs at least one host and one upstream")
    match: Json = {"host": sorted(spec.hosts)}
    if spec.path_prefix:
        prefix = spec.path_prefix.rstrip("/")
        match["path"] = [prefix, f"{prefix}/*"]
    handler: Json = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": u} for u in spec.upstreams],
        "load_balancing": {
            "selection_policy": {"policy": "first"},
            "try_duration": spec.try_duration,
            "try_interval": duration(TRY_INTERVAL),
        },
        "health_checks": _health_checks(spec),
    }
    transport = _transport(spec)
    if transport:
        handler["transport"] = transport
    if spec.epoch is not None:
        handler["headers"] = {"request": {"set": {EPOCH_HEADER: [str(spec.epoch)]}}}
    return {"@id": route_id(spec.name), "match": [match], "handle": [handler], "terminal": True}


def duration(seconds: float) -> str:
    """A Caddy duration string with millisecond precision (``"3500ms"``)."""
    return f"{round(seconds * 1000)}ms"


def _transport(spec: RouteSpec) -> Json:
    transport: Json = {}
    if spec.dial_timeout is not None:
        transport["dial_timeout"] = duration(spec.dial_timeout)
    if spec.response_header_timeout is not None:
        transport["response_header_timeout"] = duration(spec.response_header_timeout)
    return {"protocol": "http", **transport} if transport else {}


def _health_checks(spec: RouteSpec) -> Json:
    checks: Json = {"passive": {"fail_duration": spec.fail_duration, "max_fails": 1}}
    if spec.health_uri:
        checks["active"] = {
            "uri": spec.health_uri,
            "interval": spec.health_interval,
            "timeout": spec.health_timeout,
        }
    return checks


def catch_all_route() -> Json:
    """Kept last in homeport's server: unknown hosts get 404 (Caddy's default is an empty 200)."""
    return {
        "@id": CATCH_ALL_ID,
        "handle": [{"handler": "static_response", "status_code": 404}],
        "terminal": True,
    }


def redirect_route(https_port: int | None) -> Json:
    """HTTP → HTTPS for every host, keeping the path and query."""
    port = f":{https_port}" if https_port not in (None, 443) else ""
    location = f"https://{{http.request.host}}{port}{{http.request.uri}}"
    return {
        "@id": REDIRECT_ID,
        "handle": [
            {
                "handler": "static_response",
                "status_code": 308,
                "headers": {"Location": [location]},
            }
        ],
        "terminal": True,
    }


def listen_port(listen: Sequence[str]) -> int | None:
    """The port of the first listener address (``":443"``, ``"127.0.0.1:18443"``)."""
    if not listen:
        return None
    _, _, port = listen[0].rpartition(":")
    return int(port) if port.isdigit() else None


@dataclass(frozen=True)
class ServerLayout:
    """What homeport owns in ``apps.http.servers`` for a TLS mode: name → owned fields."""

    servers: Mapping[str, Json]
    """Each owned server's ``listen`` and ``automatic_https`` (routes are handled apart)."""
    fixed_routes: Mapping[str, Json]
    """Servers whose whole route list homeport owns (the redirect server)."""
    main: str
    tailnet: str | None = None
    """The server for ``exposure: tailnet`` routes, if a tailnet listener is configured."""

    def server_for(self, exposure: Exposure) -> str | None:
        """The server block that serves routes of ``exposure`` (``None``: none configured)."""
        return self.main if exposure == "public" else self.tailnet


@dataclass(frozen=True)
class RoutesSeen:
    """homeport's route servers as Caddy ran them at one read: every route's content and
    server at once, for a resync that looks at many routes (``CaddyClient.routes_seen``)."""

    routes: Mapping[Exposure, tuple[Json, ...]]
    """Each exposure's server's route list, in order (empty: no such server)."""
    elsewhere: frozenset[object] = frozenset()
    """The ``@id`` of every route in a server that is not homeport's: an id Caddy would
    resolve there too (``placed``)."""

    def placed(self, route_id: str) -> tuple[Exposure, ...] | None:
        """The server (by exposure) of each copy of route ``route_id`` in homeport's
        servers, or ``None`` when some server that is not homeport's has one too: only a
        route placed exactly once may be written by its id (``CaddyClient.upsert_route``)."""
        if route_id in self.elsewhere:
            return None
        return self._placements.get(route_id, ())

    def route(self, route_id: str) -> Json | None:
        """The route with ``@id`` ``route_id`` (the public server's first), or ``None``."""
        found = self._by_id.get(route_id)
        return found[1] if found else None

    def exposure(self, route_id: str) -> Exposure | None:
        """Which of homeport's servers runs route ``route_id`` (``None``: neither)."""
        found = self._by_id.get(route_id)
        return found[0] if found else None

    @cached_property
    def _by_id(self) -> dict[object, tuple[Exposure, Json]]:
        # Every route's look asks for its own: a scan each was O(estate) per route.
        found: dict[object, tuple[Exposure, Json]] = {}
        for exposure, listed in self.routes.items():
            for route in listed:
                found.setdefault(route.get("@id"), (exposure, route))
        return found

    @cached_property
    def _placements(self) -> dict[object, tuple[Exposure, ...]]:
        found: dict[object, tuple[Exposure, ...]] = {}
        for exposure, listed in self.routes.items():
            for route in listed:
                key = route.get("@id")
                found[key] = (*found.get(key, ()), exposure)
        return found


def tailnet_server_name(name: str) -> str:
    return f"{name}-tailnet"


def server_layout(
    name: str,
    *,
    tls: TlsMode,
    https_listen: Sequence[str],
    http_listen: Sequence[str],
    tailnet_listen: Sequence[str] = (),
) -> ServerLayout:
    """The owned server blocks.

    * ``acme``: the main server on ``https_listen`` with Caddy's automatic HTTPS, which
      also answers ACME challenges and redirects HTTP on Caddy's ``http_port`` (80).
    * ``internal``: the main server on ``https_listen`` with certificates from Caddy's
      local CA, and a homeport-owned redirect server on ``http_listen``.
    * ``off``: plain HTTP on ``http_listen`` (tests only).

    With ``tailnet_listen``, a second server ``<name>-tailnet`` listens only there and
    serves the ``exposure: tailnet`` routes: HTTPS with Caddy's local CA (``tls_policy``
    for tailnet hosts), never redirects from, nor ACME challenges on, a public port.
    """
    layout = _public_layout(name, tls=tls, https_listen=https_listen, http_listen=http_listen)
    if not tailnet_listen:
        return layout
    tailnet = tailnet_server_name(name)
    block: Json = {"listen": list(tailnet_listen)}
    block["automatic_https"] = {"disable": True} if tls == "off" else {"disable_redirects": True}
    servers = {**layout.servers, tailnet: block}
    return ServerLayout(servers, layout.fixed_routes, layout.main, tailnet)


def _public_layout(
    name: str, *, tls: TlsMode, https_listen: Sequence[str], http_listen: Sequence[str]
) -> ServerLayout:
    if tls == "off":
        block = {"listen": list(http_listen), "automatic_https": {"disable": True}}
        return ServerLayout({name: block}, {}, name)
    main: Json = {"listen": list(https_listen)}
    if tls == "acme":
        return ServerLayout({name: main}, {}, name)
    main["automatic_https"] = {"disable_redirects": True}
    redirect = f"{name}-redirect"
    redirect_block = {"listen": list(http_listen), "automatic_https": {"disable": True}}
    routes = {redirect: redirect_route(listen_port(https_listen))}
    return ServerLayout({name: main, redirect: redirect_block}, routes, name)


def tls_policy(hosts: Sequence[str], *, tls: TlsMode, acme_email: str | None) -> Json | None:
    """The automation policy homeport owns for its hosts, if the mode needs one."""
    if not hosts or tls == "off" or (tls == "acme" and not acme_email):
        return None
    issuer: Json = {"module": "internal"} if tls == "internal" else {"module": "acme"}
    if tls == "acme":
        issuer["email"] = acme_email
    return {"@id": TLS_POLICY_ID, "subjects": sorted(set(hosts)), "issuers": [issuer]}


def tailnet_tls_policy(hosts: Sequence[str], *, tls: TlsMode) -> Json | None:
    """Certificates for tailnet-only hosts come from Caddy's local CA: an ACME CA cannot
    reach a name served only on the tailnet (nor issue for ``.internal``/``.local``)."""
    if not hosts or tls == "off":
        return None
    subjects = sorted(set(hosts))
    return {"@id": TAILNET_TLS_POLICY_ID, "subjects": subjects, "issuers": [{"module": "internal"}]}


def route_hosts(routes: Sequence[object]) -> list[str]:
    """Every host matched by homeport's routes."""
    hosts: set[str] = set()
    for route in routes:
        if not is_owned_route(route):
            continue
        assert isinstance(route, dict)
        for matcher in route.get("match") or []:
            hosts.update(str(h) for h in matcher.get("host") or [])
    return sorted(hosts)


def fnv1a_32(data: bytes) -> str:
    """Caddy 2.5-2.7's config hash (FNV-1a, 32 bit) as 8 hex digits."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def etag(path: str, body: bytes, header: str | None) -> str:
    """The If-Match value for a GET of ``path``: Caddy ≥ 2.8 sends it as a header; 2.6 as a
    trailer httpx cannot read, so it is recomputed from the exact body bytes."""
    return header if header else f'"{path} {fnv1a_32(body)}"'
