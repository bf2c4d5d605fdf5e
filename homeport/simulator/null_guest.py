"""`NullGuestRuntime`: guests that exist only in memory (no SSH, no apps).

Implements `guest_protocol.GuestRuntime` for the simulator's own tests and benchmarks: a
guest's "disk" is a dict of files that clones copy and backups archive as JSON, and the agent
runs a handful of commands (`echo`, `cat`, `hostname`, `true`, `false`) against it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from homeport.simulator.guest_protocol import GuestBoot


class NullGuestRuntime:
    def __init__(self) -> None:
        self.disks: dict[int, dict[str, bytes]] = {}
        self.running: dict[int, GuestBoot] = {}
        self.unreachable: set[int] = set()
        self.hung: set[int] = set()
        self.boots: list[GuestBoot] = []

    async def boot(self, boot: GuestBoot) -> None:
        disk = self.disks.setdefault(boot.vmid, {})
        if boot.first_boot:
            disk["/etc/hostname"] = f"{boot.name}\n".encode()
            disk["/home/authorized_keys"] = boot.sshkeys.encode()
        self.running[boot.vmid] = boot
        self.boots.append(boot)

    async def halt(self, vmid: int) -> None:
        self.running.pop(vmid, None)

    async def destroy(self, vmid: int) -> None:
        self.running.pop(vmid, None)
        self.disks.pop(vmid, None)

    async def clone_disk(self, source_vmid: int, new_vmid: int) -> None:
        self.disks[new_vmid] = dict(self.disks.get(source_vmid, {}))

    def agent_running(self, vmid: int) -> bool:
        return vmid in self.running and vmid not in self.hung

    async def agent_exec(
        self, vmid: int, argv: list[str], stdin: bytes | None
    ) -> tuple[int, bytes, bytes]:
        disk = self.disks.setdefault(vmid, {})
        command, args = (argv[0], argv[1:]) if argv else ("", [])
        if command == "echo":
            return 0, (" ".join(args) + "\n").encode(), b""
        if command == "cat":
            if stdin is not None and not args:
                return 0, stdin, b""
            missing = [a for a in args if a not in disk]
            if missing:
                return 1, b"", f"cat: {missing[0]}: No such file or directory\n".encode()
            return 0, b"".join(disk[a] for a in args), b""
        if command == "hostname":
            return 0, disk.get("/etc/hostname", b"localhost\n"), b""
        if command in ("true", "false"):
            return (0 if command == "true" else 1), b"", b""
        return 127, b"", f"{command}: command not found\n".encode()

    async def agent_file_write(self, vmid: int, path: str, content: bytes) -> None:
        self.disks.setdefault(vmid, {})[path] = content

    async def snapshot_disk(self, vmid: int, dest: Path) -> None:
        files = {p: base64.b64encode(c).decode() for p, c in self.disks.get(vmid, {}).items()}
        _write_json(dest, files)

    async def restore_disk(self, vmid: int, src: Path) -> None:
        files = _read_json(src)
        self.disks[vmid] = {p: base64.b64decode(c) for p, c in files.items()}

    async def set_reachable(self, vmid: int, reachable: bool) -> None:
        if reachable:
            self.unreachable.discard(vmid)
        else:
            self.unreachable.add(vmid)


def _write_json(dest: Path, files: dict[str, str]) -> None:
    # Tiny files on a local disk: blocking I/O is cheaper than a thread hop here.
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(files))


def _read_json(src: Path) -> dict[str, str]:
    if not src.exists():
        return {}
    files: dict[str, str] = json.loads(src.read_text())
    return files
