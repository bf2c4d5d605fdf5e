"""A store holding BackupPolicies with the per-VM details their reconciler publishes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homeport.controller.store import DesiredObject, Store
from homeport.kinds import ObjectStatus
from homeport.source.validate import validate_sources

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = """---
apiVersion: homeport.dev/v1alpha1
kind: BackupPolicy
metadata: {name: %s}
spec: {selector: {matchLabels: {env: %s}}, restoreTest: null}
"""
# Validation refuses a selector that selects no VM: one VM per policy, not stored.
SELECTED = """---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: vm-%s, labels: {env: %s}}
spec: {machine: m1}
"""
MACHINE = """---
apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 64, memoryMiB: 1048576}}
"""


def store_with_policies(path: Path, details: Mapping[str, Mapping[str, Any]]) -> Path:
    """``details``: policy name → its status details (``{"vms": {...}}``)."""
    text = MACHINE + "".join(POLICY % (n, n) + SELECTED % (n, n) for n in details)
    result = validate_sources([("backups.yaml", text.encode())])
    assert result.ok, [e.render() for e in result.errors]
    store = Store.open(path)
    try:
        policies = [o for o in result.objects if o.kind == "BackupPolicy"]
        desired = [DesiredObject(o.resource, o.file, o.line) for o in policies]
        store.objects.apply_revision("rev1", desired, NOW)
        for name, published in details.items():
            status = ObjectStatus.model_validate({"details": dict(published)})
            store.objects.set_status(("BackupPolicy", name), status, NOW)
    finally:
        store.close()
    return path
