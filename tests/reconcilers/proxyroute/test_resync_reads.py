"""What one resync of a converged estate's ProxyRoutes costs in Caddy admin API requests:
one shared read of homeport's route servers (``GET /config/apps/http/servers``) for every
route of the window, instead of a ``GET /id/<route>`` and a ``GET .../routes`` per route;
a plan that would write is made again on a fresh read (a stale shared read never writes);
a route edited by hand is still restored. Counted per request the client sends (its
``CallStats`` record each one) while a route is observed; counts, never wall-clock."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import cast

import httpx
import pytest

from homeport.clients.caddy_config import RoutesSeen
from homeport.controller.context import ControllerContext
from homeport.controller.engine import Outcome
from homeport.kinds import ProxyRoute
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.proxyroute import ProxyRouteReconciler
from homeport.reconcilers.proxyroute.reconciler import ROUTES
from homeport.reconcilers.proxyroute.written import RoutesRead, WrittenRoutes
from testkit.harness import EstateHarness, until
from tests.reconcilers.looks import StaleShared, mark_observing, observing

pytestmark = pytest.mark.integration
KINDS = {"Machine", "VM", "App", "StandbyPair", "ProxyRoute"}


async def test_a_converged_resync_reads_caddy_once_for_every_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.settled(KINDS, timeout=120)
        assert h.daemon is not None and h.daemon.engine is not None
        engine, caddy = h.daemon.engine, h.clients.caddy
        calls: Counter[str] = Counter()
        record = caddy.stats.record

        def counted(operation: str, *, mutating: bool) -> None:
            if observing.get() is not None or mutating:
                calls[operation] += 1
            record(operation, mutating=mutating)

        monkeypatch.setattr(caddy.stats, "record", counted)
        mark_observing(h.daemon.reconcilers["ProxyRoute"], monkeypatch)
        # One window for the whole resync, whatever the machine's speed: the count is then
        # the same on every run (with the product's 2 s, a long resync reads once per window).
        engine.context.ttl = 3600.0
        engine.context.invalidate_all()
        outcomes: list[Outcome] = []
        engine.observers.append(lambda outcome, _: outcomes.append(outcome))
        routes = [o.key for o in h.objects() if o.kind == "ProxyRoute"]
        assert len(routes) >= 2
        for key in routes:
            engine.queue.add(key)
        await until(lambda: not engine.queue.busy(), what="a resync of every ProxyRoute")

        looks = Counter(o.key[1] for o in outcomes if o.key[0] == "ProxyRoute")
        assert set(looks) == {name for _, name in routes}
        assert all(o.result == "converged" for o in outcomes if o.key[0] == "ProxyRoute")
        assert calls == Counter({"GET servers": 1}), calls


async def unwritten() -> RoutesRead:
    """What a read taken before the routes were written would say: empty servers."""
    return RoutesRead(RoutesSeen({"public": (), "tailnet": ()}), began=0)


async def test_a_route_plan_made_on_a_stale_read_looks_again(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.settled(KINDS, timeout=120)
        assert h.daemon is not None and h.daemon.engine is not None
        engine = h.daemon.engine
        reconciler = h.daemon.reconcilers["ProxyRoute"]
        assert isinstance(reconciler, ProxyRouteReconciler)
        obj = h.object("ProxyRoute", "shop")
        assert obj is not None
        desired = obj.resource()
        assert isinstance(desired, ProxyRoute)
        inner = engine.context.for_object(("ProxyRoute", "shop"))
        # Nothing written since the stale read either: a route written and read back
        # after a read is seen as written, over it (``written.py``).
        reconciler.written = WrittenRoutes()

        stale = StaleShared(inner, ROUTES, unwritten)
        seen = await reconciler.observe(desired, "shop", cast(ReconcileContext, stale))
        assert stale.loads == 2 and seen.route is not None
        assert reconciler.plan(desired, seen, now=inner.now()).actions == ()

        honest = StaleShared(inner, ROUTES, unwritten)
        honest.stale_served = True  # a true read: the converged look is not repeated
        seen = await reconciler.observe(desired, "shop", cast(ReconcileContext, honest))
        assert honest.loads == 1 and seen.route is not None

        # Drift is still seen: a route changed by hand is written back at the next window.
        route = seen.route
        edited = copy.deepcopy(dict(route))
        edited["match"] = [{"host": ["edited-by-hand.example.com"]}]
        admin = h.clients.caddy.settings.admin_url
        async with httpx.AsyncClient(base_url=admin, trust_env=False) as http:
            answer = await http.patch("/id/homeport-route-shop", json=edited)
            assert answer.status_code == 200, answer.text
        # A plan made on a read this reconcile made itself is fresh: no second look. (A
        # context of its own, whose window holds nothing: the read is this call's alone.)
        base = engine.context
        alone = ControllerContext(store=base.store, clock=base.clock, clients=h.clients)
        own = StaleShared(alone.for_object(("ProxyRoute", "shop")), ROUTES, unwritten)
        own.stale_served = True
        seen = await reconciler.observe(desired, "shop", cast(ReconcileContext, own))
        assert own.loads == 1 and seen.route == edited
        engine.context.invalidate_all()  # the window of the last read is over
        assert reconciler.plan(desired, seen, now=inner.now()).actions != ()
        engine.queue.add(("ProxyRoute", "shop"))
        await until(lambda: not engine.queue.busy(), what="the route's reconcile")
        assert await h.clients.caddy.get_route("homeport-route-shop") == route


async def test_a_route_written_costs_no_new_read_of_every_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route rewritten (here: edited by hand, then restored) is read back alone: the
    window's shared read is kept, and the next look at every route, the restored one
    included, reads nothing more of Caddy and finds each converged."""
    async with EstateHarness.running(tmp_path) as h:
        await h.settled(KINDS, timeout=120)
        assert h.daemon is not None and h.daemon.engine is not None
        engine, caddy = h.daemon.engine, h.clients.caddy
        route = await caddy.get_route("homeport-route-shop")
        assert route is not None
        edited = copy.deepcopy(route)
        edited["match"] = [{"host": ["edited-by-hand.example.com"]}]
        admin = caddy.settings.admin_url
        async with httpx.AsyncClient(base_url=admin, trust_env=False) as http:
            answer = await http.patch("/id/homeport-route-shop", json=edited)
            assert answer.status_code == 200, answer.text
        engine.context.ttl = 3600.0  # one window from here on, whatever the machine's speed
        engine.context.invalidate_all()
        outcomes: list[Outcome] = []
        engine.observers.append(lambda outcome, _: outcomes.append(outcome))
        calls: Counter[str] = Counter()
        record = caddy.stats.record

        def counted(operation: str, *, mutating: bool) -> None:
            calls[operation] += 1
            record(operation, mutating=mutating)

        monkeypatch.setattr(caddy.stats, "record", counted)
        careful: list[object] = []
        upsert_once = caddy._upsert_once
        monkeypatch.setattr(
            caddy, "_upsert_once", lambda *args: careful.append(args) or upsert_once(*args)
        )
        engine.queue.add(("ProxyRoute", "shop"))
        await until(lambda: not engine.queue.busy(), what="the route's reconcile")
        assert await caddy.get_route("homeport-route-shop") == route
        assert any(o.key == ("ProxyRoute", "shop") and o.result == "progressing" for o in outcomes)
        # Written by its id on the read its plan was made on, not at an index in a route
        # list read again with its ETag (``CaddyClient._rewrite``).
        assert calls["PATCH route"] == 1 and careful == [], calls

        calls.clear()
        outcomes.clear()
        routes = [o.key for o in h.objects() if o.kind == "ProxyRoute"]
        for key in routes:
            engine.queue.add(key)
        await until(lambda: not engine.queue.busy(), what="a resync of every ProxyRoute")
        assert {o.key for o in outcomes if o.key[0] == "ProxyRoute"} == set(routes)
        assert all(o.result == "converged" for o in outcomes if o.key[0] == "ProxyRoute")
        assert calls == Counter(), calls
