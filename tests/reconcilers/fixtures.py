"""Table-driven plan fixtures: one YAML file per case with desired, observed and expected."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from homeport.kinds import KINDS, Resource
from homeport.reconcilers.base import Plan


@dataclass(frozen=True)
class Case:
    name: str
    desired: Resource | None
    observed: dict[str, Any]
    expect: dict[str, Any]


def load_cases(folder: Path, kind: str) -> list[Case]:
    cases = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        desired = None
        if data.get("desired") is not None:
            desired = KINDS[kind].model_validate(
                {
                    "apiVersion": "homeport.dev/v1alpha1",
                    "kind": kind,
                    "metadata": {"name": data.get("name", "web"), **data.get("metadata", {})},
                    "spec": data["desired"],
                }
            )
        cases.append(Case(path.stem, desired, data.get("observed", {}), data["expect"]))
    return cases


def check_plan(plan: Plan, expect: dict[str, Any]) -> None:
    assert [a.describe() for a in plan.actions] == expect.get("actions", []), "actions"
    for key in ("ready", "gone"):
        if key in expect:
            assert getattr(plan, key) is expect[key], key
    if "waiting" in expect:
        assert plan.waiting is not None and expect["waiting"] in plan.waiting, (
            f"waiting: {plan.waiting}"
        )
    for key, value in expect.get("details", {}).items():
        assert plan.details.get(key) == value, f"details.{key}: {plan.details.get(key)}"
