"""ProxyRoute plan fixtures: (desired, observed Caddy route and upstream) → route writes.

An observed ``route`` of ``<wanted>`` is exactly the route homeport would write; variants
``<wanted:ADDRESS>``, ``<wanted:epoch=N>`` and ``<wanted:host=HOST>`` are that route with one
thing different, as Caddy holds it after an address change, a failover or a host rename.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from homeport.kinds import App, ProxyRoute, StandbyPair
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.pairroutes import MemberTimeouts
from homeport.reconcilers.proxyroute.plan import (
    RouteObserved,
    UpsertRoute,
    Upstream,
    plan_route,
    route_for,
)
from homeport.reconcilers.proxyroute.reconciler import upstream_of
from homeport.reconcilers.standbypair.plan import Member, PairRoute, serving_route
from homeport.reconcilers.standbypair.state import IN_FLIGHT, Failover, PairState, Phase
from tests.reconcilers.fixtures import Case, ReadContext, check_plan, load_cases, resource

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
CASES = load_cases(
    Path(__file__).parent / "cases", "ProxyRoute", extra_expect=frozenset({"route", "exposure"})
)


def _existing_route(marker: str, desired: ProxyRoute, upstream: Upstream) -> dict[str, Any]:
    variant = marker.removeprefix("<wanted").removesuffix(">").removeprefix(":")
    if variant.startswith("epoch="):
        upstream = dataclasses.replace(upstream, epoch=int(variant.split("=")[1]))
    elif variant.startswith("host="):
        spec = desired.spec.model_copy(update={"host": variant.split("=")[1]})
        desired = desired.model_copy(update={"spec": spec})
    elif variant:
        upstream = dataclasses.replace(upstream, address=variant)
    return route_for(desired, upstream)


def observed_for(case: Case) -> RouteObserved:
    upstream = Upstream(**case.observed["upstream"]) if case.observed.get("upstream") else None
    route = case.observed.get("route")
    if isinstance(route, str):
        assert isinstance(case.desired, ProxyRoute) and upstream is not None, case.name
        route = _existing_route(route, case.desired, upstream)
    name = case.desired.name if case.desired else "shop"
    exposure = case.observed.get("exposure", "public") if route is not None else None
    return RouteObserved(
        name,
        route,
        upstream,
        case.observed.get("problem"),
        exposure,
        tailnet_served=case.observed.get("tailnet_served", True),
    )


def route_summary(route: dict[str, Any]) -> dict[str, Any]:
    handler = route["handle"][0]
    active = handler.get("health_checks", {}).get("active")
    epoch = handler.get("headers", {}).get("request", {}).get("set", {}).get("X-Homeport-Epoch")
    return {
        "dial": handler["upstreams"][0]["dial"],
        "health_uri": active["uri"] if active else None,
        "epoch": epoch[0] if epoch else None,
        "hosts": route["match"][0]["host"],
        "paths": route["match"][0].get("path"),
    }


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_route_plan(case: Case) -> None:
    assert isinstance(case.desired, ProxyRoute | type(None))
    plan = plan_route(case.desired, observed_for(case), now=NOW)
    check_plan(plan, case.expect)
    if "route" in case.expect:
        written = [a for a in plan.actions if isinstance(a, UpsertRoute)]
        assert len(written) == 1
        summary = route_summary(dict(written[0].route))
        for key, value in case.expect["route"].items():
            assert summary[key] == value, f"route {key}: {summary[key]}"
        assert written[0].route["@id"] == f"homeport-route-{case.desired.name}"
        assert written[0].route["terminal"] is True
    if "exposure" in case.expect:
        written = [a for a in plan.actions if isinstance(a, UpsertRoute)]
        assert [a.exposure for a in written] == [case.expect["exposure"]]


APP = {"vm": "web", "source": {"repo": "https://git.example.com/shop.git"}, "execStart": "/bin/x"}


def _context(memory: dict[str, Any], statuses: dict[tuple[str, str], dict[str, Any]]) -> Any:
    objects = {
        ("App", "shop"): resource("App", "shop", {**APP, "port": 8080}),
        ("App", "db-a"): resource("App", "db-a", {**APP, "port": 5000}),
        ("App", "db-b"): resource(
            "App", "db-b", {**APP, "port": 5000, "healthCheck": {"type": "tcp"}}
        ),
        ("StandbyPair", "db"): resource(
            "StandbyPair", "db", {"primary": "db-a", "standby": "db-b"}
        ),
    }
    return cast(ReconcileContext, ReadContext(objects, statuses, {("StandbyPair", "db"): memory}))


def _route(spec: dict[str, Any]) -> ProxyRoute:
    made = resource("ProxyRoute", "r", {"host": "x.example.com", **spec})
    assert isinstance(made, ProxyRoute)
    return made


def test_an_app_route_points_at_the_apps_address() -> None:
    ctx = _context({}, {("App", "shop"): {"address": "100.64.0.5"}})
    upstream, problem = upstream_of(_route({"app": "shop"}), ctx)
    assert problem is None
    assert upstream == Upstream("100.64.0.5", 8080, "/healthz", None, "shop")


def test_an_app_without_an_address_is_waited_for() -> None:
    upstream, problem = upstream_of(_route({"app": "shop"}), _context({}, {}))
    assert upstream is None and problem == "address of App shop unknown"


def test_a_pair_route_follows_the_pairs_memory_not_its_spec() -> None:
    statuses = {
        ("App", "db-a"): {"address": "100.64.0.6"},
        ("App", "db-b"): {"address": "100.64.0.7"},
    }
    upstream, _ = upstream_of(_route({"standbyPair": "db"}), _context({}, statuses))
    # The pair's default probe (2 s x 3 + 1 s) bounds how long a member may take to answer.
    timeouts = MemberTimeouts(dial=1.0, response_header=7.0, try_duration=1.0)
    assert upstream == Upstream("100.64.0.6", 5000, "/healthz", 1, "db-a", timeouts)
    promoted = _context({"primary": "db-b", "epoch": 4, "phase": "Steady"}, statuses)
    upstream, _ = upstream_of(_route({"standbyPair": "db"}), promoted)
    assert upstream == Upstream("100.64.0.7", 5000, None, 4, "db-b", timeouts)


def _stored(phase: Phase) -> dict[str, Any]:
    """The pair's memory as its reconciler stores it in ``phase`` (a failover's record
    while one runs)."""
    record = Failover(2, "db-b", "db-a", "automatic") if phase.in_flight else None
    state = PairState("db-a", "db-b", epoch=2, phase=phase, failover=record)
    return dict(state.dump())


@pytest.mark.parametrize("phase", sorted(IN_FLIGHT))
def test_a_pair_failing_over_owns_its_route(phase: Phase) -> None:
    statuses = {("App", "db-a"): {"address": "100.64.0.6"}}
    ctx = _context(_stored(phase), statuses)
    upstream, problem = upstream_of(_route({"standbyPair": "db"}), ctx)
    assert upstream is None and problem is not None and "failing over" in problem


@pytest.mark.parametrize("phase", sorted(set(Phase) - IN_FLIGHT))
def test_a_pair_at_rest_is_routed_to_its_primary(phase: Phase) -> None:
    statuses = {("App", "db-a"): {"address": "100.64.0.6"}}
    upstream, problem = upstream_of(
        _route({"standbyPair": "db"}), _context(_stored(phase), statuses)
    )
    assert (
        problem is None and upstream is not None and (upstream.app, upstream.epoch) == ("db-a", 2)
    )


@pytest.mark.parametrize("phase", ["Fencing", "Promoting", "Rerouting"])
def test_a_store_written_mid_failover_by_an_older_homeport_still_owns_its_route(
    phase: str,
) -> None:
    """Such a store holds the phase and the failover's record (written together)."""
    record = {"epoch": 2, "trigger": "automatic", "from": "db-b", "to": "db-a", "steps": []}
    memory = {"primary": "db-a", "epoch": 2, "phase": phase, "failover": record}
    ctx = _context(memory, {("App", "db-a"): {"address": "100.64.0.6"}})
    upstream, problem = upstream_of(_route({"standbyPair": "db"}), ctx)
    assert upstream is None and problem is not None and "failing over" in problem


