"""Which App actions undo drift (the drift-corrections metric counts them): those the plan
gives a ``drift:`` reason, and no change of the desired state."""

from __future__ import annotations

import pytest

from homeport.kinds import App
from homeport.reconcilers.app import plan_app
from tests.reconcilers.app.test_plan_fixtures import CASES, NOW, observed_for
from tests.reconcilers.fixtures import Case

DRIFT_CASES = {
    "06-unit-edited-by-hand-is-restored": ["install-unit", "restart"],
    "08-env-file-changed-on-the-vm-is-rewritten": ["install-env", "restart"],
    "09-world-readable-env-file-is-fixed": ["install-env", "restart"],
    "10-unit-stopped-by-hand-is-started": ["restart"],
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_only_drift_is_counted_as_drift(case: Case) -> None:
    assert isinstance(case.desired, App | type(None))
    plan = plan_app(case.desired, observed_for(case), now=NOW)
    drifted = [a.verb for a in plan.actions if a.corrects_drift]
    assert drifted == DRIFT_CASES.get(case.name, [])


def test_the_drift_cases_exist() -> None:
    assert set(DRIFT_CASES) <= {c.name for c in CASES}
