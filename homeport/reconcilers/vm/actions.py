"""The changes the VM reconciler makes, as values that render a one-line diff."""

from __future__ import annotations

from dataclasses import dataclass

from homeport.reconcilers.base import Action


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
