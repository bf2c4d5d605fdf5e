"""StandbyPair plan fixtures: the failover state machine, (desired, observed) → actions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.kinds import StandbyPair
from homeport.kinds.app import HealthCheck
from homeport.reconcilers.standbypair import plan_pair
from homeport.reconcilers.standbypair.plan import (
    Member,
    PairObserved,
    PairRoute,
    ProbeView,
    serving_route,
)
from homeport.reconcilers.standbypair.state import CHANNEL, PairState, parse_time
from homeport.reconcilers.standbypair.transitions import allowed, entered
from tests.reconcilers.fixtures import Case, check_plan, load_cases

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
CASES = load_cases(
    Path(__file__).parent / "cases", "StandbyPair", extra_expect=frozenset({"conditions"})
)


def _member(app: str, data: dict[str, Any]) -> Member:
    defaults: dict[str, Any] = {
        "host": {"shop-a": "10.0.0.1", "shop-b": "10.0.0.2"}.get(app),
        "port": 8080,
        "unit": f"homeport-{app}.service",
        "env_path": f"/etc/homeport/apps/{app}.env",
        "data_dir": f"/srv/apps/{app}/data",
        "vmid": {"shop-a": 1001, "shop-b": 1002}.get(app),
        "node": {"shop-a": "pve1", "shop-b": "pve2"}.get(app),
        "app_ready": True,
        "app_epoch": 1,
    }
    merged = {**defaults, **data}
    if "health" in merged:
        merged["health"] = HealthCheck.model_validate(merged["health"])
    return Member(app=app, **merged)


def _probe(data: dict[str, Any]) -> ProbeView:
    times = ("healthy_since", "failed_since", "detected_at")
    return ProbeView(**{k: parse_time(v) if k in times else v for k, v in data.items()})


def observed_for(case: Case) -> PairObserved:
    data = dict(case.observed)
    # The memory as a store holds it (ISO strings): loaded as the reconciler loads it.
    memory = PairState.load(
        {
            "primary": "shop-a",
            "standby": "shop-b",
            "established": True,
            "last_sync": "2026-01-01T11:59:50+00:00",
            "replication_keys": ["shop-a", "shop-b"],
            "replication_channel": CHANNEL,
            **data.pop("memory", {}),
        },
        primary="shop-a",
        standby="shop-b",
    )
    members = data.pop("members", {})
    request = data.pop("request", None)
    return PairObserved(
        name="shop",
        memory=memory,
        primary=_member(memory.primary, members.get(memory.primary, {})),
        standby=_member(memory.standby, members.get(memory.standby, {})),
        primary_probe=_probe(data.pop("primary_probe", {"healthy": True})),
        standby_probe=_probe(data.pop("standby_probe", {"healthy": True})),
        routes=tuple(
            PairRoute(**r)
            for r in data.pop("routes", [{"name": "shop", "host": "shop.example.com"}])
        ),
        request=request,
        requested_at=parse_time(request.get("at")) if request else None,
        ssh_port=2222,
        # As observe reads the holds: a held primary App holds the pair's failovers too.
        power_held=data.pop("power_held", None) or data.get("primary_held"),
        primary_held=data.pop("primary_held", None),
        standby_held=data.pop("standby_held", False),
        power_released_at=parse_time(data.pop("power_released_at", None)),
    )


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 18


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_pair_plan(case: Case) -> None:
    assert isinstance(case.desired, StandbyPair | type(None))
    plan = plan_pair(case.desired, observed_for(case), now=NOW)
    check_plan(plan, case.expect)
    for condition in case.expect.get("conditions", []):
        assert any(
            c.type == condition["type"] and condition["message"] in c.message
            for c in plan.conditions
        ), [c.message for c in plan.conditions]
    if "state_reason" in case.expect:
        assert plan.state_reason == case.expect["state_reason"]


@pytest.mark.parametrize(
    ("check", "uri"), [({"type": "http"}, "/healthz"), ({"type": "tcp"}, None)]
)
def test_caddy_checks_a_pair_member_the_way_its_app_is_checked(
    check: dict[str, str], uri: str | None
) -> None:
    member = _member("shop-b", {"health": check})
    route = serving_route(PairRoute("shop", "shop.example.com"), member, 2)
    active = route["handle"][0].get("health_checks", {}).get("active")
    assert (active["uri"] if active else None) == uri


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_phase_change_the_plan_emits_is_a_transition_of_the_table(case: Case) -> None:
    """Performed in order, the plan's actions walk the table (``transitions.py``)."""
    assert isinstance(case.desired, StandbyPair | type(None))
    seen = observed_for(case)
    phase = seen.memory.phase
    for action in plan_pair(case.desired, seen, now=NOW).actions:
        assert allowed(phase, action), f"{phase} → {entered(action)} by {action!r}"
        phase = entered(action) or phase
