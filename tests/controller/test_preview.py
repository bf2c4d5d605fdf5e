"""``homeport plan``'s verdict: work homeport started that is still running is pending."""

from __future__ import annotations

import pytest

from homeport.controller.preview import IN_PROGRESS, ObjectPlan, PlanReport


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        (["none", "none"], 0),
        (["none", IN_PROGRESS], 1),  # a migration still running is not converged
        (["none", "error"], 2),
        ([IN_PROGRESS, "error"], 2),
    ],
)
def test_exit_code(changes: list[str], code: int) -> None:
    report = PlanReport("abc", [ObjectPlan("VM", f"vm-{i}", c) for i, c in enumerate(changes)])
    assert report.exit_code == code
