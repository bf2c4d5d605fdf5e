"""What ``homeport audit`` reports: one ``Finding`` per deviation from the creed, naming
the object, what is wrong and the fix. ``CHECKS`` lists every check (the docs' table).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

CHECKS: dict[str, str] = {
    "vm-firewall-disabled": "a VM whose Proxmox firewall is off (or not on its NIC)",
    "vm-firewall-open-policy": "a VM firewall letting inbound traffic in by default",
    "vm-firewall-unowned-rule": "an ACCEPT rule in a VM firewall that homeport did not write",
    "datacenter-firewall-disabled": "the datacenter firewall is off: no VM or node rule applies",
    "machine-firewall-open": "a Machine's web UI (8006) or SSH reachable from outside the tailnet",
    "ssh-password-auth": "SSH password authentication enabled on a VM or Machine (sshd -T)",
    "app-listens-publicly": "an App listening on a non-tailnet address (ss -ltnH)",
    "env-file-readable": "an App's environment file readable by others than root (not 0600)",
    "secret-file-readable": "a file in the control plane's secrets directory readable by others",
    "manifest-secret": "a manifest value in git that looks like a secret",
    "tls-verification-disabled": "TLS verification off (or plain text) in homeport's config",
    "signatures-off": "revisions need no signature (or the policy cannot be applied): whoever can push changes production",
    "plain-http-channel": "credentials or control over plain HTTP beyond loopback "
    "(etcd, OTLP, Caddy's admin API)",
    "credential-file-readable": "a token, key or password file of the config readable by others",
    "offsite-unencrypted": "a BackupPolicy copying archives unencrypted to a host outside the estate",
    "offsite-plain-http": "a BackupPolicy's S3 offsite reached over plain HTTP beyond loopback",
}


@dataclass(frozen=True)
class Finding:
    check: str
    kind: str
    """The object's kind, or ``Config``/``Datacenter`` for what belongs to no object."""
    name: str
    message: str
    fix: str

    @property
    def key(self) -> str:
        """Stable identity across runs, for deduplicating events and notifications."""
        digest = hashlib.sha256(self.message.encode()).hexdigest()[:12]
        return f"{self.check}:{self.kind}/{self.name}:{digest}"

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "kind": self.kind,
            "name": self.name,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class AuditReport:
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...] = ()
    """What was not looked at by design (an object still converging, a stopped VM)."""
    failed: tuple[str, ...] = ()
    """Checks that could not run because a client failed (Proxmox down, a refused token,
    a VM unreachable over SSH), with the reason: the audit fails closed on them."""

    @property
    def complete(self) -> bool:
        """Every check that should have run did."""
        return not self.failed

    def as_json(self) -> dict[str, Any]:
        return {
            "findings": [f.as_json() for f in self.findings],
            "skipped": list(self.skipped),
            "failed": list(self.failed),
            "clean": not self.findings and not self.failed,
        }
