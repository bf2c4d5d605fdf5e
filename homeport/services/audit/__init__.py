"""``homeport audit``: every observable deviation from the estate's security creed.

The creed (seed 000): no public SSH anywhere, the Caddy router is the only public VM,
internal services bind to the tailnet, firewalls on all systems, keys not passwords,
secrets never in git, env files 0600. ``checks.py`` judges (pure), ``observe.py`` gathers
through the clients and runs the checks, ``loop.py`` runs them periodically in the daemon
and publishes conditions and events. ``findings.py`` lists every check.
"""

from homeport.services.audit.findings import CHECKS, AuditReport, Finding
from homeport.services.audit.loop import publish, run_audits
from homeport.services.audit.observe import run_audit

__all__ = ["CHECKS", "AuditReport", "Finding", "publish", "run_audit", "run_audits"]
