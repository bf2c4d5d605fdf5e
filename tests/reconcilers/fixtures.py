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


CASE_KEYS = frozenset({"name", "metadata", "desired", "observed", "expect"})
EXPECT_KEYS = frozenset(
    {"actions", "ready", "gone", "in_progress", "waiting", "state_reason", "details"}
)
"""What ``check_plan`` compares; a kind's test passes the keys it checks itself."""


class FixtureError(ValueError):
    """A case file with a key nobody reads: a misspelled expectation would pass silently."""


def load_cases(
    folder: Path, kind: str, *, extra_expect: frozenset[str] = frozenset()
) -> list[Case]:
    """Every ``*.yaml`` case of ``folder``; unknown case or ``expect`` keys are refused."""
    cases = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        _refuse_unknown(path, "case", set(data), CASE_KEYS)
        _refuse_unknown(path, "expect", set(data["expect"]), EXPECT_KEYS | extra_expect)
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


def _refuse_unknown(path: Path, where: str, keys: set[str], known: frozenset[str]) -> None:
    unknown = sorted(keys - known)
    if unknown:
        raise FixtureError(
            f"{path}: unknown {where} key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def check_plan(plan: Plan, expect: dict[str, Any]) -> None:
    assert [a.describe() for a in plan.actions] == expect.get("actions", []), "actions"
    for key in ("ready", "gone", "in_progress"):
        if key in expect:
            assert getattr(plan, key) is expect[key], key
    if "waiting" in expect:
        assert plan.waiting is not None and expect["waiting"] in plan.waiting, (
            f"waiting: {plan.waiting}"
        )
    if "state_reason" in expect:
        assert plan.state_reason == expect["state_reason"], f"state_reason: {plan.state_reason}"
    for key, value in expect.get("details", {}).items():
        assert plan.details.get(key) == value, f"details.{key}: {plan.details.get(key)}"


def resource(kind: str, name: str, spec: dict[str, Any]) -> Resource:
    return KINDS[kind].model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": kind,
            "metadata": {"name": name},
            "spec": spec,
        }
    )


@dataclass
class ReadContext:
    """The read side of a reconcile context over fixed objects, statuses and memories."""

    objects_: dict[tuple[str, str], Resource]
    statuses: dict[tuple[str, str], dict[str, Any]]
    memories: dict[tuple[str, str], dict[str, Any]]

    def desired(self, kind: str, name: str) -> Resource | None:
        return self.objects_.get((kind, name))

    def status_details(self, kind: str, name: str) -> dict[str, Any]:
        return self.statuses.get((kind, name), {})

    def recall(self, kind: str | None = None, name: str | None = None) -> dict[str, Any]:
        assert kind is not None and name is not None
        return dict(self.memories.get((kind, name), {}))

    def objects(self, kind: str) -> list[tuple[Resource, dict[str, Any]]]:
        return [
            (obj, self.status_details(k, n))
            for (k, n), obj in sorted(self.objects_.items())
            if k == kind
        ]


def check_conditions(plan: Plan, expected: list[dict[str, str]]) -> None:
    """Exactly the expected extra conditions, each message containing the expected text."""
    assert [(c.type, c.reason) for c in plan.conditions] == [
        (e["type"], e["reason"]) for e in expected
    ], f"conditions: {plan.conditions}"
    for got, want in zip(plan.conditions, expected, strict=True):
        assert want.get("message", "") in got.message, f"condition message: {got.message}"
