"""Parsing ``GET /cluster/mapping/pci`` (PVE 8+): device paths per node."""

from __future__ import annotations

from homeport.clients.proxmox_pci import PciMapping

# The shape PVE answers (apidoc: id, description, map entries as property strings).
CAPTURED = {
    "id": "gpu",
    "description": "RTX 3090",
    "map": [
        "id=10de:2204,iommugroup=14,node=pve1,path=0000:01:00",
        "id=10de:2204,node=pve2,path=0000:41:00;0000:42:00,subsystem-id=1458:403b",
    ],
}


def test_a_mapping_lists_its_paths_per_node() -> None:
    mapping = PciMapping.parse(CAPTURED)
    assert mapping.id == "gpu"
    assert mapping.paths == {"pve1": ("0000:01:00",), "pve2": ("0000:41:00", "0000:42:00")}


def test_a_mapping_without_entries_maps_nothing() -> None:
    assert PciMapping.parse({"id": "spare"}).paths == {}
