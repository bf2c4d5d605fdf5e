"""The pure adoption policy: which approvals approve, and which survive a decision."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from homeport.controller.adoption import (
    Adopted,
    Candidate,
    branch_deletion_approval,
    decide,
    remaining_approvals,
)

RUNNING = "a" * 40
HELD = "b" * 40
LATER = "c" * 40
EARLIER = "d" * 40
KEYS = frozenset({("VM", "a"), ("VM", "b"), ("VM", "c")})
ADOPTED = Adopted(RUNNING, KEYS)
FORCE_PUSH = Candidate(HELD, keys=KEYS, fast_forward=False)
MASS_PRUNE = Candidate(HELD, keys=frozenset({("VM", "a")}))
BRANCH_DELETED = Candidate(None)


@dataclass(frozen=True)
class Row:
    name: str
    candidate: Candidate
    approvals: frozenset[str]
    outcome: str
    remaining: frozenset[str]


ROWS = [
    Row("force-push without approval is held", FORCE_PUSH, frozenset(), "hold", frozenset()),
    Row(
        "the exact sha approves, and is consumed",
        FORCE_PUSH,
        frozenset({HELD}),
        "adopt",
        frozenset(),
    ),
    Row(
        "a prefix of the sha approves nothing",
        FORCE_PUSH,
        frozenset({HELD[:7], HELD[:12]}),
        "hold",
        frozenset(),
    ),
    Row(
        "an approval of another revision approves nothing and expires",
        MASS_PRUNE,
        frozenset({LATER}),
        "hold",
        frozenset(),
    ),
    Row(
        "the approval of what is still held survives; stale ones go",
        MASS_PRUNE,
        frozenset({LATER, EARLIER}),
        "hold",
        frozenset(),
    ),
    Row(
        "a standing bare delete-branch approval approves no deletion",
        BRANCH_DELETED,
        frozenset({"delete-branch"}),
        "hold",
        frozenset(),
    ),
    Row(
        "a branch deletion approved while another revision ran approves nothing",
        BRANCH_DELETED,
        frozenset({branch_deletion_approval(EARLIER)}),
        "hold",
        frozenset(),
    ),
    Row(
        "the deletion approved for the running revision prunes, and is consumed",
        BRANCH_DELETED,
        frozenset({branch_deletion_approval(RUNNING)}),
        "adopt",
        frozenset(),
    ),
    Row(
        "an approval of the adopted revision itself is spent",
        Candidate(RUNNING, keys=KEYS),
        frozenset({RUNNING}),
        "unchanged",
        frozenset(),
    ),
    Row(
        "an invalid revision is rejected whatever is approved; approvals expire",
        Candidate(HELD, valid=False, keys=KEYS, fast_forward=False),
        frozenset({HELD}),
        "reject",
        frozenset(),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_approvals(row: Row) -> None:
    decision = decide(ADOPTED, row.candidate, max_prune_fraction=0.5, approvals=row.approvals)
    assert decision.outcome == row.outcome
    assert remaining_approvals(ADOPTED, row.candidate, decision, row.approvals) == row.remaining


def test_the_approval_of_what_stays_held_survives() -> None:
    approvals = frozenset({HELD, LATER, branch_deletion_approval(RUNNING)})
    held = decide(ADOPTED, MASS_PRUNE, max_prune_fraction=0.5, approvals=frozenset())
    assert remaining_approvals(ADOPTED, MASS_PRUNE, held, approvals) == {HELD}
    deletion = decide(ADOPTED, BRANCH_DELETED, max_prune_fraction=0.5, approvals=frozenset())
    assert remaining_approvals(ADOPTED, BRANCH_DELETED, deletion, approvals) == {
        branch_deletion_approval(RUNNING)
    }


def test_the_hold_names_the_full_sha_to_approve() -> None:
    decision = decide(ADOPTED, FORCE_PUSH, max_prune_fraction=0.5)
    assert f"homeport approve {HELD}`" in decision.message
