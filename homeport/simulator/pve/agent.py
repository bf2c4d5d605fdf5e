"""The QEMU guest agent endpoints, answered by the guest runtime.

PVE's checks come first (`No QEMU guest agent configured`, `VM 100 is not running`); an agent
that does not answer yet (guest still booting, or hung) costs the guest-ping timeout and then
`QEMU guest agent is not running`. Addresses reported are the VM's loopback address, the one
its SSH server listens on. `exec` runs in the background; `exec-status` reports it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve.vms import Vm, vm_on_node

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

OS_INFO = {
    "id": "ubuntu",
    "name": "Ubuntu",
    "pretty-name": "Ubuntu 24.04.2 LTS",
    "version": "24.04.2 LTS (Noble Numbat)",
    "version-id": "24.04",
    "kernel-release": "6.8.0-60-generic",
    "kernel-version": "#63-Ubuntu SMP PREEMPT_DYNAMIC",
    "machine": "x86_64",
}


@dataclass
class ExecResult:
    exited: bool = False
    exitcode: int = 0
    out: bytes = b""
    err: bytes = b""


async def ready_vm(world: World, node: str, vmid: int) -> Vm:
    vm = vm_on_node(world, node, vmid)
    if not qc.agent_enabled(vm.conf):
        raise PveError("No QEMU guest agent configured")
    if not vm.running:
        raise PveError(f"VM {vmid} is not running")
    if not world.guests.agent_answers(vm):
        await world.clock.sleep(world.timings.agent_timeout)
        if not world.guests.agent_answers(vm):
            raise PveError("QEMU guest agent is not running")
    return vm


async def network_interfaces(world: World, node: str, vmid: int) -> dict[str, Any]:
    vm = await ready_vm(world, node, vmid)
    mac = (qc.net_mac(str(vm.conf.get("net0", ""))) or "BC:24:11:00:00:00").lower()
    stats = {
        "rx-bytes": 0,
        "rx-packets": 0,
        "rx-errs": 0,
        "rx-dropped": 0,
        "tx-bytes": 0,
        "tx-packets": 0,
        "tx-errs": 0,
        "tx-dropped": 0,
    }
    return {
        "result": [
            {
                "name": "lo",
                "hardware-address": "00:00:00:00:00:00",
                "ip-addresses": [
                    {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
                    {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128},
                ],
                "statistics": stats,
            },
            {
                "name": "eth0",
                "hardware-address": mac,
                "ip-addresses": [
                    {"ip-address-type": "ipv4", "ip-address": vm.address, "prefix": 8},
                    {"ip-address-type": "ipv6", "ip-address": _link_local(mac), "prefix": 64},
                ],
                "statistics": stats,
            },
        ]
    }


def _link_local(mac: str) -> str:
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups)


async def simple(world: World, node: str, vmid: int, command: str) -> dict[str, Any]:
    vm = await ready_vm(world, node, vmid)
    if command == "get-osinfo":
        return {"result": OS_INFO}
    if command == "get-host-name":
        return {"result": {"host-name": vm.name}}
    return {"result": {}}


async def start_exec(
    world: World, node: str, vmid: int, command: list[str], input_data: str | None
) -> dict[str, Any]:
    await ready_vm(world, node, vmid)
    pid = world.nodes[node].next_pid(world.rng)
    result = ExecResult()
    world.agent_exec[(vmid, pid)] = result
    stdin = input_data.encode() if input_data is not None else None

    async def run() -> None:
        code, out, err = await world.guests.runtime.agent_exec(vmid, command, stdin)
        result.exitcode, result.out, result.err, result.exited = code, out, err, True

    world.background(run(), f"agent exec {vmid}", guest=True)
    return {"pid": pid}


async def exec_status(world: World, node: str, vmid: int, pid: int) -> dict[str, Any]:
    await ready_vm(world, node, vmid)
    result = world.agent_exec.get((vmid, pid))
    if result is None:
        raise PveError(f"Agent error: GuestExecStatus: PID {pid} does not exist")
    if not result.exited:
        return {"exited": 0}
    status: dict[str, Any] = {"exited": 1, "exitcode": result.exitcode}
    if result.out:
        status["out-data"] = result.out.decode(errors="replace")
    if result.err:
        status["err-data"] = result.err.decode(errors="replace")
    del world.agent_exec[(vmid, pid)]
    return status


async def file_write(
    world: World, node: str, vmid: int, path: str, content: str, encode: bool
) -> None:
    await ready_vm(world, node, vmid)
    if encode:
        data = content.encode()
    else:
        try:
            data = base64.b64decode(content, validate=True)
        except binascii.Error as err:
            raise PveError("Agent error: Invalid parameter 'buf-b64'") from err
    await world.guests.runtime.agent_file_write(vmid, path, data)
