"""Turning source changes into adopted revisions: read, validate, decide, apply.

Reads the source's head and files and validates them off the event loop, asks the pure
``adoption.decide`` what to do, records every revision with its outcome, and applies an
adopted one to the store in one transaction. Returns the keys the engine must reconcile.
Approvals are written by ``controller/approvals.py`` (``homeport approve``) and consumed or
expired here, after each decision (``adoption.remaining_approvals``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from homeport.controller.adoption import (
    Adopted,
    Candidate,
    Decision,
    Key,
    decide,
    remaining_approvals,
)
from homeport.controller.clock import Clock
from homeport.controller.store import DesiredObject, Store
from homeport.source.errors import ManifestError
from homeport.source.sources import RevisionInfo, Source
from homeport.source.validate import ValidationResult, validate_sources

APPROVALS = "approvals"
ADOPTED = "adopted"
LAST_SEEN = "last_seen"
HELD = "held"
REJECTED = "rejected"


@dataclass(frozen=True)
class SyncResult:
    decision: Decision
    info: RevisionInfo | None
    touched: set[Key] = field(default_factory=set)
    errors: list[ManifestError] = field(default_factory=list)


class RevisionSync:
    def __init__(
        self, *, source: Source, store: Store, clock: Clock, max_prune_fraction: float
    ) -> None:
        self.source = source
        self.store = store
        self.clock = clock
        self.max_prune_fraction = max_prune_fraction

    def adopted(self) -> Adopted | None:
        state = self.store.source_state.get(ADOPTED)
        if not state:
            return None
        return Adopted(sha=state["sha"], keys=frozenset(tuple(k) for k in state["keys"]))

    def approvals(self) -> frozenset[str]:
        return frozenset(self.store.source_state.get(APPROVALS, []))

    async def sync(self) -> SyncResult | None:
        """Look at the source once; None when nothing new was seen."""
        info = await asyncio.to_thread(self.source.head)
        approvals = self.approvals()
        seen = {"sha": info.sha if info else None, "approvals": sorted(approvals)}
        if self.store.source_state.get(LAST_SEEN) == seen:
            return None
        adopted = self.adopted()
        validation: ValidationResult | None = None
        fast_forward = True
        if info is not None and (adopted is None or info.sha != adopted.sha):
            validation, fast_forward = await asyncio.to_thread(self._read, info, adopted)
        candidate = Candidate(
            sha=info.sha if info else None,
            valid=validation is None or validation.ok,
            keys=frozenset((o.kind, o.name) for o in validation.objects)
            if validation
            else (adopted.keys if adopted else frozenset()),
            fast_forward=fast_forward,
        )
        decision = decide(
            adopted, candidate, max_prune_fraction=self.max_prune_fraction, approvals=approvals
        )
        result = self._record(decision, info, validation)
        if decision.outcome != "hold" and self.store.source_state.get(HELD) is not None:
            self.store.source_state.set(HELD, None)  # superseded: nothing to approve any more
        remaining = remaining_approvals(adopted, candidate, decision, approvals)
        self._expire(approvals - remaining)
        # Only now: a crash before this line must make the restarted daemon look again.
        self.store.source_state.set(LAST_SEEN, {**seen, "approvals": sorted(remaining)})
        return result

    def _expire(self, spent: frozenset[str]) -> None:
        """Drop approvals that were consumed or no longer name what is held. Re-read first:
        an approval written meanwhile (for the next hold) must survive."""
        if spent:
            current = frozenset(self.store.source_state.get(APPROVALS, []))
            self.store.source_state.set(APPROVALS, sorted(current - spent))

    def _read(self, info: RevisionInfo, adopted: Adopted | None) -> tuple[ValidationResult, bool]:
        result = validate_sources(self.source.files(info.sha))
        # After an approved branch deletion nothing runs: any new history starts afresh.
        fast_forward = (
            adopted is None or not adopted.sha or self.source.descends(adopted.sha, info.sha)
        )
        return result, fast_forward

    def _record(
        self, decision: Decision, info: RevisionInfo | None, validation: ValidationResult | None
    ) -> SyncResult:
        now = self.clock.now()
        errors = validation.errors if validation else []
        if decision.outcome == "unchanged":
            return SyncResult(decision, info)
        self.store.revisions.record(
            sha=info.sha if info else "",
            ref=info.ref if info else "",
            outcome={"adopt": "adopted", "reject": "rejected", "hold": "held"}[decision.outcome],
            now=now,
            reason=decision.reason,
            message=decision.message,
            errors=[e.as_json() for e in errors],
            objects=len(validation.objects) if validation else 0,
            committed_at=info.committed_at if info else None,
        )
        if decision.outcome == "reject":
            self.store.source_state.set(
                REJECTED, {"sha": info.sha if info else "", "errors": [e.render() for e in errors]}
            )
            return SyncResult(decision, info, errors=errors)
        if decision.outcome == "hold":
            self.store.source_state.set(
                HELD,
                {
                    "sha": info.sha if info else "",
                    "reason": decision.reason,
                    "message": decision.message,
                },
            )
            return SyncResult(decision, info)
        desired = [
            DesiredObject(resource=o.resource, file=o.file, line=o.line)
            for o in (validation.objects if validation else [])
        ]
        sha = info.sha if info else ""
        created, changed, removed = self.store.objects.apply_revision(sha, desired, now)
        self.store.source_state.set(ADOPTED, {"sha": sha, "keys": sorted(d.key for d in desired)})
        self.store.source_state.set(HELD, None)
        self.store.source_state.set(REJECTED, None)
        return SyncResult(decision, info, touched=created | changed | removed)
