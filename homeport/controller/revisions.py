"""Turning source changes into adopted revisions: read, validate, decide, apply.

Reads the source's head and files and validates them off the event loop, asks the pure
``adoption.decide`` what to do, records every revision with its outcome, and applies an
adopted one to the store in one transaction. Returns the keys the engine must reconcile.
With a signature policy (``signing.py``) a revision is judged before anything else: one
failing it is held (``adoption.unverified``) and an event names the commit; an adopted one
records its signer. ``homeport reconcile --reverify`` re-judges the running revision.
Approvals are written by ``controller/approvals.py`` (``homeport approve``) and consumed or
expired here, after each decision (``adoption.remaining_approvals``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from homeport.controller.adoption import (
    UNVERIFIED_SIGNATURE,
    Adopted,
    Candidate,
    Decision,
    Key,
    decide,
    remaining_approvals,
    unverified,
)
from homeport.controller.clock import Clock
from homeport.controller.signing import SignatureGate
from homeport.controller.source_keys import (
    ADOPTED,
    APPROVALS,
    HELD,
    LAST_SEEN,
    REJECTED,
    REVERIFIED,
    REVERIFY,
)
from homeport.controller.store import DesiredObject, Store
from homeport.source.errors import ManifestError
from homeport.source.file_results import RememberedFiles
from homeport.source.signatures import SignatureReport, describe_signer
from homeport.source.sources import RevisionInfo, Source
from homeport.source.validate import ValidationResult, validate_sources


@dataclass(frozen=True)
class SyncResult:
    decision: Decision
    info: RevisionInfo | None
    touched: set[Key] = field(default_factory=set)
    errors: list[ManifestError] = field(default_factory=list)


def request_reverify(store: Store, at: str) -> None:
    """Re-judge the running revision's signature with today's keys at the next sync."""
    store.source_state.set(REVERIFY, at)


class RevisionSync:
    def __init__(
        self,
        *,
        source: Source,
        store: Store,
        clock: Clock,
        max_prune_fraction: float,
        signatures: SignatureGate | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.clock = clock
        self.max_prune_fraction = max_prune_fraction
        self.signatures = signatures
        # Per-file results of the revision read last, computed by this process: a pushed
        # revision re-parses only the files it changed. Never the hook's on-disk cache,
        # which anyone running as the repository's user can write (docs/benchmarks.md).
        self.file_results = RememberedFiles()

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
        reverify = self.store.source_state.get(REVERIFY)
        seen = {"sha": info.sha if info else None, "approvals": sorted(approvals)}
        if reverify:
            seen["reverify"] = reverify
        if self.store.source_state.get(LAST_SEEN) == seen:
            return None
        adopted = self.adopted()
        if reverify != self.store.source_state.get(REVERIFIED):
            await self._reverify(adopted)
            self.store.source_state.set(REVERIFIED, reverify)
        validation: ValidationResult | None = None
        fast_forward = True
        verdict: SignatureReport | None = None
        refused: str | None = None
        if info is not None and (adopted is None or info.sha != adopted.sha):
            validation, fast_forward = await asyncio.to_thread(self._read, info, adopted)
            verdict, refused = await self._judge(info.sha, adopted)
        candidate = Candidate(
            sha=info.sha if info else None,
            valid=validation is None or validation.ok,
            keys=frozenset((o.kind, o.name) for o in validation.objects)
            if validation
            else (adopted.keys if adopted else frozenset()),
            fast_forward=fast_forward,
        )
        decision = (
            unverified(info.sha, refused)
            if info is not None and refused is not None
            else decide(
                adopted, candidate, max_prune_fraction=self.max_prune_fraction, approvals=approvals
            )
        )
        if decision.outcome == "adopt" and verdict is not None:
            decision = replace(decision, message=f"{decision.message}; {verdict.summary()}")
        result = self._record(decision, info, validation)
        self._signature_outcome(decision, info, verdict)
        if decision.outcome != "hold" and self.store.source_state.get(HELD) is not None:
            self.store.source_state.set(HELD, None)  # superseded: nothing to approve any more
        remaining = remaining_approvals(adopted, candidate, decision, approvals)
        self._expire(approvals - remaining)
        # Only now: a crash before this line must make the restarted daemon look again.
        self.store.source_state.set(LAST_SEEN, {**seen, "approvals": sorted(remaining)})
        return result

    async def _judge(
        self, sha: str, adopted: Adopted | None
    ) -> tuple[SignatureReport | None, str | None]:
        if self.signatures is None:
            return None, None
        since = adopted.sha if adopted and adopted.sha else None
        return await asyncio.to_thread(self.signatures.check, sha, since=since)

    def _signature_outcome(
        self, decision: Decision, info: RevisionInfo | None, verdict: SignatureReport | None
    ) -> None:
        if info is None:
            return
        if decision.outcome == "hold" and decision.reason == UNVERIFIED_SIGNATURE:
            self._event(info.sha, UNVERIFIED_SIGNATURE, decision.message, warning=True)
        elif decision.outcome == "adopt" and verdict is not None:
            self._remember_signature(verdict.tip.provenance() | {"verified": True})

    def _remember_signature(self, signature: dict[str, Any]) -> None:
        """Who signed the running revision, beside it (``homeport status``, ``describe``)."""
        adopted = self.store.source_state.get(ADOPTED) or {}
        signature["verifiedAt"] = self.clock.now().isoformat()
        self.store.source_state.set(ADOPTED, {**adopted, "signature": signature})

    def _event(self, sha: str, reason: str, message: str, *, warning: bool) -> None:
        self.store.events.emit(
            kind="Revision",
            name=sha[:12],
            reason=reason,
            message=message,
            now=self.clock.now(),
            warning=warning,
        )

    async def _reverify(self, adopted: Adopted | None) -> None:
        """Judge the running revision again; a failure is reported, never rolled back or
        pruned (that would be a change nobody pushed)."""
        if adopted is None or not adopted.sha or self.signatures is None:
            return
        verdict, refused = await self._judge(adopted.sha, adopted)  # since itself: the tip only
        if refused is None:
            if verdict is None:
                return  # the policy is off: nothing to judge
            signed = verdict.tip.provenance()
            self._remember_signature({**signed, "verified": True})
            who = describe_signer(signed)
            self._event(adopted.sha, "SignatureVerified", f"signed by {who}", warning=False)
            return
        self._remember_signature({"sha": adopted.sha, "verified": False, "problem": refused})
        self._event(
            adopted.sha,
            UNVERIFIED_SIGNATURE,
            f"the running revision {adopted.sha[:12]} no longer passes: {refused}; it keeps "
            "running (nothing is rolled back or pruned): push a signed revision",
            warning=True,
        )

    def _expire(self, spent: frozenset[str]) -> None:
        """Drop approvals that were consumed or no longer name what is held. Re-read first:
        an approval written meanwhile (for the next hold) must survive."""
        if spent:
            current = frozenset(self.store.source_state.get(APPROVALS, []))
            self.store.source_state.set(APPROVALS, sorted(current - spent))

    def _read(self, info: RevisionInfo, adopted: Adopted | None) -> tuple[ValidationResult, bool]:
        result = validate_sources(self.source.files(info.sha), reuse=self.file_results)
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
