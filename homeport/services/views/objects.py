"""Turning store records into rows and documents for the read side (the CLI and the page)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from homeport.controller.store import StoredObject
from homeport.kinds import Condition


def age(stamp: str | datetime | None, now: datetime | None = None) -> str:
    """Kubernetes-style age: 45s, 12m, 3h, 5d."""
    if not stamp:
        return "-"
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def condition(obj: StoredObject, type_: str) -> Condition | None:
    return next((c for c in obj.status.conditions if c.type == type_), None)


def state_of(obj: StoredObject) -> str:
    """One word for the object's state: Ready, Progressing, Waiting, Stalled, Degraded, ..."""
    if obj.deleting:
        return "Pruning"
    reconciling = condition(obj, "Reconciling")
    if reconciling is not None and reconciling.reason == "Suspended":
        return "Suspended"  # whatever Ready last said, nothing is converged meanwhile
    if obj.condition("Stalled") == "True":
        return "Stalled"
    if obj.condition("Degraded") == "True":
        return "Degraded"
    ready = condition(obj, "Ready")
    if ready is None:
        return "Pending"
    if ready.status == "True":
        return "Ready"
    return ready.reason or "NotReady"


def message_of(obj: StoredObject) -> str:
    reconciling = condition(obj, "Reconciling")
    if reconciling is not None and reconciling.reason == "Suspended":
        return reconciling.message
    for type_ in ("Stalled", "Degraded", "Ready", "Reconciling"):
        found = condition(obj, type_)
        if (
            found is not None
            and found.message
            and not (type_ == "Ready" and found.status == "True")
        ):
            return found.message
    ready = condition(obj, "Ready")
    return ready.message if ready else ""


def object_document(obj: StoredObject) -> dict[str, Any]:
    """The object as a Kubernetes-like document: the manifest plus homeport's status."""
    document = dict(obj.manifest)
    document["status"] = obj.status.model_dump(mode="json", by_alias=True)
    document["status"]["generation"] = obj.generation
    document["status"]["source"] = f"{obj.file}:{obj.line}"
    document["status"]["deleting"] = obj.deleting
    return document


def summary_of(obj: StoredObject) -> str:
    """One short line of an object's most telling details, for tables."""
    d = obj.status.details
    if obj.kind == "VM":
        return f"{d.get('vmid')} on {d.get('node')} at {d.get('address')}" if d.get("vmid") else ""
    if obj.kind == "App":
        return (
            f"{str(d.get('release', ''))[:12]} at {d.get('address')}:{d.get('port')}"
            if d.get("release")
            else ""
        )
    if obj.kind == "StandbyPair":
        if not d.get("primary"):
            return ""  # not armed yet: no "None serves"
        lag = d.get("lagSeconds")
        return f"{d.get('primary')} serves, epoch {d.get('epoch')}" + (
            f", lag {lag}s" if lag is not None else ""
        )
    if obj.kind == "ProxyRoute":
        return f"→ {d.get('upstream')}" if d.get("upstream") else ""
    if obj.kind == "BackupPolicy":
        return _backup_summary(d)
    if obj.kind == "Agent":
        return f"{d.get('ready', 0)}/{d.get('selected', 0)} VMs" if "selected" in d else ""
    if obj.kind == "Machine":
        version = str(d.get("version", ""))
        return (
            f"{d.get('node')}, PVE {version.split('/')[1]}"
            if version.count("/") >= 1
            else str(d.get("node") or "")
        )
    return ""


def _backup_summary(d: Mapping[str, Any]) -> str:
    """``5 VM(s), backups ≤ 26h old, 3-2-1 for 4/5``: the worst newest-backup age."""
    vms = d.get("vms") or {}
    if not isinstance(vms, Mapping) or not vms:
        return str(d.get("job") or "")
    ages = [v["ageHours"] for v in vms.values() if v.get("ageHours") is not None]
    holds = sum(1 for v in vms.values() if (v.get("threeTwoOne") or {}).get("holds"))
    age = f", backups ≤ {max(ages):.0f}h old" if len(ages) == len(vms) else ", some never backed up"
    return f"{len(vms)} VM(s){age}, 3-2-1 for {holds}/{len(vms)}"


def labels_of(obj: StoredObject) -> dict[str, str]:
    labels = (obj.manifest.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}
