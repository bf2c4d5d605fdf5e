"""PCI passthrough across manifests: a VM's claims against its Machine's devices.

One check of ``validate.py``'s ``CHECKS``: every device or mapping a VM names must be
declared on the VM's Machine (``spec.pciDevices``), and no device of a Machine may be
given to two VMs — Proxmox would accept both configs and refuse the second start.
A mapping is a pool: each VM naming it takes one of its free devices on that Machine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from homeport.kinds import VM, Machine
from homeport.kinds.pci import PciPassthrough, device_key
from homeport.source.errors import ManifestError
from homeport.source.manifests import LoadedObject

if TYPE_CHECKING:
    from homeport.source.validate import Estate


def check_pci_claims(estate: Estate) -> Iterator[ManifestError]:
    taken: dict[str, dict[str, str]] = defaultdict(dict)  # Machine → device key → VM
    for obj in estate.of_kind("VM"):
        vm = obj.resource
        assert isinstance(vm, VM)
        machine_obj = estate.get("Machine", vm.spec.machine)
        if machine_obj is None or not isinstance(machine_obj.resource, Machine):
            continue  # a missing Machine is reported by check_references
        machine = machine_obj.resource
        for index, claim in enumerate(vm.spec.pci_devices):
            error = _claim(obj, index, claim, machine, taken[machine.name])
            if error is not None:
                yield error


def _claim(
    obj: LoadedObject,
    index: int,
    claim: PciPassthrough,
    machine: Machine,
    taken: dict[str, str],
) -> ManifestError | None:
    """Take the claimed device on ``machine`` for VM ``obj``, or say why it cannot."""
    path = ("spec", "pciDevices", index)
    declared = machine.spec.pci_devices
    if claim.mapping is not None:
        pool = [device_key(d.address) for d in declared if d.mapping == claim.mapping]
        if not pool:
            return obj.error(
                path,
                f"mapping {claim.mapping!r} is not declared on Machine {machine.name!r}",
                f"add a device with mapping: {claim.mapping} to Machine {machine.name!r} "
                "spec.pciDevices (and the mapping in Proxmox), or place the VM where it is",
            )
        free = [key for key in pool if key not in taken]
        if not free:
            owners = ", ".join(sorted({f"VM/{taken[key]}" for key in pool}))
            return obj.error(
                path,
                f"every device of mapping {claim.mapping!r} on Machine {machine.name!r} "
                f"is already given to {owners}",
                "a device passes through to one VM only: add a device to the mapping or "
                "give this VM another one",
            )
        taken[free[0]] = obj.name
        return None
    assert claim.device is not None
    key = device_key(claim.device)
    if key not in {device_key(d.address) for d in declared}:
        return obj.error(
            path,
            f"device {claim.device} is not declared on Machine {machine.name!r}",
            f"add it to Machine {machine.name!r} spec.pciDevices (see `lspci -D` on "
            f"{machine.spec.node}), or fix the address",
        )
    if key in taken:
        return obj.error(
            path,
            f"device {key} on Machine {machine.name!r} is already given to VM/{taken[key]}",
            "a device passes through to one VM only: give this VM another device",
        )
    taken[key] = obj.name
    return None
