"""The ProxyRoute reconciler: observes every route from one shared read of homeport's route
servers per window (``ROUTES``), finds the upstream (an App's address, or a StandbyPair's
current primary through its ``PairView``), and writes Caddy's config through its admin API;
a plan that would write is made again on a fresh read first."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from homeport.clients.caddy_config import (
    RoutesSeen,
    route_id,
)
from homeport.kinds import App, ProxyRoute, StandbyPair
from homeport.reconcilers.base import Action, Plan, ReconcileContext, Reconciler
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.freshlook import CADDY_ROUTES, began, shared_look
from homeport.reconcilers.pairroutes import MemberTimeouts
from homeport.reconcilers.pairview import pair_view
from homeport.reconcilers.proxyroute.plan import (
    DeleteRoute,
    RouteObserved,
    UpsertRoute,
    Upstream,
    plan_route,
)
from homeport.reconcilers.proxyroute.written import RoutesRead, WrittenRoutes


def upstream_of(desired: ProxyRoute, ctx: ReconcileContext) -> tuple[Upstream | None, str | None]:
    epoch = None
    timeouts = None
    app_name = desired.spec.app
    if desired.spec.standby_pair is not None:
        pair = ctx.desired("StandbyPair", desired.spec.standby_pair)
        if not isinstance(pair, StandbyPair):
            return None, f"StandbyPair {desired.spec.standby_pair} is not in the adopted revision"
        # The pair's memory, not its status: it changes the moment a failover promotes.
        view = pair_view(pair, ctx)
        if view.in_flight:
            return (
                None,
                f"StandbyPair {pair.name} is failing over; the pair owns its routes meanwhile",
            )
        app_name = view.primary
        epoch = view.epoch
        timeouts = MemberTimeouts.of(pair.spec.probe)
    app = ctx.desired("App", str(app_name))
    details = ctx.status_details("App", str(app_name))
    address = details.get("address")
    if not isinstance(app, App) or not address:
        return None, f"address of App {app_name} unknown"
    health = app.spec.health_check.path if app.spec.health_check.type == "http" else None
    return Upstream(
        str(address),
        app.spec.port,
        health,
        int(epoch) if epoch is not None else None,
        app.name,
        timeouts,
    ), None


ROUTES = CADDY_ROUTES
"""The shared read of homeport's route servers: one per window for every route."""


SERVER_CHECKED = "caddy.server-checked"
"""homeport's server blocks created or repaired (``ensure_server``): once per window for
all the routes written in it, not before each (it reads Caddy's whole config)."""


async def routes_seen(ctx: ReconcileContext, written: WrittenRoutes) -> tuple[RoutesSeen, bool]:
    """The shared read of homeport's route servers with the routes written since, and
    whether it was made just now."""

    async def load() -> RoutesRead:
        order = began()
        return RoutesRead(await ctx.clients.caddy.routes_seen(), order)

    read, fresh = await shared_look(ctx, ROUTES, load)
    assert isinstance(read, RoutesRead)
    return written.over(read), fresh


def _seen(
    desired: ProxyRoute | None, name: str, servers: RoutesSeen, ctx: ReconcileContext
) -> RouteObserved:
    rid = route_id(name)
    route = servers.route(rid)
    if desired is None:
        return RouteObserved(name, route, None)
    upstream, problem = upstream_of(desired, ctx)
    return RouteObserved(
        name,
        route,
        upstream,
        problem,
        servers.exposure(rid) if route is not None else None,
        tailnet_served=ctx.clients.caddy.serves("tailnet"),
    )


class ProxyRouteReconciler(Reconciler[ProxyRoute, RouteObserved]):
    kind: ClassVar[str] = "ProxyRoute"
    uses = frozenset({"caddy"})
    # A pair's route must follow failovers even while the pair is not Ready.
    gated_by: ClassVar[frozenset[str] | None] = frozenset({"App"})

    def __init__(self) -> None:
        self.written = WrittenRoutes()
        """The routes written and read back since the window's read (``written.py``)."""

    async def observe(
        self, desired: ProxyRoute | None, name: str, ctx: ReconcileContext
    ) -> RouteObserved:
        servers, fresh = await routes_seen(ctx, self.written)
        seen = _seen(desired, name, servers, ctx)
        if fresh or not any(a.mutating for a in plan_route(desired, seen, now=ctx.now()).actions):
            return seen
        # The plan would write, and it was made on a shared read up to a window old: act
        # only on a fresh look (docs/architecture.md, "Shared observations").
        ctx.invalidate(ROUTES)
        servers, _ = await routes_seen(ctx, self.written)
        return _seen(desired, name, servers, ctx)

    def plan(self, desired: ProxyRoute | None, observed: RouteObserved, *, now: datetime) -> Plan:
        return plan_route(desired, observed, now=now)

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        try:
            await self._act(action, ctx)
        except BaseException:
            # What Caddy runs now is unknown: the next look at any route reads it all.
            if isinstance(action, UpsertRoute | DeleteRoute):
                self.written.forget(action.route_id)
            ctx.invalidate(ROUTES)
            raise

    async def _act(self, action: Action, ctx: ReconcileContext) -> None:
        caddy = ctx.clients.caddy
        if isinstance(action, UpsertRoute):
            await ctx.shared(SERVER_CHECKED, caddy.ensure_server)
            # The read the plan was made on (fresh: see ``observe``): a route there once is
            # written by its id, with no read of every route (``CaddyClient._rewrite``).
            servers, _ = await routes_seen(ctx, self.written)
            await caddy.upsert_route(dict(action.route), action.exposure, seen=servers)
            if not await caddy.verify_route(dict(action.route)):
                raise TemporaryError(
                    "Caddy does not run the route that was written; retrying", delay=1
                )
            # Read back (verified) in its server, and removed from the other one.
            self.written.note(action.route_id, action.exposure, dict(action.route))
        elif isinstance(action, DeleteRoute):
            await caddy.delete_route(action.route_id)
            self.written.note(action.route_id, None, None)
        else:
            raise TypeError(f"the ProxyRoute reconciler cannot perform {action!r}")
