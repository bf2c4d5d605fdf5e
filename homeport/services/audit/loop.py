"""The daemon's periodic audit: the same checks as ``homeport audit``, every
``[audit] interval`` seconds on the leader, published as conditions and events.

An object with findings gets the condition ``AuditFinding=True`` (the checks and messages);
the condition goes once nothing is found any more. A finding seen for the first time is
also a Warning event ``AuditFinding`` on its object (which notifications may route); the
keys of the current findings live in the store's memory (``Audit/findings``) so a daemon
restart does not announce them again. The condition is written over the status as it is
at that moment; a reconcile writing at the same instant may drop it until the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from homeport.clients.bundle import Clients
from homeport.controller.clock import Clock
from homeport.controller.conditions import condition_of, drop_condition, set_condition
from homeport.controller.config import Settings
from homeport.controller.coordination import Leadership
from homeport.controller.store import Store
from homeport.reconcilers.slots import AUDIT_FINDINGS
from homeport.services.audit.findings import AuditReport, Finding
from homeport.services.audit.observe import run_audit

log = logging.getLogger(__name__)


def _reason(check: str) -> str:
    return "".join(part.capitalize() for part in check.split("-"))


def publish(store: Store, report: AuditReport, clock: Clock) -> list[Finding]:
    """Conditions and first-seen events for ``report``; returns the new findings."""
    now = clock.now()
    last = AUDIT_FINDINGS.get(store)
    previous = last.get("keys", {}) if last else {}
    current = {f.key: previous.get(f.key, now.isoformat()) for f in report.findings}
    new = [f for f in report.findings if f.key not in previous]
    for finding in new:
        store.events.emit(
            kind=finding.kind,
            name=finding.name,
            reason="AuditFinding",
            message=f"{finding.check}: {finding.message} (fix: {finding.fix})",
            now=now,
            warning=True,
        )
    _conditions(store, report.findings, clock)
    AUDIT_FINDINGS.set(store, {"keys": current, "count": len(current)}, now=now.isoformat())
    return new


def _conditions(store: Store, findings: tuple[Finding, ...], clock: Clock) -> None:
    by_object: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        by_object.setdefault((finding.kind, finding.name), []).append(finding)
    for obj in store.objects.all():
        mine = by_object.get(obj.key, [])
        conditions = list(obj.status.conditions)
        if mine:
            message = "; ".join(f"{f.check}: {f.message}" for f in mine)[:2000]
            updated = set_condition(
                conditions, "AuditFinding", "True", _reason(mine[0].check), message, clock.now()
            )
        elif condition_of(conditions, "AuditFinding") is not None:
            updated = drop_condition(conditions, "AuditFinding")
        else:
            continue
        if updated != conditions:
            status = obj.status.model_copy(update={"conditions": updated})
            store.objects.set_status(obj.key, status, clock.now())


async def run_audits(
    *,
    settings: Settings,
    clients: Clients,
    store: Store,
    clock: Clock,
    leadership: Leadership,
    stop: asyncio.Event,
) -> None:
    """Audit every ``[audit] interval`` seconds while leading, until ``stop``."""
    interval = settings.audit.interval
    if interval <= 0 or not clients.has("proxmox"):
        return
    while not stop.is_set():
        # The first run waits one interval: a starting estate is still converging.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if not stop.is_set() and leadership.is_leader():
            try:
                report = await run_audit(settings, clients, store)
                new = publish(store, report, clock)
                if new:
                    log.warning("audit: %d new finding(s)", len(new))
                for note in report.failed:  # never silently clean: say what was not checked
                    log.warning("audit: could not check %s", note)
            except Exception:  # the audit must never take the daemon down
                log.exception("audit run failed; trying again next interval")
