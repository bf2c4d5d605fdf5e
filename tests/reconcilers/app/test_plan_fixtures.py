"""App plan fixtures: (desired, observed) → expected actions; no sockets."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.kinds import App
from homeport.reconcilers.app import AppObserved, plan_app
from homeport.reconcilers.appfiles import AppPaths
from tests.reconcilers.fixtures import Case, check_plan, load_cases

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
CASES = load_cases(Path(__file__).parent / "cases", "App", extra_expect=frozenset({"conditions"}))
A = "a" * 40
B = "b" * 40
C = "c" * 40
D = "d" * 64
E = "e" * 64
SHAS = {"A": A, "B": B, "C": C, "D": D, "E": E}


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        for short, sha in SHAS.items():
            value = value.replace(f"<{short}>", sha)
        return value
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def observed_for(case: Case) -> AppObserved:
    name = case.desired.name if case.desired else "shop"
    data: dict[str, Any] = {
        "name": name,
        "paths": AppPaths.for_name(name),
        **_expand(case.observed),
    }
    for key in ("releases", "peer_failed", "built"):
        if key in data:
            data[key] = tuple(data[key])
    unknown = set(data) - {f.name for f in fields(AppObserved)}
    assert not unknown, f"{case.name}: unknown observed fields {unknown}"
    return AppObserved(**data)


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_app_plan(case: Case) -> None:
    assert isinstance(case.desired, App | type(None))
    plan = plan_app(case.desired, observed_for(case), now=NOW)
    check_plan(plan, _expand(case.expect))
    for condition in _expand(case.expect).get("conditions", []):
        assert any(
            c.type == condition["type"] and condition["message"] in c.message
            for c in plan.conditions
        )
