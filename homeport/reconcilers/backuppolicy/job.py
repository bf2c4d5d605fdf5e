"""A policy's ``/cluster/backup`` job: its id, its declared fields, and the diff against PVE.

Only the fields homeport declares are compared, each in the text form PVE stores
(``prune-backups`` as a property string with keys sorted, ``vmid`` sorted, booleans 0/1),
after normalising what PVE's GET returns (defaults filled in, the object form of
``prune-backups`` flattened), so a converged job plans nothing (reference §7.4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from homeport.kinds import BackupPolicy
from homeport.kinds.backuppolicy import VZDUMP_COMPRESS
from homeport.reconcilers.ownership import marker

JOB_PREFIX = "homeport-"
MAX_JOB_ID = 50
COMPRESS = VZDUMP_COMPRESS
DECLARED = (
    "schedule",
    "storage",
    "mode",
    "compress",
    "prune-backups",
    "vmid",
    "enabled",
    "notes-template",
    "comment",
)


def job_id(policy: str) -> str:
    """``homeport-<policy>``; long names are shortened with a hash to PVE's 50 characters."""
    wanted = f"{JOB_PREFIX}{policy}"
    if len(wanted) <= MAX_JOB_ID:
        return wanted
    digest = hashlib.sha256(policy.encode()).hexdigest()[:8]
    return f"{wanted[: MAX_JOB_ID - 9]}-{digest}"


def owner_marker(policy: str) -> str:
    return marker("BackupPolicy", policy)


def prune_text(keep: Mapping[str, int | str]) -> str:
    return ",".join(f"{k}={keep[k]}" for k in sorted(keep)) or "keep-all=1"


def retention_keep(policy: BackupPolicy) -> dict[str, int]:
    """``{"keep-daily": 7, ...}`` from the policy's retention (keep-all when empty)."""
    pairs = (part.split("=", 1) for part in policy.spec.retention.as_prune_backups().split(","))
    return {key: int(value) for key, value in pairs}


def desired_fields(policy: BackupPolicy, vmids: Iterable[int]) -> dict[str, str]:
    spec = policy.spec
    return {
        "schedule": " ".join(spec.schedule.split()),
        "storage": spec.storage,
        "mode": spec.mode,
        "compress": COMPRESS[spec.compress],
        "prune-backups": prune_text(retention_keep(policy)),
        "vmid": ",".join(str(v) for v in sorted(set(vmids))),
        "enabled": "1" if spec.enabled else "0",
        # One line: PVE shows only the first line of an archive's notes.
        "notes-template": f"{{{{guestname}}}} ({owner_marker(policy.name)})",
        "comment": owner_marker(policy.name),
    }


def observed_fields(
    *,
    schedule: str,
    storage: str | None,
    mode: str | None,
    compress: str | None,
    prune_backups: Mapping[str, int],
    vmids: Iterable[int],
    enabled: bool,
    notes_template: str | None,
    comment: str | None,
) -> dict[str, str]:
    """PVE's GET of a job in the form ``desired_fields`` produces (its defaults filled in)."""
    return {
        "schedule": " ".join(schedule.split()),
        "storage": storage or "local",
        "mode": mode or "snapshot",
        "compress": compress or "0",
        "prune-backups": prune_text(prune_backups),
        "vmid": ",".join(str(v) for v in sorted(set(vmids))),
        "enabled": "1" if enabled else "0",
        "notes-template": notes_template or "",
        "comment": comment or "",
    }


def diff_fields(
    desired: Mapping[str, str], observed: Mapping[str, str]
) -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (key, observed.get(key, ""), desired[key])
        for key in DECLARED
        if desired[key] != observed.get(key, "")
    )
