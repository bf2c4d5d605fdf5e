"""PCI passthrough: each node's PCI devices, cluster resource mappings, PVE's refusals.

`GET /nodes/{node}/hardware/pci` lists a node's functions (seeded per node: a GPU with its
audio function on the first two nodes, none on the others); `/cluster/mapping/pci` holds
the mappings (PVE 8+: `map` entries `node=pve1,path=0000:01:00,id=10de:2204`). The checks
are PVE's, with its wording: a VM starts only when each `hostpciN` resolves to a device
on its node that no other running VM holds (`power.py` calls `check_start`), PCIe needs
q35, and a VM with `hostpciN` never live-migrates; offline, only mapped devices move, to
a node the mapping covers (`migrate.py` calls `migration_blocker`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError
from homeport.simulator.propstring import parse_propstring

if TYPE_CHECKING:
    from homeport.simulator.pve.vms import Vm
    from homeport.simulator.pve.world import World


@dataclass(frozen=True)
class PciFunction:
    """One line of `lspci -D` as PVE reports it."""

    id: str
    pci_class: str
    vendor: str
    device: str
    vendor_name: str
    device_name: str
    iommugroup: int

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": self.pci_class,
            "vendor": self.vendor,
            "device": self.device,
            "vendor_name": self.vendor_name,
            "device_name": self.device_name,
            "iommugroup": self.iommugroup,
            "subsystem_vendor": self.vendor,
            "subsystem_device": "0x0000",
        }


def seeded_gpu(bus: str, group: int) -> list[PciFunction]:
    """An NVIDIA GeForce RTX 3090 (VGA + HDMI audio) at ``0000:BUS:00``."""
    return [
        PciFunction(
            f"0000:{bus}:00.0", "0x030000", "0x10de", "0x2204", "NVIDIA Corporation",
            "GA102 [GeForce RTX 3090]", group,
        ),
        PciFunction(
            f"0000:{bus}:00.1", "0x040300", "0x10de", "0x1aef", "NVIDIA Corporation",
            "GA102 High Definition Audio Controller", group,
        ),
    ]  # fmt: skip


def _matches(function_id: str, path: str) -> bool:
    """Whether ``path`` (``0000:01:00`` all functions, or ``0000:01:00.0``) names it."""
    full = path if path.count(":") == 2 else f"0000:{path}"
    return function_id == full or function_id.startswith(full + ".")


def hardware(world: World, node: str) -> list[dict[str, Any]]:
    return [f.view() for f in world.pci.get(node, [])]


# --- cluster resource mappings ---------------------------------------------------------


def mapping_list(world: World) -> list[dict[str, Any]]:
    return [{"id": k, **v} for k, v in sorted(world.pci_mappings.items())]


def mapping_get(world: World, mapping_id: str) -> dict[str, Any]:
    entry = world.pci_mappings.get(mapping_id)
    if entry is None:
        raise PveError(f"PCI mapping '{mapping_id}' does not exist", status=500)
    return {"id": mapping_id, "type": "pci", **entry}


def mapping_create(world: World, params: dict[str, Any]) -> None:
    mapping_id = str(params["id"])
    if mapping_id in world.pci_mappings:
        raise PveError(f"unable to create '{mapping_id}' - mapping already exists")
    maps = params.get("map") or []
    entry: dict[str, Any] = {"map": [str(m) for m in maps]}
    if params.get("description"):
        entry["description"] = str(params["description"])
    world.pci_mappings[mapping_id] = entry
    world.changed()


def mapping_delete(world: World, mapping_id: str) -> None:
    world.pci_mappings.pop(mapping_id, None)
    world.changed()


def _mapped_paths(world: World, mapping_id: str, node: str) -> list[str]:
    entry = world.pci_mappings.get(mapping_id, {})
    paths: list[str] = []
    for line in entry.get("map", []):
        props = parse_propstring(str(line), "node")
        if props.get("node") == node:
            paths.extend(p for p in props.get("path", "").split(";") if p)
    return paths


# --- the checks ------------------------------------------------------------------------


def _hostpci(vm: Vm) -> list[tuple[str, dict[str, str]]]:
    return sorted(
        (k, parse_propstring(str(v), "host"))
        for k, v in vm.conf.items()
        if k.startswith("hostpci") and k[7:].isdigit()
    )


def _resolve(world: World, vm: Vm, props: dict[str, str]) -> tuple[list[str], list[str]]:
    """(paths the hostpci entry names on the VM's node, the node's functions they match)."""
    if "mapping" in props:
        paths = _mapped_paths(world, props["mapping"], vm.node)
    else:
        paths = [p for p in props.get("host", "").split(";") if p]
    functions = world.pci.get(vm.node, [])
    return paths, [f.id for p in paths for f in functions if _matches(f.id, p)]


def _in_use(world: World, vm: Vm) -> dict[str, int]:
    """Function id → vmid, for the devices the node's other running VMs hold."""
    held: dict[str, int] = {}
    for other in world.vms.values():
        if other.vmid != vm.vmid and other.node == vm.node and other.running:
            for _key, props in _hostpci(other):
                held.update((f, other.vmid) for f in _resolve(world, other, props)[1])
    return held


def check_start(world: World, vm: Vm) -> None:
    """PVE's refusal to start ``vm`` with its ``hostpciN`` on its node, if any."""
    held = _in_use(world, vm)
    q35 = "q35" in str(vm.conf.get("machine", ""))
    for _key, props in _hostpci(vm):
        if props.get("pcie") == "1" and not q35:
            raise PveError("q35 machine model is not enabled")
        paths, found = _resolve(world, vm, props)
        if "mapping" in props and not paths:
            raise PveError(f"PCI device mapping not found for '{props['mapping']}'")
        if not found:
            raise PveError(f"no pci device info for device '{paths[0] if paths else ''}'")
        for function in found:
            if function in held:
                raise PveError(f"PCI device '{function}' already in use by VMID '{held[function]}'")


def migration_blocker(world: World, vm: Vm, target: str, *, online: bool) -> str | None:
    """PVE's reason to abort migrating ``vm`` to ``target``; None when it may go."""
    devices = _hostpci(vm)
    raw = [k for k, p in devices if "mapping" not in p]
    mapped = [k for k, p in devices if "mapping" in p]
    if raw:
        return f"can't migrate VM which uses local devices: {', '.join(raw)}"
    if mapped and online:
        return f"can't migrate running VM which uses mapped devices: {', '.join(mapped)}"
    missing = sorted(
        {p["mapping"] for _, p in devices if "mapping" in p}
        - {m for m in world.pci_mappings if _mapped_paths(world, m, target)}
    )
    if missing:
        return f"can't migrate to '{target}': missing mapped devices {', '.join(missing)}"
    return None
