"""Machine plan fixtures: (desired, observed) → readiness, drain state and conditions."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from homeport.kinds import Machine
from homeport.reconcilers.base import EstateView
from homeport.reconcilers.machine import MachineObserved, plan_machine, primaries_on
from tests.reconcilers.fixtures import (
    Case,
    ReadContext,
    check_conditions,
    check_plan,
    load_cases,
    resource,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
CASES = load_cases(
    Path(__file__).parent / "cases", "Machine", extra_expect=frozenset({"conditions"})
)


def observed_for(case: Case) -> MachineObserved:
    data: dict[str, Any] = dict(case.observed)
    unknown = set(data) - {f.name for f in fields(MachineObserved)}
    assert not unknown, f"{case.name}: unknown observed fields {unknown}"
    if "primaries_here" in data:
        data["primaries_here"] = tuple(data["primaries_here"])
    return MachineObserved(**data)


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_machine_plan(case: Case) -> None:
    assert isinstance(case.desired, Machine | type(None))
    plan = plan_machine(case.desired, observed_for(case), now=NOW)
    check_plan(plan, case.expect)
    if "conditions" in case.expect:
        check_conditions(plan, case.expect["conditions"])


def _estate(pair_memory_primary: str | None) -> ReadContext:
    app = {"vm": "", "source": {"repo": "https://git.example.com/db.git"}, "execStart": "/bin/db"}
    objects = {
        ("StandbyPair", "db"): resource(
            "StandbyPair", "db", {"primary": "db-a", "standby": "db-b"}
        ),
        ("App", "db-a"): resource("App", "db-a", {**app, "vm": "vm-a", "port": 5432}),
        ("App", "db-b"): resource("App", "db-b", {**app, "vm": "vm-b", "port": 5432}),
    }
    for vm, node in (("vm-a", "pve1"), ("vm-b", "pve2")):
        objects[("VM", vm)] = resource("VM", vm, {"machine": node})
    statuses = {("VM", "vm-a"): {"node": "pve1"}, ("VM", "vm-b"): {"node": "pve2"}}
    pair_status = {"primary": pair_memory_primary} if pair_memory_primary else {}
    statuses[("StandbyPair", "db")] = pair_status
    return ReadContext(objects, statuses, {})


@pytest.mark.parametrize(
    ("current_primary", "on_pve1", "on_pve2"),
    [(None, ("db",), ()), ("db-a", ("db",), ()), ("db-b", (), ("db",))],
)
def test_primaries_on_follows_the_pairs_current_primary(
    current_primary: str | None, on_pve1: tuple[str, ...], on_pve2: tuple[str, ...]
) -> None:
    ctx = cast(EstateView, _estate(current_primary))
    assert primaries_on("pve1", ctx) == on_pve1
    assert primaries_on("pve2", ctx) == on_pve2
    assert primaries_on("pve3", ctx) == ()
