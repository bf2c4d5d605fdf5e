"""One simulated VM's operating system: disk, network interface, sshd, systemd, tailscaled.

``runtime.LoopbackGuestRuntime`` owns one :class:`SimulatedGuest` per vmid and drives its
power state; the pieces live in their own modules (``rootfs.py``, ``nic.py``, ``sshd.py``,
``systemd.py``, ``cloudinit.py``, ``tailnet_link.py``); ``faults.py`` holds what is
injected. Commands (``commands/``) see the guest through this object.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
from pathlib import Path

from .cloudinit import HOST_KEY, generate_host_key, run_cloud_init
from .faults import AppFault, ExecFlap, GuestFaults
from .image import lay_down_template
from .journal import Journal
from .lease import ThawHooks
from .nic import GuestNic, NicMode
from .rootfs import GuestDisk
from .seam import Clock, GuestBoot, Sleep
from .sshd import GuestSshd
from .systemd import Systemd, SystemdHost
from .tailnet_link import TailnetControl, read_node_id


class SimulatedGuest:
    def __init__(
        self,
        vmid: int,
        guest_dir: Path,
        *,
        clock: Clock,
        sleep: Sleep,
        ssh_port: int,
        seed: int,
        tailnet: TailnetControl | None,
        exec_flaps: list[ExecFlap] | None = None,
    ) -> None:
        self.vmid = vmid
        self.exec_flaps = exec_flaps if exec_flaps is not None else []
        self._flaps: set[asyncio.Task[None]] = set()
        self.disk = GuestDisk(guest_dir)
        self.journal = Journal(guest_dir / "journal.jsonl", clock)
        self.clock = clock
        self.sleep = sleep
        self.ssh_port = ssh_port
        self.tailnet = tailnet
        self.faults = GuestFaults()
        self.thaw_hooks: ThawHooks = set()
        self.address = ""
        self.running = False
        self.nic: GuestNic | None = None
        self.sshd: GuestSshd | None = None
        self._sshd_port = 0
        self.systemd = self._new_systemd(GuestNic(""))
        self._rng = random.Random(f"{seed}:{vmid}")
        self._pid = 1000 + self._rng.randrange(4000)
        self._boot_task: asyncio.Task[None] | None = None

    # ---- what commands see ------------------------------------------------------------

    def hostname(self) -> str:
        return self.disk.read_text("/etc/hostname").strip() or "ubuntu"

    def reachable(self) -> bool:
        return self.running and not self.faults.cut_off and not self.faults.silent

    def sshd_listening(self) -> bool:
        return self.running and not self.faults.ssh_refused

    def app_listeners(self) -> list[tuple[str, int]]:
        return self.systemd.listening()

    def app_fault(self, unit: str) -> AppFault | None:
        return self.faults.apps.get(unit)

    def next_pid(self) -> int:
        self._pid += 1 + self._rng.randrange(7)
        return self._pid

    def ensure_disk(self) -> None:
        if not self.disk.exists():
            lay_down_template(self.disk)

    def _new_systemd(self, nic: GuestNic) -> Systemd:
        return Systemd(
            SystemdHost(
                disk=self.disk,
                journal=self.journal,
                nic=nic,
                clock=self.clock,
                sleep=self.sleep,
                address=self.address,
                hostname=self.hostname,
                app_fault=self.app_fault,
                next_pid=self.next_pid,
                frozen=lambda: self.faults.silent,
                thaw_hooks=self.thaw_hooks,
            )
        )

    # ---- power ------------------------------------------------------------------------

    async def power_on(self, boot: GuestBoot) -> None:
        if self.running:
            return
        self.ensure_disk()
        self.address = boot.address
        self.faults.hung = self.faults.crashed = False
        self.disk.owners.forget_cache()
        self._empty_run()
        if boot.first_boot:
            run_cloud_init(self.disk, boot, self._rng, self.journal)
        if not self.disk.host(HOST_KEY).is_file():
            generate_host_key(self.disk, self._rng)
        self.nic = GuestNic(boot.address)
        self.sshd = GuestSshd(self)
        self._sshd_port = await self.sshd.start()
        if not self.faults.ssh_refused:
            await self.nic.publish(self.ssh_port, self._sshd_port)
        self.running = True
        await self.apply_network()
        self.systemd = self._new_systemd(self.nic)
        self.journal.log("ssh.service", "Server listening on 0.0.0.0 port 22.", identifier="sshd")
        self._boot_task = asyncio.get_running_loop().create_task(self.systemd.boot())

    def _empty_run(self) -> None:
        """``/run`` is a tmpfs: nothing in it survives a reboot (leases included)."""
        run = self.disk.host("/run")
        if run.is_dir():
            for child in run.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()

    async def power_off(self) -> None:
        if not self.running:
            return
        self.running = False
        for flap in list(self._flaps):
            flap.cancel()
        if self._boot_task is not None:
            self._boot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._boot_task
            self._boot_task = None
        await self.systemd.halt()
        if self.sshd is not None:
            await self.sshd.stop()
            self.sshd = None
        if self.nic is not None:
            await self.nic.close()
        self._report_tailnet()
        self.faults.hung = self.faults.crashed = False

    async def wait_booted(self) -> None:
        """Until every enabled unit's start job has finished (for tests and the world)."""
        if self._boot_task is not None:
            await asyncio.shield(self._boot_task)

    # ---- network and faults -----------------------------------------------------------

    async def apply_network(self) -> None:
        if self.nic is None:
            return
        if not self.running or self.faults.cut_off:
            mode = NicMode.DOWN
        elif self.faults.silent:
            mode = NicMode.BLACKHOLE
        else:
            mode = NicMode.UP
        if self.nic.mode is not mode:
            await self.nic.set_mode(mode)
        self._report_tailnet()

    def exec_flap(self, line: str) -> ExecFlap | None:
        """The flap an SSH exec of ``line`` triggers, if any (see ``ExecFlap``)."""
        return next((flap for flap in self.exec_flaps if flap.take(line)), None)

    async def flap(self, seconds: float) -> None:
        """Drop off the network now and come back ``seconds`` (simulated) later; returns
        once the guest is cut off. The flap runs on its own: a session it resets goes on."""
        down = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._flap(seconds, down))
        self._flaps.add(task)
        task.add_done_callback(self._flaps.discard)
        await down.wait()

    async def _flap(self, seconds: float, down: asyncio.Event) -> None:
        self.faults.flapping += 1
        try:
            await self.apply_network()
            down.set()
            await self.sleep(seconds)
        finally:
            down.set()
            self.faults.flapping -= 1
            await self.apply_network()

    def _report_tailnet(self) -> None:
        node_id = read_node_id(self.disk)
        if self.tailnet is not None and node_id is not None:
            self.tailnet.set_connected(node_id, self.reachable())

    async def refuse_ssh(self, refused: bool) -> None:
        self.faults.ssh_refused = refused
        if self.nic is None or not self.running:
            return
        if refused:
            await self.nic.unpublish(self.ssh_port)  # sessions already open live on, as in sshd
        elif self.ssh_port not in self.nic.ports:
            await self.nic.publish(self.ssh_port, self._sshd_port)
