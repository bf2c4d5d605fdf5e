"""The changes the BackupPolicy reconciler makes, as values that render a one-line diff.

``plan.py`` builds them, ``__init__.act`` performs them. None of them deletes an archive:
a policy's prune removes its job and its scratch VMs, never a backup.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.reconcilers.base import Action


@dataclass(frozen=True)
class CreateJob(Action):
    job_id: str
    fields: tuple[tuple[str, str], ...]
    """The declared job fields as PVE's property texts (``schedule``, ``vmid``, ...)."""
    vms: tuple[str, ...]
    verb = "create-job"

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.fields if k not in ("notes-template",))
        return f"create backup job {self.job_id}: {shown}"


@dataclass(frozen=True)
class UpdateJob(Action):
    job_id: str
    fields: tuple[tuple[str, str], ...]
    changes: tuple[tuple[str, str, str], ...]
    """(field, observed, desired) for every declared field that differs."""
    vms: tuple[str, ...]
    verb = "update-job"

    def describe(self) -> str:
        shown = "; ".join(f"{k} {old or '<unset>'} → {new}" for k, old, new in self.changes)
        return f"update backup job {self.job_id}: {shown}"


@dataclass(frozen=True)
class DeleteJob(Action):
    job_id: str
    verb = "delete-job"

    def describe(self) -> str:
        return f"delete backup job {self.job_id} (its archives are kept)"


@dataclass(frozen=True)
class ReportBackupFailure(Action):
    vm: str
    upid: str
    node: str
    exitstatus: str
    log: tuple[str, ...]
    verb = "report-backup-failure"
    mutating = False

    def describe(self) -> str:
        return f"report the failed backup of VM {self.vm} on {self.node}: {self.exitstatus}"


@dataclass(frozen=True)
class CopyTarget:
    """Where an offsite copy goes: another Proxmox storage, a directory over SSH, or a
    restic repository in an S3 bucket."""

    key: str
    """``storage:<id>``, ``ssh:<host>:<path>`` or ``s3:<endpoint>/<bucket>/<prefix>``: how
    copies are recorded."""
    kind: str  # storage | ssh | s3
    storage: str | None = None
    directory: str | None = None
    """For ``storage``: the storage's ``dump`` directory on the source node."""
    host: str | None = None
    """For ``ssh``: ``user@address[:port]`` as the SSH pool dials it."""
    region: str | None = None
    """For ``s3``: the bucket's region, when the service wants one."""
    credentials_secret: str | None = None
    """For ``s3``: the secret file (relative to the secrets directory) with the S3 key pair."""
    encryption_key_secret: str | None = None
    """For ``s3``: the secret file holding the repository password (never its content)."""


@dataclass(frozen=True)
class CopyArchive(Action):
    vm: str
    vmid: int
    volid: str
    node: str
    node_host: str
    """The source node's SSH address (its tailnet address)."""
    storage: str
    ctime: int
    size: int
    target: CopyTarget
    attempt: int = 1
    verb = "copy-archive"

    def describe(self) -> str:
        again = f" (attempt {self.attempt})" if self.attempt > 1 else ""
        how = (
            "encrypted by restic, verified by reading it back (sha256)"
            if self.target.kind == "s3"
            else "verified by sha256"
        )
        return f"copy {self.volid} of VM {self.vm} to {self.target.key}, {how}{again}"


@dataclass(frozen=True)
class BeginRestoreTest(Action):
    vm: str
    volid: str
    vmid: int
    node: str
    storage: str
    verb = "begin-restore-test"

    def describe(self) -> str:
        return f"restore test of VM {self.vm}: reserve scratch vmid {self.vmid} on {self.node} for {self.volid}"


@dataclass(frozen=True)
class RestoreScratchVM(Action):
    vm: str
    volid: str
    vmid: int
    node: str
    storage: str
    name: str
    description: str
    dhcp: tuple[str, ...]
    """``ipconfigN`` keys whose static address the copy must not claim (set to DHCP)."""
    verb = "restore-scratch"

    def describe(self) -> str:
        return f"restore {self.volid} to scratch VM {self.vmid} {self.name!r} on {self.node} (storage {self.storage}, new MACs, no autostart)"


@dataclass(frozen=True)
class IsolateScratchVM(Action):
    vmid: int
    node: str
    ports: tuple[int, ...]
    source: str | None
    cut_nics: tuple[str, ...]
    """NICs without the firewall flag: their link is set down instead."""
    verb = "isolate-scratch"

    def describe(self) -> str:
        allowed = ", ".join(f"tcp/{p}" for p in self.ports) or "nothing"
        origin = f" from {self.source}" if self.source else ""
        cut = f"; link down on {', '.join(self.cut_nics)}" if self.cut_nics else ""
        return f"isolate scratch VM {self.vmid}: firewall on, drop in and out except {allowed}{origin} for the health check{cut}"


