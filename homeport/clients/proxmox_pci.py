"""Proxmox PCI resource mappings (``/cluster/mapping/pci``, PVE 8+), read only.

Used by the VM reconciler: a VM that names a mapping waits, with the fix, while the
mapping has no device on its node, instead of failing start after start.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from homeport.clients.proxmox_fields import PveItem, PveStr
from homeport.clients.proxmox_transport import ProxmoxTransport, expect_list
from homeport.clients.proxmox_wire import parse_property_string


def _paths_by_node(entries: object) -> dict[str, tuple[str, ...]]:
    """``map`` entries (``node=pve1,path=0000:01:00.0;0000:01:00.1,id=...``) → paths by node."""
    paths: dict[str, tuple[str, ...]] = {}
    for entry in entries if isinstance(entries, list) else []:
        props = parse_property_string(str(entry))
        node = props.get("node")
        if node:
            found = tuple(p for p in props.get("path", "").split(";") if p)
            paths[node] = paths.get(node, ()) + found
    return paths


class PciMapping(PveItem):
    """One mapping: its id and the device paths it maps on each node."""

    id: PveStr = ""
    paths: Annotated[dict[str, tuple[str, ...]], BeforeValidator(_paths_by_node)] = Field(
        default_factory=dict, validation_alias="map"
    )


class ProxmoxPci:
    def __init__(self, transport: ProxmoxTransport) -> None:
        self._transport = transport

    async def mappings(self) -> list[PciMapping]:
        data = await self._transport.read("cluster.mapping.pci", ("cluster", "mapping", "pci"))
        return PciMapping.parse_list(expect_list(data, "cluster.mapping.pci"))
