"""The QEMU guest agent through the Proxmox API: ping, addresses, exec, file-write.

Used by the VM reconciler to learn a new VM's addresses and to fetch its SSH host key
before homeport's SSH pool trusts it (``ssh.SSHPool.trust_host_key``). The agent answers
only once the guest has booted: until then calls raise ``AgentNotReady`` (pitfall 16),
which ``ping`` reports as ``False``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from homeport.clients.errors import AgentNotReady, ProxmoxError
from homeport.clients.proxmox_models import AgentExecStatus, GuestInterface
from homeport.clients.proxmox_transport import ProxmoxTransport, expect_dict
from homeport.clients.proxmox_wire import ParamValue, as_int
from homeport.clients.secret import Secret
from homeport.clients.timing import Clock, Deadline, Sleep

_STOPPED = "not running"


class GuestAgent:
    """Guest-agent calls for QEMU VMs."""

    def __init__(self, transport: ProxmoxTransport, *, clock: Clock, sleep: Sleep) -> None:
        self._transport = transport
        self._clock = clock
        self._sleep = sleep

    async def ping(self, node: str, vmid: int) -> bool:
        """Whether the agent answers (``False`` while the guest boots or is stopped)."""
        try:
            await self._call("POST", "agent.ping", node, vmid, "ping", mutating=False)
        except AgentNotReady:
            return False
        return True

    async def network_interfaces(self, node: str, vmid: int) -> list[GuestInterface]:
        data = await self._call("GET", "agent.network", node, vmid, "network-get-interfaces")
        result = expect_dict(data, "agent.network").get("result") or []
        return GuestInterface.parse_list([i for i in result if isinstance(i, dict)])

    async def exec(
        self, node: str, vmid: int, argv: Sequence[str], *, input_data: str | Secret | None = None
    ) -> int:
        """Start ``argv`` in the guest; its pid for ``exec_status``. Not repeated if lost."""
        params: dict[str, ParamValue] = {"command": list(argv), "input-data": input_data}
        data = await self._call("POST", "agent.exec", node, vmid, "exec", params)
        return as_int(expect_dict(data, "agent.exec").get("pid"), -1)

    async def exec_status(self, node: str, vmid: int, pid: int) -> AgentExecStatus:
        data = await self._call("GET", "agent.exec_status", node, vmid, "exec-status", {"pid": pid})
        return AgentExecStatus.parse(expect_dict(data, "agent.exec_status"))

    async def run(
        self,
        node: str,
        vmid: int,
        argv: Sequence[str],
        *,
        timeout: float,
        input_data: str | Secret | None = None,
        poll_interval: float = 0.2,
    ) -> AgentExecStatus:
        """``exec`` then poll ``exec_status`` until the command exits or ``timeout`` passes."""
        pid = await self.exec(node, vmid, argv, input_data=input_data)
        deadline = Deadline.after(timeout, self._clock)
        while True:
            status = await self.exec_status(node, vmid, pid)
            if status.exited:
                return status
            if deadline.expired():
                raise ProxmoxError(
                    0,
                    f"guest command {argv[0]!r} still running after {timeout:g}s",
                    operation="agent.exec",
                )
            await self._sleep(min(poll_interval, deadline.remaining()))

    async def file_write(self, node: str, vmid: int, path: str, content: bytes | Secret) -> None:
        """Write ``content`` to ``path`` in the guest (base64 on the wire; secrets scrubbed)."""
        raw = content.reveal().encode() if isinstance(content, Secret) else content
        encoded = base64.b64encode(raw).decode("ascii")
        value: str | Secret = Secret(encoded) if isinstance(content, Secret) else encoded
        params: dict[str, ParamValue] = {"file": path, "content": value, "encode": False}
        await self._call(
            "POST", "agent.file_write", node, vmid, "file-write", params, idempotent=True
        )

    async def _call(
        self,
        method: str,
        operation: str,
        node: str,
        vmid: int,
        command: str,
        params: dict[str, ParamValue] | None = None,
        *,
        mutating: bool = True,
        idempotent: bool = False,
    ) -> object:
        path = ("nodes", node, "qemu", vmid, "agent", command)
        try:
            if method == "GET":
                return await self._transport.read(operation, path, params, node=node, vmid=vmid)
            return await self._transport.write(
                "POST",
                operation,
                path,
                params,
                node=node,
                vmid=vmid,
                mutating=mutating,
                idempotent=idempotent or not mutating,
            )
        except AgentNotReady:
            raise
        except ProxmoxError as exc:
            if _STOPPED in exc.message and exc.status == 500:
                raise AgentNotReady(exc.status, exc.message, operation=operation) from None
            raise
