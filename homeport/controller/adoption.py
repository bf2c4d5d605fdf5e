"""Deciding what to do with a new revision: adopt, reject, hold, or nothing. Pure.

A revision is adopted whole or not at all. Invalid → rejected (the last good revision
keeps running, nothing is pruned). A force-push, a deleted branch, a revision that
empties the estate or would prune more than ``max_prune_fraction`` of it at once →
held with a clear reason until ``homeport approve``. Identity is (kind, name), never the
file path, so moving or renaming files prunes nothing (Flux's well-known trap). A revision
failing the signature policy (``unverified``) is held whatever was approved.

An approval names exactly one held thing: a revision by its full sha, or a branch deletion
by the revision that was running when the branch went (``delete-branch:<sha>``), so a
standing approval can never let a *later* deletion or push through. ``remaining_approvals``
says which approvals survive a decision: the one matching what is still held; an adopted
revision consumes its approval, and a superseded hold takes its approval with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Key = tuple[str, str]
Outcome = Literal["adopt", "reject", "hold", "unchanged"]
DELETE_BRANCH = "delete-branch"


def branch_deletion_approval(adopted_sha: str) -> str:
    """The approval of deleting the branch while ``adopted_sha`` runs."""
    return f"{DELETE_BRANCH}:{adopted_sha}"


@dataclass(frozen=True)
class Adopted:
    """The revision currently running."""

    sha: str
    keys: frozenset[Key]


@dataclass(frozen=True)
class Candidate:
    """A revision seen at the source, already validated."""

    sha: str | None
    """None when the branch was deleted."""
    valid: bool = True
    keys: frozenset[Key] = frozenset()
    fast_forward: bool = True
    """Whether it descends from the adopted revision (False: a force-push)."""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    message: str
    prunes: frozenset[Key] = field(default_factory=frozenset)


def decide(
    adopted: Adopted | None,
    candidate: Candidate,
    *,
    max_prune_fraction: float,
    approvals: frozenset[str] = frozenset(),
) -> Decision:
    """The adoption policy; ``approvals`` holds approved full shas and branch deletions
    (``branch_deletion_approval``). Only an exact match approves."""
    if candidate.sha is None:
        if adopted is None:
            return Decision("unchanged", "NoCommits", "the branch has no commits yet")
        if adopted.keys and branch_deletion_approval(adopted.sha) not in approvals:
            return Decision(
                "hold",
                "BranchDeleted",
                "the tracked branch was deleted; the last revision keeps running "
                "(approve with `homeport approve --delete-branch` to prune everything)",
            )
        return Decision("adopt", "BranchDeleted", "branch deleted and approved", _all(adopted))
    if adopted is not None and candidate.sha == adopted.sha:
        return Decision("unchanged", "Unchanged", "already adopted")
    if not candidate.valid:
        return Decision(
            "reject", "ValidationFailed", "the revision has validation errors; nothing changes"
        )
    prunes = frozenset(adopted.keys - candidate.keys) if adopted else frozenset()
    if adopted is not None and candidate.sha not in approvals:
        held = _hold_reason(adopted, candidate, prunes, max_prune_fraction)
        if held is not None:
            return Decision("hold", held[0], held[1], prunes)
    return Decision(
        "adopt", "Adopted", f"{len(candidate.keys)} objects, {len(prunes)} to prune", prunes
    )


def remaining_approvals(
    adopted: Adopted | None, candidate: Candidate, decision: Decision, approvals: frozenset[str]
) -> frozenset[str]:
    """The approvals still useful after ``decision``: only the one naming what stays held.
    Adopting consumes an approval; a new head supersedes the held one and its approval."""
    if decision.outcome != "hold":
        return frozenset()
    if candidate.sha is None:
        held = branch_deletion_approval(adopted.sha) if adopted else None
    else:
        held = candidate.sha
    return approvals & {held} if held else frozenset()


def _hold_reason(
    adopted: Adopted, candidate: Candidate, prunes: frozenset[Key], max_fraction: float
) -> tuple[str, str] | None:
    sha = candidate.sha or ""
    approve = f"approve with `homeport approve {sha}`"
    if not candidate.fast_forward:
        return (
            "ForcePush",
            f"{sha[:12]} does not descend from the running {adopted.sha[:12]} (force-push); "
            + approve,
        )
    if adopted.keys and not candidate.keys:
        return ("EmptyRevision", f"{sha[:12]} removes every object; {approve}")
    if adopted.keys and len(prunes) > max_fraction * len(adopted.keys):
        return (
            "MassPrune",
            f"{sha[:12]} would prune {len(prunes)} of {len(adopted.keys)} objects at once "
            f"(limit {max_fraction:.0%}); {approve}",
        )
    return None


def _all(adopted: Adopted | None) -> frozenset[Key]:
    return adopted.keys if adopted else frozenset()


UNVERIFIED_SIGNATURE = "UnverifiedSignature"


def unverified(sha: str, summary: str) -> Decision:
    """A revision failing the signature policy: held, prunes nothing, and no approval
    releases it (an approval is a write to the store, what the signature gate must not
    trust). A signed push, or ``homeport reconcile --reverify`` after fixing the keys, does."""
    return Decision(
        "hold",
        UNVERIFIED_SIGNATURE,
        f"{summary}; push a signed revision (or fix the trusted keys, then "
        "`homeport reconcile --reverify`)",
    )
