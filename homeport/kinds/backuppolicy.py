"""BackupPolicy: scheduled vzdump backups of selected VMs, retention, offsite copies, restore tests.

Selects VMs (``vm.py``); converged by ``reconcilers/backuppolicy/`` as one Proxmox
backup job (``/cluster/backup``) per policy, with freshness, offsite copies and restore
tests (``docs/backups.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from homeport.kinds.calendar import CalendarError, parse_calendar_event
from homeport.kinds.common import (
    DnsLabel,
    KindModel,
    ObjectRef,
    RefPath,
    Resource,
    SpecBase,
)

if TYPE_CHECKING:
    from homeport.kinds.vm import VM

VZDUMP_COMPRESS = {"none": "0", "zstd": "zstd", "lzo": "lzo", "gzip": "gzip"}
"""``spec.compress`` as vzdump and Proxmox's backup jobs take it."""


class VMSelector(KindModel):
    """Which VMs a BackupPolicy or an Agent selects: the union of `names` and VMs matching `matchLabels`."""

    names: list[DnsLabel] = Field(default_factory=list)
    """VM names."""
    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels a VM must all carry."""

    def matches_labels(self, labels: dict[str, str]) -> bool:
        """Whether a VM with ``labels`` carries all of ``matchLabels`` (and there are some)."""
        return bool(self.match_labels) and all(
            labels.get(key) == value for key, value in self.match_labels.items()
        )

    @model_validator(mode="after")
    def _not_empty(self) -> VMSelector:
        if not self.names and not self.match_labels:
            raise ValueError("select VMs with 'names' and/or 'matchLabels'")
        return self


class Retention(KindModel):
    """How many backups to keep (Proxmox `prune-backups`)."""

    keep_last: int | None = Field(default=None, ge=0)
    """Keep the last N backups."""
    keep_hourly: int | None = Field(default=None, ge=0)
    """Keep one backup per hour for the last N hours that have one."""
    keep_daily: int | None = Field(default=7, ge=0)
    """Keep one backup per day for the last N days that have one."""
    keep_weekly: int | None = Field(default=4, ge=0)
    """Keep one backup per ISO week for the last N weeks that have one."""
    keep_monthly: int | None = Field(default=12, ge=0)
    """Keep one backup per month for the last N months that have one."""
    keep_yearly: int | None = Field(default=None, ge=0)
    """Keep one backup per year for the last N years that have one."""

    def as_prune_backups(self) -> str:
        """The PVE property string, e.g. `keep-daily=7,keep-weekly=4,keep-monthly=12`."""
        parts = []
        for field in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
            value = getattr(self, f"keep_{field}")
            if value is not None:
                parts.append(f"keep-{field}={value}")
        return ",".join(parts) or "keep-all=1"


class SSHTarget(KindModel):
    """A directory on another machine reached over SSH (tailnet only)."""

    host: str
    """A VM or Machine of the estate (its tailnet address is used), a tailnet hostname or an address."""
    path: str
    """Absolute directory for the copies, e.g. `/srv/backups/offsite`."""
    user: str = "root"
    """SSH user."""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"offsite path {value!r} must be absolute")
        return value


class OffsiteCopy(KindModel):
    """A second copy of every new archive on another storage type / place (3-2-1)."""

    storage: str | None = None
    """A second Proxmox storage (e.g. an NFS/PBS storage) to copy archives to."""
    ssh: SSHTarget | None = None
    """A directory on another machine to copy archives to over SSH."""

    @model_validator(mode="after")
    def _one(self) -> OffsiteCopy:
        if self.storage is None and self.ssh is None:
            raise ValueError("an offsite copy needs 'storage' and/or 'ssh'")
        return self


class RestoreTest(KindModel):
    """Periodic proof that backups restore: restore, boot isolated, health-check, destroy."""

    every_days: PositiveInt = 7
    """Cadence in days, per VM."""
    machine: DnsLabel | None = None
    """Machine to restore onto when it can read the archive (shared storage, or a verified copy on a shared offsite storage); otherwise, and by default, the node holding the archive."""
    timeout_seconds: PositiveFloat = 900
    """Give up (and fail the test) when the restored VM has not passed its health checks this long after it booted."""


class BackupPolicySpec(SpecBase):
    """Desired state of a BackupPolicy."""

    selector: VMSelector
    """The VMs to back up."""
    schedule: str = "02:00"
    """Proxmox calendar event, e.g. `02:00`, `mon..fri 21:00`, `daily`."""
    storage: str = "local"
    """Proxmox storage receiving the archives."""
    mode: Literal["snapshot", "suspend", "stop"] = "snapshot"
    """vzdump mode."""
    compress: Literal["zstd", "lzo", "gzip", "none"] = "zstd"
    """Archive compression."""
    retention: Retention = Field(default_factory=Retention)
    """What to keep (default 7 daily, 4 weekly, 12 monthly)."""
    offsite: OffsiteCopy | None = None
    """Where to copy new archives for the offsite leg of 3-2-1."""
    restore_test: RestoreTest | None = Field(default_factory=RestoreTest)
    """Restore tests; set to null to disable (not recommended)."""
    grace_hours: PositiveFloat = 2.0
    """How late the newest backup may be, beyond the schedule, before `BackupStale`."""
    enabled: bool = True
    """Enable the Proxmox job."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            parse_calendar_event(value)
        except CalendarError as exc:
            raise ValueError(str(exc)) from None
        return value


class BackupPolicy(Resource):
    """Scheduled backups of a set of VMs."""

    kind_name: ClassVar[str] = "BackupPolicy"
    plural: ClassVar[str] = "backuppolicies"
    short_names: ClassVar[tuple[str, ...]] = ("backuppolicy", "backup", "bp")

    kind: Literal["BackupPolicy"]
    """Always `BackupPolicy`."""
    spec: BackupPolicySpec
    """Desired state."""

    def covers(self, vm: VM) -> bool:
        """Whether the policy backs ``vm`` up: named, or carrying all of its matchLabels."""
        selector = self.spec.selector
        return vm.name in selector.names or selector.matches_labels(vm.metadata.labels)

    def reference_paths(self) -> list[tuple[RefPath, ObjectRef]]:
        return [
            (("spec", "selector", "names", i), ObjectRef(kind="VM", name=name))
            for i, name in enumerate(self.spec.selector.names)
        ]
