"""Dependencies between objects: what must be Ready first, and what must go first.

Explicit ``dependsOn`` plus implicit references (App → VM → Machine, ProxyRoute → App or
StandbyPair, StandbyPair → Apps, BackupPolicy and Agent → the VMs they name). An object waits for its
dependencies to be Ready; a removed object waits until nothing depends on it any more
(reverse order). Boot layers order the initial work (infrastructure first).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from homeport.controller.store import Key, StoredObject
from homeport.kinds import VM, App, Resource

KIND_ORDER = {
    "Machine": 0,
    "VM": 1,
    "Agent": 2,
    "App": 2,
    "StandbyPair": 3,
    "ProxyRoute": 4,
    "BackupPolicy": 5,
}


def dependencies_of(obj: StoredObject) -> list[Key]:
    return [(ref.kind, ref.name) for ref in obj.resource().dependencies()]


def unready_dependencies(
    obj: StoredObject, lookup: Callable[[Key], StoredObject | None]
) -> list[Key]:
    """Dependencies of ``obj`` that are missing, being deleted or not Ready, each looked up
    on its own (no need to load the whole estate to gate one object)."""
    waiting = []
    for dep in dependencies_of(obj):
        found = lookup(dep)
        if found is None or found.deleting or not found.ready:
            waiting.append(dep)
    return waiting


class DependencyGraph:
    """A snapshot of the dependency edges of the stored objects."""

    def __init__(self, objects: Iterable[StoredObject]) -> None:
        self.objects = {o.key: o for o in objects}
        self._link({k: dependencies_of(o) for k, o in self.objects.items()})

    @classmethod
    def of_edges(cls, requires: dict[Key, list[Key]]) -> DependencyGraph:
        """A graph of edges alone (each stored object's dependencies): ``dependents`` and
        ``blocking_deletion`` answer as the whole graph's; ``unready`` needs the objects."""
        graph = cls([])
        graph._link(requires)
        return graph

    def _link(self, requires: dict[Key, list[Key]]) -> None:
        self.requires: dict[Key, list[Key]] = requires
        self.required_by: dict[Key, set[Key]] = defaultdict(set)
        for key, deps in requires.items():
            for dep in deps:
                self.required_by[dep].add(key)

    def unready(self, key: Key) -> list[Key]:
        """Dependencies of ``key`` that are missing, being deleted or not Ready."""
        waiting = []
        for dep in self.requires.get(key, []):
            obj = self.objects.get(dep)
            if obj is None or obj.deleting or not obj.ready:
                waiting.append(dep)
        return waiting

    def dependents(self, key: Key) -> set[Key]:
        return set(self.required_by.get(key, set()))

    def blocking_deletion(self, key: Key) -> list[Key]:
        """Objects still in the store that depend on ``key`` (they must be pruned first)."""
        return sorted(k for k in self.required_by.get(key, set()) if k in self.requires)


def layer_of(resource: Resource, lookup: dict[Key, StoredObject]) -> int:
    """Boot layer of an object: a VM's own, an App's VM's, else by kind."""
    if isinstance(resource, VM):
        return resource.spec.layer
    if isinstance(resource, App):
        vm = lookup.get(("VM", resource.spec.vm))
        if vm is not None and not vm.deleting:
            spec = vm.manifest.get("spec", {})
            return int(spec.get("layer", 3))
    return 0 if resource.kind_name == "Machine" else 3


def startup_order(objects: Iterable[StoredObject]) -> list[Key]:
    """Keys in the order work should start: by layer, then by kind, then by name."""
    lookup = {o.key: o for o in objects}

    def rank(key: Key) -> tuple[int, int, str]:
        obj = lookup[key]
        return (layer_of(obj.resource(), lookup), KIND_ORDER.get(key[0], 9), key[1])

    return sorted(lookup, key=rank)
