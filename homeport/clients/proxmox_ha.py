"""Proxmox HA resources, read only: homeport reports HA-managed VMs and never fights HA.

No reconciler calls it today: the VM reconciler learns that a VM is HA-managed (reported,
not power-managed) from ``hastate`` in ``/cluster/resources``, the list every VM's
observation already shares, so it costs no read of its own. The client tests keep this
sub-API working against the simulator.
"""

from __future__ import annotations

from homeport.clients.errors import NotFound
from homeport.clients.proxmox_models import HaResource
from homeport.clients.proxmox_transport import ProxmoxTransport, expect_dict, expect_list


class ProxmoxHa:
    def __init__(self, transport: ProxmoxTransport) -> None:
        self._transport = transport

    async def resources(self) -> list[HaResource]:
        data = await self._transport.read("ha.resources", ("cluster", "ha", "resources"))
        return HaResource.parse_list(expect_list(data, "ha.resources"))

    async def resource(self, sid: str) -> HaResource | None:
        try:
            data = await self._transport.read("ha.resource", ("cluster", "ha", "resources", sid))
        except NotFound:
            return None
        return HaResource.parse({"sid": sid, **expect_dict(data, "ha.resource")})
