"""What is held for an operator's approval, and approving exactly one of those things.

Two kinds of holds: a revision (force-push, mass prune, empty revision, deleted branch;
``controller/revisions.py`` records it as ``source/held``) and the destruction of a VM
that left git (``reconcilers/vm/removal.py`` records it in the VM's ``removal`` slot).
``approve`` accepts only an exact name of something held now — a revision's full sha,
``--delete-branch`` while a branch deletion is held, ``VM/<name>`` while its destruction
is held — and refuses anything else with one line listing what is held. The approval it
writes names that one hold: the revision sync consumes a revision's approval when it
adopts it and drops it when another head supersedes the hold; a VM's approval names the
removal's start, so it dies with that removal (destroyed, or the VM back in git).
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.controller.adoption import UNVERIFIED_SIGNATURE, branch_deletion_approval
from homeport.controller.source_keys import ADOPTED, APPROVALS, HELD
from homeport.controller.store import Store
from homeport.reconcilers.slots import VM_DESTROY_APPROVAL, VM_REMOVAL, VmRemoval

VM_PREFIX = "VM/"


@dataclass(frozen=True)
class Held:
    """One thing waiting for ``homeport approve``."""

    id: str
    """What to pass to ``homeport approve`` (a full sha, ``--delete-branch``, ``VM/<name>``)."""
    reason: str
    message: str


class NotHeld(Exception):
    """Nothing held matches what was to be approved; the message lists what is held."""


def held_items(store: Store) -> list[Held]:
    items = []
    revision = store.source_state.get(HELD)
    if revision:
        deleted = revision.get("reason") == "BranchDeleted"
        items.append(
            Held(
                "--delete-branch" if deleted else str(revision["sha"]),
                str(revision.get("reason", "")),
                str(revision.get("message", "")),
            )
        )
    for kind, name in sorted(store.memory.names()):
        if kind == VM_REMOVAL.kind:
            record = VM_REMOVAL.get(store, name)
            if record and record.get("held"):
                items.append(Held(f"{VM_PREFIX}{name}", "DestructionHeld", _vm_message(record)))
    return items


def approve(store: Store, what: str, *, by: str, now: str) -> Held:
    """Record the approval of the held thing ``what`` names exactly; raise ``NotHeld``."""
    held = {item.id: item for item in held_items(store)}
    item = held.get(what)
    if item is None:
        raise NotHeld(_refusal(what, list(held.values())))
    if item.reason == UNVERIFIED_SIGNATURE:
        # An approval is a write to the store, exactly what the signature gate must not trust.
        raise NotHeld(
            f"{what} is held because it fails the signature policy; an approval cannot "
            "release it: push a signed revision, or add its signer's key and run "
            "`homeport reconcile --reverify`"
        )
    if what.startswith(VM_PREFIX):
        name = what.removeprefix(VM_PREFIX)
        record: VmRemoval = VM_REMOVAL.get(store, name) or {}
        VM_DESTROY_APPROVAL.set(
            store, name, {"since": record["since"], "by": by, "at": now}, now=now
        )
        return item
    adopted = store.source_state.get(ADOPTED) or {}
    value = (
        branch_deletion_approval(str(adopted.get("sha", ""))) if what == "--delete-branch" else what
    )
    approvals = set(store.source_state.get(APPROVALS, [])) | {value}
    store.source_state.set(APPROVALS, sorted(approvals))
    return item


def _refusal(what: str, held: list[Held]) -> str:
    if not held:
        return f"nothing is held, so {what} cannot be approved"
    listed = "; ".join(f"{item.id} ({item.reason})" for item in held)
    return f"{what} is not held; held: {listed}"


def _vm_message(record: VmRemoval) -> str:
    disks = ", ".join(record.get("disks") or []) or "none found"
    return (
        f"vmid {record.get('vmid')} on {record.get('node')}, stopped; disks: {disks}; "
        f"last backup: {record.get('lastBackup') or 'none'}"
    )
