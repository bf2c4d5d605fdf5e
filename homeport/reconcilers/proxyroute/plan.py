"""The ProxyRoute's plan (pure): the route Caddy should hold for what was seen, upserted or
deleted, and the upstream it points at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeport.clients.caddy_config import (
    Exposure,
    RouteSpec,
    reverse_proxy_route,
    route_id,
)
from homeport.clients.caddy_config import upstream as upstream_address
from homeport.kinds import ProxyRoute
from homeport.reconcilers.base import Action, Plan
from homeport.reconcilers.pairroutes import MemberTimeouts


@dataclass(frozen=True)
class Upstream:
    address: str
    port: int
    health_path: str | None
    epoch: int | None
    app: str
    timeouts: MemberTimeouts | None = None
    """A pair member's timeouts (``pairroutes.py``); None for a plain App."""


@dataclass(frozen=True)
class RouteObserved:
    name: str
    route: Mapping[str, Any] | None
    upstream: Upstream | None
    problem: str | None = None
    exposure: Exposure | None = None
    """The server block that runs the route now (``None``: none of homeport's)."""
    tailnet_served: bool = True
    """Is Caddy configured with a tailnet listener (``[caddy] tailnet_listen``)?"""


@dataclass(frozen=True)
class UpsertRoute(Action):
    route_id: str
    hosts: str
    upstream: str
    epoch: int | None
    route: Mapping[str, Any]
    exposure: Exposure = "public"
    verb = "route"

    def describe(self) -> str:
        epoch = f", epoch {self.epoch}" if self.epoch is not None else ""
        where = " on the tailnet only" if self.exposure == "tailnet" else ""
        return f"route {self.hosts}{where} → {self.upstream}{epoch} (Caddy @id {self.route_id})"

    def identity(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class DeleteRoute(Action):
    route_id: str
    verb = "unroute"

    def describe(self) -> str:
        return f"remove Caddy route {self.route_id}"


def route_for(desired: ProxyRoute, upstream: Upstream) -> dict[str, Any]:
    return reverse_proxy_route(
        RouteSpec(
            name=desired.name,
            hosts=[desired.spec.host],
            upstreams=[upstream_address(upstream.address, upstream.port)],
            path_prefix=desired.spec.path_prefix,
            health_uri=upstream.health_path if desired.spec.upstream_health_check else None,
            epoch=upstream.epoch,
            **(upstream.timeouts.route_fields() if upstream.timeouts else {}),
        )
    )


def plan_route(desired: ProxyRoute | None, seen: RouteObserved, *, now: datetime) -> Plan:
    rid = route_id(seen.name)
    if desired is None:
        if seen.route is None:
            return Plan(reason="no route left", gone=True)
        return Plan(actions=(DeleteRoute(rid),), gone=True)
    if desired.spec.exposure == "tailnet" and not seen.tailnet_served:
        return Plan(
            waiting="the router has no tailnet listener for this tailnet-only route: set "
            "[caddy] tailnet_listen to the router's tailnet address in homeport.toml",
            requeue_after=60,
        )
    if seen.upstream is None:
        return Plan(waiting=seen.problem or "upstream unknown", requeue_after=5)
    wanted = route_for(desired, seen.upstream)
    target = upstream_address(seen.upstream.address, seen.upstream.port)
    details = {
        "routeId": rid,
        "upstream": target,
        "app": seen.upstream.app,
        "epoch": seen.upstream.epoch,
        "exposure": desired.spec.exposure,
    }
    if seen.route != wanted or seen.exposure != desired.spec.exposure:
        upsert = UpsertRoute(
            rid, desired.spec.host, target, seen.upstream.epoch, wanted, desired.spec.exposure
        )
        return Plan(actions=(upsert,), details=details)
    return Plan(reason=f"{desired.spec.host} → {target}", ready=True, details=details)