def test_a_pair_missing_from_the_revision_is_waited_for() -> None:
    upstream, problem = upstream_of(_route({"standbyPair": "other"}), _context({}, {}))
    assert upstream is None and problem is not None and "not in the adopted revision" in problem


def test_a_pair_route_is_written_alike_by_the_route_and_by_the_pair() -> None:
    """The pair writes its routes while it fails over, the ProxyRoute keeps them: the same
    JSON (timeouts included), or they would rewrite each other's route."""
    ctx = _context({"primary": "db-a", "epoch": 3}, {("App", "db-a"): {"address": "100.64.0.6"}})
    desired = _route({"standbyPair": "db"})
    upstream, _ = upstream_of(desired, ctx)
    assert upstream is not None
    pair = ctx.desired("StandbyPair", "db")
    assert isinstance(pair, StandbyPair)
    app = ctx.desired("App", "db-a")
    assert isinstance(app, App)
    member = Member(app="db-a", host="100.64.0.6", port=5000, health=app.spec.health_check)
    timeouts = MemberTimeouts.of(pair.spec.probe)
    by_pair = serving_route(PairRoute("r", "x.example.com", timeouts=timeouts), member, 3)
    assert route_for(desired, upstream) == by_pair
    handler = by_pair["handle"][0]
    assert handler["transport"] == {
        "protocol": "http",
        "dial_timeout": "1000ms",
        "response_header_timeout": "7000ms",
    }
    assert handler["load_balancing"]["try_duration"] == "1000ms"
