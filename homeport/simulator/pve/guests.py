"""The hypervisor side of the guest seam: when and how the world calls the `GuestRuntime`.

`power` starts and stops VMs; this module turns that into `boot()` after the simulated boot
time, `halt()` at once, and decides `first_boot` the way cloud-init does: a new instance id
(the hash of the cloud-init settings the drive was generated from) means a first boot. It
also hands out each VM's loopback address (127.0.x.y, never reused while the world lives).
Runtime calls run in the background so a slow guest never stalls an API call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.parse
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from homeport.simulator.guest_protocol import GuestBoot, GuestRuntime
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve.vms import Vm

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

_ADDRESSES_PER_BLOCK = 254


def address_for(index: int, octet: int = 0) -> str:
    block, host = divmod(index, _ADDRESSES_PER_BLOCK)
    return f"127.{octet}.{1 + block % 199}.{1 + host}"


def cloudinit_values(conf: qc.Config) -> qc.Config:
    keys = [*qc.CLOUDINIT_KEYS, "name", *sorted(k for k in conf if k.startswith("ipconfig"))]
    return {k: conf[k] for k in keys if k in conf}


def instance_id(values: qc.Config) -> str:
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()


class Guests:
    def __init__(self, world: World, runtime: GuestRuntime) -> None:
        self._world = world
        self.runtime = runtime
        self._boots: dict[int, asyncio.Task[None]] = {}

    def allocate_address(self) -> str:
        world = self._world
        used = {vm.address for vm in world.vms.values()}
        while True:
            address = address_for(world.next_address, world.config.address_octet)
            world.next_address += 1
            if address not in used:
                return address

    def started(self, vm: Vm) -> None:
        """QEMU runs: the guest boots after the simulated boot time."""
        self.cancel_boot(vm.vmid)
        vm.booted = False
        self._boots[vm.vmid] = asyncio.get_running_loop().create_task(self._boot(vm))

    async def _boot(self, vm: Vm) -> None:
        try:
            await self._world.clock.sleep(self._world.timings.guest_boot)
            await self._boot_now(vm)
        finally:
            if self._boots.get(vm.vmid) is asyncio.current_task():
                del self._boots[vm.vmid]

    async def _boot_now(self, vm: Vm) -> None:
        values = cloudinit_values(vm.ci_generated or vm.conf)
        new_instance = instance_id(values)
        boot = GuestBoot(
            vmid=vm.vmid,
            name=vm.name,
            node=vm.node,
            address=vm.address,
            ciuser=_opt(values.get("ciuser")),
            sshkeys=urllib.parse.unquote(str(values.get("sshkeys", ""))),
            ipconfig0=_opt(values.get("ipconfig0")),
            first_boot=vm.instance_id != new_instance,
        )
        try:
            await self.runtime.boot(boot)
        except Exception as err:
            self._world.guest_errors.append(f"boot {vm.vmid}: {err!r}")
            return
        vm.instance_id = new_instance
        vm.booted = True
        self._world.changed()

    def cancel_boot(self, vmid: int) -> None:
        boot = self._boots.pop(vmid, None)
        if boot is not None:
            boot.cancel()

    def halted(self, vm: Vm) -> None:
        """QEMU is gone (stop, shutdown, crash): SSH and apps stop."""
        self.cancel_boot(vm.vmid)
        vm.booted = False
        self.background(self.runtime.halt(vm.vmid), f"halt {vm.vmid}")

    def destroyed(self, vmid: int) -> None:
        self.cancel_boot(vmid)
        self.background(self.runtime.destroy(vmid), f"destroy {vmid}")

    def reachable(self, vm: Vm, reachable: bool) -> None:
        self.background(self.runtime.set_reachable(vm.vmid, reachable), f"reach {vm.vmid}")

    def agent_answers(self, vm: Vm) -> bool:
        return vm.running and vm.booted and self.runtime.agent_running(vm.vmid)

    def background(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        self._world.background(coro, what, guest=True)

    async def shutdown(self) -> None:
        for boot in list(self._boots.values()):
            boot.cancel()
        self._boots.clear()


def _opt(value: qc.ConfigValue | None) -> str | None:
    return None if value is None else str(value)
