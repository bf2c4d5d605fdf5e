"""Deciding what to do with a new revision: adopt, reject, hold, or nothing. Pure.

A revision is adopted whole or not at all. Invalid → rejected (the last good revision
keeps running, nothing is pruned). A force-push, a deleted branch, a revision that
empties the estate or would prune more than ``max_prune_fraction`` of it at once →
held with a clear reason until ``homeport approve``. Identity is (kind, name), never the
file path, so moving or renaming files prunes nothing (Flux's well-known trap). A revision
failing the signature policy (``unverified``) is held whatever was approved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Key = tuple[str, str]
Outcome = Literal["adopt", "reject", "hold", "unchanged"]
DELETE_BRANCH = "delete-branch"


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
    """The adoption policy; ``approvals`` holds approved shas (and ``delete-branch``)."""
    if candidate.sha is None:
        if adopted is None:
            return Decision("unchanged", "NoCommits", "the branch has no commits yet")
        if adopted.keys and DELETE_BRANCH not in approvals:
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
    approved = candidate.sha in approvals or any(
        len(a) >= 7 and candidate.sha.startswith(a) for a in approvals
    )
    if adopted is not None and not approved:
        held = _hold_reason(adopted, candidate, prunes, max_prune_fraction)
        if held is not None:
            return Decision("hold", held[0], held[1], prunes)
    return Decision(
        "adopt", "Adopted", f"{len(candidate.keys)} objects, {len(prunes)} to prune", prunes
    )


def _hold_reason(
    adopted: Adopted, candidate: Candidate, prunes: frozenset[Key], max_fraction: float
) -> tuple[str, str] | None:
    short = (candidate.sha or "")[:12]
    if not candidate.fast_forward:
        return (
            "ForcePush",
            f"{short} does not descend from the running {adopted.sha[:12]} (force-push); "
            f"approve with `homeport approve {short}`",
        )
    if adopted.keys and not candidate.keys:
        return (
            "EmptyRevision",
            f"{short} removes every object; approve with `homeport approve {short}`",
        )
    if adopted.keys and len(prunes) > max_fraction * len(adopted.keys):
        return (
            "MassPrune",
            f"{short} would prune {len(prunes)} of {len(adopted.keys)} objects at once "
            f"(limit {max_fraction:.0%}); approve with `homeport approve {short}`",
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
