"""A Healthy pair's rules (``plan.py``'s ``HEALTHY_GUARDS``), each on its own: it decides
when its condition holds and passes (None) to the next rule otherwise. The fixture cases
(``cases/*.yaml``) check the rules together, in their order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from homeport.kinds import StandbyPair
from homeport.reconcilers.standbypair.plan import (
    HEALTHY_GUARDS,
    Facts,
    Guard,
    estate_final_sync,
    estate_held,
    failback_due,
    not_established,
    primary_crossed_threshold,
    primary_failing,
    primary_in_maintenance,
    primary_not_probed_yet,
    replication_keys_missing,
    self_fence_guards_missing,
    serving,
    standby_hung,
)
from tests.reconcilers.fixtures import Case, resource
from tests.reconcilers.standbypair.test_plan_fixtures import NOW, observed_for

DOWN = {
    "healthy": False,
    "failures": 3,
    "failed_since": (NOW - timedelta(seconds=3)).isoformat(),
    "detected_at": (NOW - timedelta(seconds=1)).isoformat(),
    "last_error": "timeout",
}
HUNG = {
    "healthy": False,
    "failures": 200,
    "failed_since": (NOW - timedelta(minutes=4)).isoformat(),
    "last_error": "timeout",
}


def facts(observed: dict[str, Any] | None = None, **spec: Any) -> Facts:
    desired = resource(
        "StandbyPair",
        "shop",
        {
            "primary": "shop-a",
            "standby": "shop-b",
            "probe": {"intervalSeconds": 1, "timeoutSeconds": 0.5, "failureThreshold": 3},
            "replication": {"intervalSeconds": 30, "maxLagSeconds": 300},
            **spec,
        },
    )
    assert isinstance(desired, StandbyPair)
    seen = observed_for(Case("guard", desired, observed or {}, {}))
    return Facts(desired, seen, NOW, {})


def verbs(guard: Guard, at: Facts) -> list[str]:
    plan = guard(at)
    assert plan is not None, f"{guard.__name__} passed"
    return [a.verb for a in plan.actions]


# (guard, facts where it decides, facts where it passes)
HOLD = "stopped by `homeport estate shutdown` #2 (layer 3, apps)"
ANSWERED = {"hold": HOLD, "at": NOW.isoformat(), "outcome": "synced", "message": "synced"}

CASES: list[tuple[Guard, Facts, Facts]] = [
    (
        estate_final_sync,
        facts({"primary_held": HOLD}),
        facts({"primary_held": HOLD, "memory": {"final_sync": ANSWERED}}),
    ),
    (estate_held, facts({"power_held": "estate shutdown #2"}), facts()),
    (primary_crossed_threshold, facts({"primary_probe": DOWN}), facts()),
    (
        primary_in_maintenance,
        facts({"members": {"shop-a": {"maintenance": True}}}),
        facts({"members": {"shop-a": {"maintenance": True}, "shop-b": {"maintenance": True}}}),
    ),
    (
        failback_due,
        facts(
            {
                "memory": {"primary": "shop-b", "standby": "shop-a", "epoch": 2},
                "standby_probe": {"healthy": True, "healthy_since": "2026-01-01T10:00:00+00:00"},
            },
            failback={"mode": "automatic", "afterHealthySeconds": 3600},
        ),
        facts(
            {
                "memory": {"primary": "shop-b", "standby": "shop-a", "epoch": 2},
                "standby_probe": {"healthy": True, "healthy_since": "2026-01-01T11:30:00+00:00"},
            },
            failback={"mode": "automatic", "afterHealthySeconds": 3600},
        ),
    ),
    (replication_keys_missing, facts({"memory": {"replication_keys": []}}), facts()),
    (
        standby_hung,
        facts(
            {"standby_probe": HUNG, "members": {"shop-b": {"vm_unresponsive": True}}},
            failover={"resetStandbyAfterSeconds": 60},
        ),
        facts({"standby_probe": HUNG}, failover={"resetStandbyAfterSeconds": 60}),
    ),
    (
        self_fence_guards_missing,
        facts(selfFence={"enabled": True}),
        facts({"memory": {"self_fence_on": ["shop-a", "shop-b"]}}, selfFence={"enabled": True}),
    ),
    (primary_not_probed_yet, facts({"primary_probe": {}}), facts()),
    (not_established, facts({"memory": {"established": False}}), facts()),
    (
        primary_failing,
        facts({"primary_probe": {**DOWN, "failures": 1}}),
        facts(),
    ),
]


def test_every_guard_has_its_test_and_the_order_is_the_policy() -> None:
    assert [guard for guard, _, _ in CASES] == list(HEALTHY_GUARDS)


@pytest.mark.parametrize(
    ("guard", "applies", "passes"), CASES, ids=lambda v: getattr(v, "__name__", "")
)
def test_a_guard_decides_when_its_condition_holds_and_passes_otherwise(
    guard: Guard, applies: Facts, passes: Facts
) -> None:
    assert guard(applies) is not None
    assert guard(passes) is None


def test_what_each_guard_decides() -> None:
    held = estate_held(facts({"power_held": "estate shutdown #2"}))
    assert held is not None and held.state_reason == "EstateShutdown" and not held.actions
    assert verbs(estate_final_sync, CASES[0][1]) == ["estate-final-sync"]
    assert verbs(primary_crossed_threshold, CASES[2][1])[:3] == ["failover", "cut-ingress", "fence"]
    assert verbs(primary_in_maintenance, CASES[3][1])[0] == "failover"
    assert verbs(replication_keys_missing, CASES[5][1]) == ["replication-keys"]
    assert verbs(standby_hung, CASES[6][1]) == ["reset-standby"]
    failing = primary_failing(CASES[10][1])
    assert failing is not None and failing.state_reason == "Detecting"
    waiting = primary_not_probed_yet(CASES[8][1])
    assert waiting is not None and waiting.waiting == "probing the primary"


def test_when_no_guard_applies_the_primary_serves() -> None:
    at = facts()
    assert all(guard(at) is None for guard in HEALTHY_GUARDS)
    plan = serving(at)
    assert plan.ready and plan.reason == "shop-a serves (epoch 1), shop-b is warm"
    down = serving(facts({"standby_probe": {"healthy": False, "last_error": "refused"}}))
    assert [c.reason for c in down.conditions] == ["StandbyDown"]
