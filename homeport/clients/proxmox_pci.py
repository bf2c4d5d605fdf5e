"""Proxmox PCI resource mappings (``/cluster/mapping/pci``, PVE 8+), read only.

Used by the VM reconciler: a VM that names a mapping waits, with the fix, while the
mapping has no device on its node, instead of failing start after start.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.clients.proxmox_transport import ProxmoxTransport, expect_list
from homeport.clients.proxmox_wire import parse_property_string


@dataclass(frozen=True)
class PciMapping:
    """One mapping: its id and the device paths it maps on each node."""

    id: str
    paths: dict[str, tuple[str, ...]]

    @classmethod
    def parse(cls, data: dict[str, object]) -> PciMapping:
        paths: dict[str, tuple[str, ...]] = {}
        entries = data.get("map")
        for entry in entries if isinstance(entries, list) else []:
            props = parse_property_string(str(entry))
            node = props.get("node")
            if node:
                found = tuple(p for p in props.get("path", "").split(";") if p)
                paths[node] = paths.get(node, ()) + found
        return cls(str(data.get("id", "")), paths)


class ProxmoxPci:
    def __init__(self, transport: ProxmoxTransport) -> None:
        self._transport = transport

    async def mappings(self) -> list[PciMapping]:
        data = await self._transport.read("cluster.mapping.pci", ("cluster", "mapping", "pci"))
        return [PciMapping.parse(i) for i in expect_list(data, "cluster.mapping.pci")]
