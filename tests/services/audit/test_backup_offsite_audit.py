"""The audit judges every adopted BackupPolicy's offsite against the estate's own hosts:
a Machine (by name, node or tailnet hostname) or a VM is inside; anything else is not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from homeport.services.audit import checks
from homeport.services.audit.observe import _backup_findings


class _Objects:
    def __init__(self, objects: list[SimpleNamespace]) -> None:
        self.objects = objects
        self.tailnet = checks.networks(["100.64.0.0/10"])

    def of_kind(self, kind: str) -> list[SimpleNamespace]:
        return [o for o in self.objects if o.kind == kind]


def _obj(kind: str, name: str, spec: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(kind=kind, name=name, manifest={"kind": kind, "spec": spec})


def _policy(name: str, host: str) -> SimpleNamespace:
    return _obj("BackupPolicy", name, {"offsite": {"ssh": {"host": host, "path": "/srv/b"}}})


def test_offsite_hosts_are_judged_against_the_estates_machines_and_vms() -> None:
    run = _Objects(
        [
            _obj("Machine", "dell", {"node": "pve1", "tailscaleHostname": "dell-ts"}),
            _obj("VM", "backup-vault", {"machine": "dell"}),
            _policy("by-node", "pve1"),
            _policy("by-tailnet-name", "dell-ts"),
            _policy("by-vm", "backup-vault"),
            _policy("elsewhere", "nas.friend.example.org"),
        ]
    )
    found = _backup_findings(run)  # type: ignore[arg-type]
    assert [(f.check, f.name) for f in found] == [("offsite-unencrypted", "elsewhere")]
