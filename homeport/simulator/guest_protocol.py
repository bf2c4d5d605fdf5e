"""The seam between the simulated hypervisor and the guests running inside its VMs.

The world model (`pve.power`, `pve.clone`, `pve.backups`, `pve.nodes`) calls a
`GuestRuntime` when a VM's power state or disk changes; the runtime (`guest/`, or
`null_guest.NullGuestRuntime` in tests) brings the guest to life: SSH on the VM's loopback
address, cloud-init, systemd units, apps. The agent endpoints in `proxmox_api` delegate to
it too. The world owns time: it waits the simulated boot time before calling `boot()` and
only asks `agent_running()` once that boot has finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class GuestBoot:
    vmid: int
    name: str  # VM name (hostname)
    node: str
    address: str  # the VM's own loopback address 127.0.x.y (stable for the VM's lifetime)
    ciuser: str | None
    sshkeys: str  # decoded authorized_keys text from the config's urlencoded `sshkeys`
    ipconfig0: str | None
    first_boot: bool  # cloud-init runs on first boot only (new instance)


class GuestRuntime(Protocol):
    async def boot(self, boot: GuestBoot) -> None:
        """VM started: start SSH, run cloud-init on first boot, start enabled units."""

    async def halt(self, vmid: int) -> None:
        """VM stopped or its node crashed: SSH and apps stop; disk state kept."""

    async def destroy(self, vmid: int) -> None:
        """VM deleted: its disk state removed."""

    async def clone_disk(self, source_vmid: int, new_vmid: int) -> None:
        """Copy a guest's disk state (template -> clone, restore from backup)."""

    def agent_running(self, vmid: int) -> bool:
        """The guest agent answers (booted and not hung)."""

    async def agent_exec(
        self, vmid: int, argv: list[str], stdin: bytes | None
    ) -> tuple[int, bytes, bytes]:
        """Run a command through the guest agent: (exit code, stdout, stderr)."""

    async def agent_file_write(self, vmid: int, path: str, content: bytes) -> None:
        """Write a file inside the guest through the guest agent."""

    async def snapshot_disk(self, vmid: int, dest: Path) -> None:
        """vzdump: archive the guest disk state into dest."""

    async def restore_disk(self, vmid: int, src: Path) -> None:
        """qmrestore: replace the guest disk state with the archive at src."""

    async def set_reachable(self, vmid: int, reachable: bool) -> None:
        """Network partition of a guest."""
