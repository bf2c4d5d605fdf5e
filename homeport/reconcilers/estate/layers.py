"""Which VMs make up each boot layer, and what stopping a VM takes with it. Pure.

A VM's ``layer`` (1 infrastructure, 2 core services, 3 apps, 4 user-facing) orders the
estate: a shutdown stops the highest layer first, a start brings the lowest up first.
Stopping a VM holds it, its Apps and every StandbyPair with a member on it (so the pair
never fails over); a pair is released once none of its members' VMs is held any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from homeport.kinds import VM, App, Resource, StandbyPair
from homeport.kinds.vm import LAYER_NAMES
from homeport.reconcilers.powerhold import hold_key


@dataclass(frozen=True)
class PowerVM:
    """A VM as the power operations see it."""

    name: str
    layer: int
    running_wanted: bool
    """Declared ``powerState: running`` (a VM declared stopped is never started)."""
    apps: tuple[App, ...] = ()
    pairs: tuple[str, ...] = ()

    def hold_keys(self) -> tuple[str, ...]:
        return (hold_key("VM", self.name), *(hold_key("App", a.name) for a in self.apps))


def layer_name(layer: int) -> str:
    return LAYER_NAMES.get(layer, f"layer {layer}")


def pair_members(resources: Iterable[Resource]) -> dict[str, set[str]]:
    """StandbyPair → the VMs its two Apps run on."""
    items = list(resources)
    app_vm = {r.name: r.spec.vm for r in items if isinstance(r, App)}
    return {
        r.name: {app_vm[a] for a in (r.spec.primary, r.spec.standby) if a in app_vm}
        for r in items
        if isinstance(r, StandbyPair)
    }


def estate_vms(resources: Iterable[Resource]) -> list[PowerVM]:
    items = list(resources)
    # Each VM's Apps and pairs from one pass over the estate each: scanning every App for
    # every VM grew as the square of the estate.
    apps_on: dict[str, list[App]] = {}
    for app in sorted((a for a in items if isinstance(a, App)), key=lambda a: a.name):
        apps_on.setdefault(app.spec.vm, []).append(app)
    pairs_on: dict[str, list[str]] = {}
    for pair, members in sorted(pair_members(items).items()):
        for vm_name in members:
            pairs_on.setdefault(vm_name, []).append(pair)
    return [
        PowerVM(
            name=vm.name,
            layer=vm.spec.layer,
            running_wanted=vm.spec.power_state == "running",
            apps=tuple(apps_on.get(vm.name, ())),
            pairs=tuple(pairs_on.get(vm.name, ())),
        )
        for vm in sorted((r for r in items if isinstance(r, VM)), key=lambda v: v.name)
    ]


def _by_layer(vms: Iterable[PowerVM]) -> dict[int, tuple[PowerVM, ...]]:
    layers: dict[int, list[PowerVM]] = {}
    for vm in vms:
        layers.setdefault(vm.layer, []).append(vm)
    return {layer: tuple(members) for layer, members in layers.items()}


def shutdown_layers(vms: Iterable[PowerVM], down_to: int) -> list[tuple[int, tuple[PowerVM, ...]]]:
    """User-facing first, down to ``down_to`` (1: everything)."""
    layers = _by_layer(vms)
    return [(layer, layers[layer]) for layer in sorted(layers, reverse=True) if layer >= down_to]


def start_layers(vms: Iterable[PowerVM]) -> list[tuple[int, tuple[PowerVM, ...]]]:
    """Infrastructure first; only VMs declared running."""
    layers = _by_layer(vm for vm in vms if vm.running_wanted)
    return [(layer, layers[layer]) for layer in sorted(layers)]


def pairs_to_release(pairs: Mapping[str, set[str]], held_vms: set[str]) -> list[str]:
    """Pairs none of whose members' VMs is still held."""
    return sorted(p for p, members in pairs.items() if not members & held_vms)
