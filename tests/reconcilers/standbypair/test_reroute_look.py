"""A pair's reroute drops the routes' shared read of Caddy (``CADDY_ROUTES``), as a
ProxyRoute's own write does: the route's next look — its status, what ``homeport get``
shows after a failover — sees the new primary, not a read from before the reroute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeport.reconcilers.freshlook import CADDY_ROUTES
from homeport.reconcilers.standbypair.actions import RouteTarget
from homeport.reconcilers.standbypair.reconciler import StandbyPairReconciler


class Caddy:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def ensure_server(self) -> None:
        self.log.append("ensure_server")

    def serves(self, exposure: str) -> bool:
        return True

    async def upsert_route(self, route: dict[str, Any], exposure: str) -> None:
        self.log.append(f"upsert {route['@id']}")

    async def verify_route(self, route: dict[str, Any]) -> bool:
        return True


class Clients:
    def __init__(self, log: list[str]) -> None:
        self.caddy = Caddy(log)


class Context:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.clients = Clients(self.log)

    def invalidate(self, key: str) -> None:
        self.log.append(f"invalidate {key}")


async def test_a_reroute_drops_the_routes_shared_read(tmp_path: Path) -> None:
    ctx = Context()
    pair = StandbyPairReconciler(secrets_dir=tmp_path, ssh_port=22)
    routes = (
        RouteTarget("shop", {"@id": "homeport-route-shop"}),
        RouteTarget("admin", {"@id": "homeport-route-admin"}),
    )
    await pair._routes(routes, ctx)  # type: ignore[arg-type]
    assert ctx.log == [
        "ensure_server",
        "upsert homeport-route-shop",
        f"invalidate {CADDY_ROUTES}",
        "upsert homeport-route-admin",
        f"invalidate {CADDY_ROUTES}",
    ]
