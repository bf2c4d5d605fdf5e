"""``LoopbackGuestRuntime``: every simulated VM's guest OS, on its own loopback address.

The Proxmox side of the simulator drives it through the ``GuestRuntime`` protocol
(``seam.py``): boot, halt, destroy, clone, backup and restore of disks, the guest agent,
network partitions. Test code (and the simulator's control endpoint) injects the
guest-level faults of ``faults.py`` through the methods under "faults".

Disk state lives in ``<state>/guests/<vmid>/`` and survives restarts of the simulator.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tarfile
from pathlib import Path

from .commands import run_argv
from .commands.base import Completed, ExecContext
from .faults import AppFault, ExecFlap
from .guest import SimulatedGuest
from .seam import Clock, GuestBoot, Sleep
from .systemd import unit_name
from .tailnet_link import TailnetControl

DEFAULT_SSH_PORT = 2222


class GuestNotRunning(RuntimeError):
    """The guest agent cannot answer: the VM is off, hung or crashed."""


class LoopbackGuestRuntime:
    def __init__(
        self,
        *,
        state_dir: Path,
        seed: int,
        clock: Clock,
        ssh_port: int = DEFAULT_SSH_PORT,
        sleep: Sleep = asyncio.sleep,
        tailnet: TailnetControl | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.seed = seed
        self.clock = clock
        self.sleep = sleep
        self.ssh_port = ssh_port
        self.tailnet = tailnet
        self._guests: dict[int, SimulatedGuest] = {}
        self._exec_flaps: list[ExecFlap] = []

    async def start(self) -> None:
        (self.state_dir / "guests").mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        for guest in list(self._guests.values()):
            await guest.power_off()

    def guest(self, vmid: int) -> SimulatedGuest:
        guest = self._guests.get(vmid)
        if guest is None:
            guest = SimulatedGuest(
                vmid,
                self.state_dir / "guests" / str(vmid),
                clock=self.clock,
                sleep=self.sleep,
                ssh_port=self.ssh_port,
                seed=self.seed,
                tailnet=self.tailnet,
                exec_flaps=self._exec_flaps,
            )
            self._guests[vmid] = guest
        return guest

    # ---- GuestRuntime -----------------------------------------------------------------

    async def boot(self, boot: GuestBoot) -> None:
        await self.guest(boot.vmid).power_on(boot)

    async def halt(self, vmid: int) -> None:
        await self.guest(vmid).power_off()

    async def destroy(self, vmid: int) -> None:
        guest = self.guest(vmid)
        await guest.power_off()
        await asyncio.to_thread(shutil.rmtree, guest.disk.dir, True)
        del self._guests[vmid]

    async def clone_disk(self, source_vmid: int, new_vmid: int) -> None:
        source = self.guest(source_vmid)
        source.ensure_disk()
        target = self.guest(new_vmid)
        await asyncio.to_thread(shutil.rmtree, target.disk.dir, True)
        target.disk.dir.mkdir(parents=True)
        await asyncio.to_thread(shutil.copytree, source.disk.root, target.disk.root, symlinks=True)
        owners = source.disk.dir / "owners.json"
        if owners.exists():
            shutil.copy2(owners, target.disk.dir / "owners.json")
        target.disk.owners.forget_cache()

    def agent_running(self, vmid: int) -> bool:
        guest = self._guests.get(vmid)
        return guest is not None and guest.running and not guest.faults.silent

    async def agent_exec(
        self, vmid: int, argv: list[str], stdin: bytes | None
    ) -> tuple[int, bytes, bytes]:
        guest = self._agent(vmid)
        root = guest.disk.accounts().user("root")
        assert root is not None

        async def read_stdin() -> bytes:
            return stdin or b""

        result: Completed = await run_argv(ExecContext(guest, root, "/", read_stdin), argv)
        return result.rc, result.stdout, result.stderr

    async def agent_file_write(self, vmid: int, path: str, content: bytes) -> None:
        guest = self._agent(vmid)
        guest.disk.write_file(path, content, mode=0o644)

    def _agent(self, vmid: int) -> SimulatedGuest:
        if not self.agent_running(vmid):
            raise GuestNotRunning(f"QEMU guest agent is not running (VM {vmid})")
        return self._guests[vmid]

    async def snapshot_disk(self, vmid: int, dest: Path) -> None:
        guest = self.guest(vmid)
        guest.ensure_disk()
        await asyncio.to_thread(_archive, guest.disk.dir, dest)

    async def restore_disk(self, vmid: int, src: Path) -> None:
        guest = self.guest(vmid)
        await asyncio.to_thread(shutil.rmtree, guest.disk.dir, True)
        guest.disk.dir.mkdir(parents=True)
        await asyncio.to_thread(_extract, src, guest.disk.dir)
        guest.disk.owners.forget_cache()

    async def set_reachable(self, vmid: int, reachable: bool) -> None:
        guest = self.guest(vmid)
        guest.faults.partitioned = not reachable
        await guest.apply_network()

    # ---- faults -----------------------------------------------------------------------

    async def hang_vm(self, vmid: int) -> None:
        """SSH, agent and apps stop answering (connections accepted, then silence)."""
        guest = self.guest(vmid)
        guest.faults.hung = True
        await guest.apply_network()

    async def crash_vm(self, vmid: int) -> None:
        """Kernel panic: as a hang, and only a Proxmox stop/start (halt + boot) recovers."""
        guest = self.guest(vmid)
        guest.faults.crashed = True
        await guest.apply_network()

    async def resume_vm(self, vmid: int) -> None:
        """End a hang (not a crash)."""
        guest = self.guest(vmid)
        guest.faults.hung = False
        for overdue in list(guest.thaw_hooks):  # timers that fell due while frozen fire first
            await overdue()
        await guest.apply_network()

    async def refuse_ssh(self, vmid: int, refused: bool = True) -> None:
        await self.guest(vmid).refuse_ssh(refused)

    def flap_on_exec(self, pattern: str, *, seconds: float, count: int = 1) -> ExecFlap:
        """Cut a guest off for ``seconds`` right after it runs an SSH exec line matching
        ``pattern`` (any guest, the first ``count`` matches): a flap that provably lands
        in the middle of what the client was doing. ``ExecFlap.fired`` says when it did."""
        flap = ExecFlap(re.compile(pattern), seconds, count)
        self._exec_flaps.append(flap)
        return flap

    def hang_app(self, vmid: int, unit: str) -> None:
        self.guest(vmid).faults.apps[unit_name(unit)] = AppFault("hang")

    def fail_app(self, vmid: int, unit: str, status: int = 500) -> None:
        self.guest(vmid).faults.apps[unit_name(unit)] = AppFault("error", status)

    def heal_app(self, vmid: int, unit: str) -> None:
        self.guest(vmid).faults.apps.pop(unit_name(unit), None)

    def fill_disk(self, vmid: int, full: bool = True) -> None:
        guest = self.guest(vmid)
        guest.faults.disk_full = guest.disk.full = full

    # ---- observation (tests and invariant checks) -------------------------------------

    def running(self, vmid: int) -> bool:
        guest = self._guests.get(vmid)
        return guest is not None and guest.running

    def disk_path(self, vmid: int) -> Path:
        return self.guest(vmid).disk.root

    async def wait_booted(self, vmid: int) -> None:
        await self.guest(vmid).wait_booted()


def _archive(source_dir: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as archive:
        archive.add(source_dir, arcname=".")


def _extract(src: Path, dest_dir: Path) -> None:
    with tarfile.open(src, "r:*") as archive:
        # Our own archives: keep absolute symlinks and modes (they are guest paths).
        archive.extractall(dest_dir, filter="fully_trusted")
