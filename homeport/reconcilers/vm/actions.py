"""The changes the VM reconciler makes, as values that render a one-line diff."""

from __future__ import annotations

from dataclasses import dataclass

from homeport.reconcilers.base import Action
from homeport.reconcilers.ownership import rule_comment


def _show(key: str, value: str) -> str:
    if key == "sshkeys":
        return f"sshkeys=<{len(value.splitlines())} public key(s)>"
    if key == "description":
        return "description=<with ownership marker>"
    return f"{key}={value}"


@dataclass(frozen=True)
class AllocateVmid(Action):
    vmid: int
    verb = "allocate-vmid"
    reported = True  # the reconciler reports the vmid it got (the candidate may be taken)

    def describe(self) -> str:
        return f"reserve vmid {self.vmid}"


@dataclass(frozen=True)
class CloneVM(Action):
    source_vmid: int
    source_node: str
    vmid: int
    name: str
    node: str
    storage: str
    description: str
    verb = "clone"

    def describe(self) -> str:
        where = (
            self.node if self.node == self.source_node else f"{self.node} (from {self.source_node})"
        )
        return f"full clone of template {self.source_vmid} → VM {self.vmid} {self.name!r} on {where}, storage {self.storage}"


@dataclass(frozen=True)
class UpdateConfig(Action):
    node: str
    vmid: int
    changes: tuple[tuple[str, str], ...]
    delete: tuple[str, ...] = ()
    verb = "configure"

    def describe(self) -> str:
        parts = [", ".join(_show(k, v) for k, v in self.changes)] if self.changes else []
        if self.delete:
            parts.append("delete " + ", ".join(self.delete))
        return (
            f"VM {self.vmid}: set " + "; ".join(parts)
            if self.changes
            else f"VM {self.vmid}: " + "; ".join(parts)
        )


@dataclass(frozen=True)
class ResizeDisk(Action):
    node: str
    vmid: int
    disk: str
    from_gib: int
    to_gib: int
    verb = "resize"

    def describe(self) -> str:
        return f"VM {self.vmid}: grow {self.disk} from {self.from_gib} GiB to {self.to_gib} GiB"


@dataclass(frozen=True)
class PowerVM(Action):
    node: str
    vmid: int
    operation: str  # start | shutdown | reboot | stop
    reason: str = ""
    verb = "power"

    def describe(self) -> str:
        because = f" ({self.reason})" if self.reason else ""
        return f"VM {self.vmid}: {self.operation}{because}"


@dataclass(frozen=True)
class MigrateVM(Action):
    node: str
    vmid: int
    target: str
    online: bool
    verb = "migrate"

    def describe(self) -> str:
        mode = "online" if self.online else "offline"
        return f"VM {self.vmid}: migrate {mode} from {self.node} to {self.target}"


@dataclass(frozen=True)
class JoinTailnet(Action):
    node: str
    vmid: int
    hostname: str
    tags: tuple[str, ...]
    verb = "join-tailnet"

    def describe(self) -> str:
        return f"VM {self.vmid}: join the tailnet as {self.hostname} ({', '.join(self.tags)}) with a one-off auth key"


@dataclass(frozen=True)
class TrustHostKey(Action):
    address: str
    port: int
    public_key: str
    verb = "trust-host-key"

    def describe(self) -> str:
        kind, _, rest = self.public_key.partition(" ")
        return f"pin SSH host key of {self.address}:{self.port} ({kind} …{rest.split()[0][-12:] if rest else ''}) read through the guest agent"


@dataclass(frozen=True)
class DestroyVM(Action):
    node: str
    vmid: int
    verb = "destroy"

    def describe(self) -> str:
        return f"destroy VM {self.vmid} on {self.node} with its disks"


@dataclass(frozen=True)
class ForgetVM(Action):
    address: str | None
    port: int
    device_id: str | None
    verb = "forget"

    def describe(self) -> str:
        parts = []
        if self.device_id:
            parts.append(f"remove tailnet device {self.device_id}")
        if self.address:
            parts.append(f"forget host key of {self.address}")
        parts.append("release vmid")
        return ", ".join(parts)


# -- the VM's Proxmox firewall (derived in ``firewall.py``) ------------------------------