@dataclass(frozen=True)
class StartScratchVM(Action):
    vmid: int
    node: str
    verb = "start-scratch"

    def describe(self) -> str:
        return f"boot scratch VM {self.vmid} on {self.node} (isolated)"


@dataclass(frozen=True)
class FinishRestoreTest(Action):
    vm: str
    volid: str
    passed: bool
    duration: float
    reason: str
    verb = "finish-restore-test"

    def describe(self) -> str:
        outcome = "passed" if self.passed else f"failed: {self.reason}"
        return f"restore test of VM {self.vm} from {self.volid} {outcome} ({self.duration:.0f}s)"


@dataclass(frozen=True)
class DestroyScratchVM(Action):
    vmid: int
    node: str
    why: str = ""
    verb = "destroy-scratch"

    def describe(self) -> str:
        because = f" ({self.why})" if self.why else ""
        return f"stop and destroy scratch VM {self.vmid} on {self.node}{because}"


@dataclass(frozen=True)
class CloseRestoreTest(Action):
    vmid: int | None
    verb = "close-restore-test"

    def describe(self) -> str:
        held = f"release scratch vmid {self.vmid}" if self.vmid is not None else "forget"
        return f"close the restore test: {held}"


@dataclass(frozen=True)
class StartBackupNow(Action):
    """``homeport backup now``: the one vzdump run of an operator's request."""

    request_at: str
    """The request it answers (its identity: a retried pass of the same request is the
    same action; a crash after the vzdump is found by observing the task, not redone)."""
    vm: str
    vmid: int
    node: str
    storage: str
    mode: str
    compress: str
    notes_template: str
    verb = "backup-now"

    def describe(self) -> str:
        return (
            f"back up VM {self.vmid} ({self.vm}) on {self.node} to {self.storage} now "
            f"({self.mode}, {self.compress})"
        )

    def identity(self) -> str:
        return f"{self.describe()} requested {self.request_at}"


@dataclass(frozen=True)
class FollowBackupTask(Action):
    """A vzdump run of the VM started since the request and not yet recorded in it (the
    daemon stopped between starting it and recording it): the request follows it."""

    vm: str
    upid: str
    verb = "follow-backup-task"
    mutating = False

    def describe(self) -> str:
        return f"follow the running backup of VM {self.vm}: {self.upid}"


@dataclass(frozen=True)
class AnswerBackupNow(Action):
    """Record the outcome of an on-demand backup in the request (the CLI prints it)."""

    vm: str
    ok: bool
    message: str
    vmid: int | None = None
    volid: str | None = None
    verb = "answer-backup-now"
    mutating = False
    reported = True

    def describe(self) -> str:
        return f"on-demand backup of VM {self.vm}: {self.message}"


@dataclass(frozen=True)
class ChooseRestoreVmid(Action):
    """Record the free vmid a ``homeport restore --as`` restores into, before restoring,
    so a pass after a crash restores into the same one (or finds it done)."""

    vm: str
    vmid: int
    verb = "choose-restore-vmid"
    mutating = False

    def describe(self) -> str:
        return f"restore a copy of VM {self.vm} into the free vmid {self.vmid}"


@dataclass(frozen=True)
class StopForRestore(Action):
    vm: str
    vmid: int
    node: str
    verb = "stop-for-restore"

    def describe(self) -> str:
        return f"stop VM {self.vmid} ({self.vm}) on {self.node} to restore over it"


@dataclass(frozen=True)
class RestoreArchive(Action):
    """``homeport restore``: the one qmrestore of an operator's request."""

    request_at: str
    vm: str
    volid: str
    vmid: int
    node: str
    storage: str | None
    new_name: str | None
    """A new VM's name (None: over the VM itself, ``force``)."""
    dhcp: tuple[str, ...] = ()
    """``ipconfigN`` keys a new VM gets DHCP for instead of the original's static address."""
    verb = "restore"

    def describe(self) -> str:
        if self.new_name is None:
            return f"restore {self.volid} over VM {self.vmid} {self.vm!r}"
        return f"restore {self.volid} as new VM {self.vmid} {self.new_name!r} on {self.node}"

    def identity(self) -> str:
        return f"{self.describe()} requested {self.request_at}"


@dataclass(frozen=True)
class FollowRestoreTask(Action):
    vm: str
    upid: str
    verb = "follow-restore-task"
    mutating = False

    def describe(self) -> str:
        return f"follow the running restore for VM {self.vm}: {self.upid}"


@dataclass(frozen=True)
class AnswerRestore(Action):
    """Record the outcome of ``homeport restore`` in its request (the CLI prints it)."""

    vm: str
    ok: bool
    message: str
    code: int = 0
    vmid: int | None = None
    verb = "answer-restore"
    mutating = False
    reported = True

    def describe(self) -> str:
        return f"restore for VM {self.vm}: {self.message}"
