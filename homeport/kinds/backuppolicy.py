"""BackupPolicy: scheduled vzdump backups of selected VMs, retention, offsite copies, restore tests.

Selects VMs (``vm.py``); converged by ``reconcilers/backuppolicy/`` as one Proxmox
backup job (``/cluster/backup``) per policy, with freshness, offsite copies and restore
tests (``docs/backups.md``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from homeport.kinds.app import check_secret_path
from homeport.kinds.calendar import CalendarError, parse_calendar_event
from homeport.kinds.common import (
    DnsLabel,
    KindModel,
    ObjectRef,
    RefPath,
    Resource,
    SpecBase,
)
from homeport.kinds.textrules import fullmatch_or_raise

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


# S3 bucket naming rules (AWS "Bucket naming rules"): 3-63 lowercase letters, digits, '.'
# and '-', starting and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A key prefix restic keeps its repository under: '/'-separated segments of safe characters.
_PREFIX = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_REGION = re.compile(r"^[a-z0-9-]{1,64}$")
_S3_TEXT_RULES = {
    "bucket": (
        _BUCKET,
        "is not an S3 bucket name: use 3-63 lowercase letters, digits, '.' and '-', "
        "starting and ending with a letter or digit",
    ),
    "prefix": (
        _PREFIX,
        "must be '/'-separated names of letters, digits, '.', '_' and '-' "
        "(no leading or trailing '/'), e.g. 'homeport/site-a'",
    ),
    "region": (_REGION, "must be lowercase letters, digits and '-', e.g. 'eu-central-1'"),
}


_TAILNET = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd7a:115c:a1e0::/48"))
"""Tailscale's address ranges: WireGuard encrypts what travels there."""


def plain_http_allowed(host: str) -> bool:
    """Loopback or the tailnet (a Tailscale address or a ``*.ts.net`` name): the only places
    an S3 endpoint may be plain HTTP. What travels is ciphertext and signed requests, but
    the bucket's layout and the access key id would be in clear beyond them."""
    if host == "localhost" or host.endswith(".ts.net"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or any(address in network for network in _TAILNET)


class S3Target(KindModel):
    """A restic repository in an S3-compatible bucket: encrypted on the control plane before upload."""

    endpoint: str
    """The S3 API's base URL, e.g. `https://s3.eu-central-1.amazonaws.com` or `https://minio.example.net:9000`; plain `http://` only on loopback or the tailnet (`100.64.0.0/10`, `*.ts.net`)."""
    bucket: str
    """The bucket (it must exist or be creatable with the credentials)."""
    prefix: str = "homeport"
    """Key prefix of the restic repository inside the bucket, e.g. `homeport/site-a`."""
    region: str | None = None
    """The bucket's region when the endpoint needs one (AWS); other services ignore it."""
    credentials_secret: str
    """File in the secrets directory with `AWS_ACCESS_KEY_ID=...` and `AWS_SECRET_ACCESS_KEY=...` lines."""
    encryption_key_secret: str
    """File in the secrets directory holding the repository's encryption password (keep a copy off the control plane: without it the copies cannot be read)."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"endpoint {value!r} is not a URL: {exc}") from None
        del port
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                f"endpoint {value!r} must be an https:// URL such as 'https://s3.example.com'"
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError(
                f"endpoint {value!r} must hold no credentials, query or fragment: "
                "credentials go in credentialsSecret"
            )
        if parts.path not in ("", "/"):
            raise ValueError(
                f"endpoint {value!r} must have no path: name the bucket in 'bucket' "
                "and the folder in 'prefix'"
            )
        if parts.scheme == "http" and not plain_http_allowed(parts.hostname):
            raise ValueError(
                f"endpoint {value!r} is plain HTTP: use https:// (plain HTTP only on loopback "
                "or the tailnet: a 100.64.0.0/10 address or a *.ts.net name)"
            )
        return value.rstrip("/")

    @field_validator("bucket", "prefix", "region")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        pattern, rule = _S3_TEXT_RULES[info.field_name or ""]
        return fullmatch_or_raise(pattern, value, f"{info.field_name} {value!r} {rule}")

    @field_validator("credentials_secret", "encryption_key_secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_secret_path(value)

    @model_validator(mode="after")
    def _distinct(self) -> S3Target:
        if self.credentials_secret == self.encryption_key_secret:
            raise ValueError(
                "credentialsSecret and encryptionKeySecret name the same file: "
                "keep the encryption key in its own file"
            )
        return self

    @property
    def repository(self) -> str:
        """restic's repository address: ``s3:<endpoint>/<bucket>/<prefix>``."""
        return f"s3:{self.endpoint}/{self.bucket}/{self.prefix}"

    @property
    def key(self) -> str:
        """How copies to this target are recorded: ``s3:<endpoint>/<bucket>/<prefix>``."""
        return self.repository


class OffsiteCopy(KindModel):
    """A second copy of every new archive on another storage type / place (3-2-1)."""

    storage: str | None = None
    """A second Proxmox storage (e.g. an NFS/PBS storage) to copy archives to."""
    ssh: SSHTarget | None = None
    """A directory on another machine to copy archives to over SSH."""
    s3: S3Target | None = None
    """An S3-compatible bucket; copies are encrypted by restic on the control plane (`docs/backups.md`)."""

    @model_validator(mode="after")
    def _one(self) -> OffsiteCopy:
        if self.storage is None and self.ssh is None and self.s3 is None:
            raise ValueError("an offsite copy needs 'storage', 'ssh' and/or 's3'")
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