@dataclass(frozen=True)
class FirewallRuleValue:
    """One inbound rule homeport owns, named by ``id`` in its comment (``homeport:<id>``)."""

    id: str
    action: str = "ACCEPT"
    proto: str | None = "tcp"
    dport: str | None = None
    source: str | None = None
    note: str | None = None
    type: str = "in"

    @property
    def comment(self) -> str:
        return rule_comment(self.id, self.note)

    def fields(self) -> dict[str, str | None]:
        return {
            "type": self.type,
            "action": self.action,
            "proto": self.proto,
            "dport": self.dport,
            "source": self.source,
        }

    def describe(self) -> str:
        port = f"/{self.dport}" if self.dport else ""
        return f"{self.id}: {self.type} {self.action} {self.proto or 'any'}{port} from {self.source or 'anywhere'}"


@dataclass(frozen=True)
class SetFirewallOptions(Action):
    node: str
    vmid: int
    changes: tuple[tuple[str, str], ...]
    was: str = ""
    drift: bool = False
    """An option was set to something else (by hand), not merely never set."""
    verb = "firewall-options"

    def describe(self) -> str:
        wanted = ", ".join(f"{k}={v}" for k, v in self.changes)
        return f"VM {self.vmid}: firewall {wanted} (was {self.was})"


@dataclass(frozen=True)
class CreateFirewallRule(Action):
    node: str
    vmid: int
    rule: FirewallRuleValue
    verb = "firewall-rule"

    def describe(self) -> str:
        return f"VM {self.vmid}: add firewall rule {self.rule.describe()}"


@dataclass(frozen=True)
class UpdateFirewallRule(Action):
    node: str
    vmid: int
    rule: FirewallRuleValue
    pos: int
    delete: tuple[str, ...] = ()
    drift: str = ""
    verb = "firewall-restore"

    def describe(self) -> str:
        return f"VM {self.vmid}: restore firewall rule {self.rule.id} edited by hand ({self.drift})"

    def identity(self) -> str:
        return f"{self.describe()} → {self.rule.describe()}"


@dataclass(frozen=True)
class DeleteFirewallRule(Action):
    node: str
    vmid: int
    rule_id: str
    pos: int
    seen: str
    why: str = "homeport no longer wants"
    verb = "firewall-remove"

    def describe(self) -> str:
        return f"VM {self.vmid}: remove firewall rule {self.rule_id} {self.why} ({self.seen})"


# -- removal by the VM's deletionPolicy (``removal.py``) --------------------------------


@dataclass(frozen=True)
class BeginRemoval(Action):
    """Record (durably, before anything changes) that the VM left git and how it goes."""

    vmid: int
    policy: str
    since: str
    verb = "begin-removal"

    def describe(self) -> str:
        return f"VM {self.vmid} left git: remove it by deletionPolicy {self.policy}"


@dataclass(frozen=True)
class FinalBackup(Action):
    """A last vzdump of the stopped VM, protected from retention, before it is destroyed."""

    node: str
    vmid: int
    policy: str
    storage: str
    mode: str
    compress: str
    note: str
    """Names this removal in the archive's notes: how the next look finds it."""
    verb = "final-backup"

    def describe(self) -> str:
        return (
            f"final backup of VM {self.vmid} to {self.storage} "
            f"(BackupPolicy {self.policy}), protected from retention"
        )


@dataclass(frozen=True)
class HoldDestruction(Action):
    """Record the hold that ``homeport approve VM/<name>`` releases."""

    name: str
    vmid: int
    node: str
    disks: tuple[str, ...]
    last_backup: str | None
    verb = "hold-destruction"

    def describe(self) -> str:
        return f"hold the destruction of VM {self.vmid} until `homeport approve VM/{self.name}`"


@dataclass(frozen=True)
class DetachVM(Action):
    """``Retain``: drop homeport's ownership tag and marker; the VM is kept, stopped."""

    node: str
    vmid: int
    name: str
    verb = "detach"

    def describe(self) -> str:
        return (
            f"VM {self.vmid}: detach from homeport (ownership tag and marker removed, "
            "tag homeport-retained added); kept stopped with its disks"
        )


@dataclass(frozen=True)
class ReleaseHold(Action):
    """The VM is back in git: its removal (and any approval of it) is void."""

    vmid: int | None
    verb = "release-hold"

    def describe(self) -> str:
        return f"VM {self.vmid} is back in git: cancel its removal and any approval of it"
