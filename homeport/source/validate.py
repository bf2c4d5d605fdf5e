"""Cross-object validation of a whole desired state, all problems reported at once.

Runs after ``manifests.py`` has validated each object alone. A revision with any
problem is rejected whole (the controller keeps the last good one). Each check is a
small function over the ``Estate`` index; ``CHECKS`` lists them in reporting order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from homeport.kinds import VM, App, Machine, ProxyRoute, StandbyPair
from homeport.source.errors import ManifestError
from homeport.source.manifests import LoadedObject, discover, load_document
from homeport.source.secrets_scan import find_secrets
from homeport.source.validate_pci import check_pci_claims
from homeport.source.yaml_documents import YamlDocument, parse_documents


@dataclass
class Estate:
    """Objects indexed by (kind, name); duplicates are kept aside for reporting."""

    objects: dict[tuple[str, str], LoadedObject] = field(default_factory=dict)
    duplicates: list[tuple[LoadedObject, LoadedObject]] = field(default_factory=list)

    @classmethod
    def index(cls, loaded: Iterable[LoadedObject]) -> Estate:
        estate = cls()
        for obj in loaded:
            first = estate.objects.get(obj.key)
            if first is None:
                estate.objects[obj.key] = obj
            else:
                estate.duplicates.append((first, obj))
        return estate

    def of_kind(self, kind: str) -> list[LoadedObject]:
        return [obj for (k, _), obj in sorted(self.objects.items()) if k == kind]

    def get(self, kind: str, name: str) -> LoadedObject | None:
        return self.objects.get((kind, name))

    def machine_of_app(self, app_name: str) -> tuple[str | None, str | None]:
        """(VM name, Machine name) an App lands on, as far as the manifests say."""
        app = self.get("App", app_name)
        if app is None or not isinstance(app.resource, App):
            return None, None
        vm = self.get("VM", app.resource.spec.vm)
        if vm is None or not isinstance(vm.resource, VM):
            return app.resource.spec.vm, None
        return app.resource.spec.vm, vm.resource.spec.machine


Check = Callable[[Estate], Iterator[ManifestError]]


def check_duplicates(estate: Estate) -> Iterator[ManifestError]:
    for first, again in estate.duplicates:
        yield again.error(
            ("metadata", "name"),
            f"duplicate {again.kind} named {again.name!r}, first defined at {first.file}:{first.line}",
            "rename one of them or delete the copy",
        )


def check_references(estate: Estate) -> Iterator[ManifestError]:
    for obj in estate.objects.values():
        for path, ref in obj.resource.dependency_paths():
            if (ref.kind, ref.name) in estate.objects:
                continue
            names = [n for (k, n) in estate.objects if k == ref.kind]
            fix = (
                f"define {ref} or point at one of: {', '.join(sorted(names))}"
                if names
                else (f"define {ref}")
            )
            yield obj.error(path, f"refers to {ref}, which does not exist", fix)


def check_cycles(estate: Estate) -> Iterator[ManifestError]:
    graph: dict[tuple[str, str], list[tuple[str, str]]] = {
        key: [
            (str(r.kind), r.name)
            for r in obj.resource.dependencies()
            if (r.kind, r.name) in estate.objects
        ]
        for key, obj in estate.objects.items()
    }
    for cycle in find_cycles(graph):
        names = " -> ".join(f"{k}/{n}" for k, n in [*cycle, cycle[0]])
        first = estate.objects[cycle[0]]
        following = cycle[1] if len(cycle) > 1 else cycle[0]
        path = next(
            (
                p
                for p, ref in first.resource.dependency_paths()
                if (ref.kind, ref.name) == following
            ),
            ("spec",),
        )
        yield first.error(path, f"dependency cycle: {names}", "remove one of these references")


def find_cycles(graph: dict[tuple[str, str], list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
    """One representative cycle per strongly connected component (iterative Tarjan)."""
    index: dict[tuple[str, str], int] = {}
    low: dict[tuple[str, str], int] = {}
    stack: list[tuple[str, str]] = []
    on_stack: set[tuple[str, str]] = set()
    cycles: list[list[tuple[str, str]]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[tuple[str, str], int]] = [(root, 0)]
        while work:
            node, child_index = work.pop()
            if child_index == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = graph.get(node, [])
            if child_index < len(children):
                work.append((node, child_index + 1))
                child = children[child_index]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, []):
                    cycles.append(_cycle_path(sorted(component), graph))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


def _cycle_path(
    component: list[tuple[str, str]], graph: dict[tuple[str, str], list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    members = set(component)
    path = [component[0]]
    while True:
        following = next(c for c in graph[path[-1]] if c in members)
        if following == path[0] or following in path:
            return path[path.index(following) :] if following in path else path
        path.append(following)


def check_anti_affinity(estate: Estate) -> Iterator[ManifestError]:
    for obj in estate.of_kind("StandbyPair"):
        pair = obj.resource
        assert isinstance(pair, StandbyPair)
        p_vm, p_machine = estate.machine_of_app(pair.spec.primary)
        s_vm, s_machine = estate.machine_of_app(pair.spec.standby)
        if p_vm is not None and p_vm == s_vm:
            yield obj.error(
                ("spec", "standby"),
                f"primary and standby both run on VM {p_vm!r}",
                "put the standby App on a VM on another Machine",
            )
        elif p_machine is not None and p_machine == s_machine:
            yield obj.error(
                ("spec", "standby"),
                f"primary ({p_vm}) and standby ({s_vm}) both land on Machine {p_machine!r}: "
                "one host failure would take both",
                "place the standby's VM on another Machine",
            )


def check_pair_releases(estate: Estate) -> Iterator[ManifestError]:
    for obj in estate.of_kind("StandbyPair"):
        pair = obj.resource
        assert isinstance(pair, StandbyPair)
        primary, standby = (
            estate.get("App", pair.spec.primary),
            estate.get("App", pair.spec.standby),
        )
        if primary is None or standby is None:
            continue
        assert isinstance(primary.resource, App)
        assert isinstance(standby.resource, App)
        if primary.resource.spec.source != standby.resource.spec.source:
            yield obj.error(
                ("spec", "standby"),
                f"App {standby.name!r} deploys {standby.resource.spec.source.repo}@"
                f"{standby.resource.spec.source.ref}, not the primary's "
                f"{primary.resource.spec.source.repo}@{primary.resource.spec.source.ref}",
                "a warm standby must run the same release: use the same source",
            )
        if primary.resource.spec.port != standby.resource.spec.port:
            yield obj.error(
                ("spec", "standby"),
                "primary and standby Apps listen on different ports",
                "use the same port for both",
            )


def check_pair_membership(estate: Estate) -> Iterator[ManifestError]:
    owner: dict[str, LoadedObject] = {}
    for obj in estate.of_kind("StandbyPair"):
        pair = obj.resource
        assert isinstance(pair, StandbyPair)
        for field_name, app in (("primary", pair.spec.primary), ("standby", pair.spec.standby)):
            if app in owner:
                yield obj.error(
                    ("spec", field_name),
                    f"App {app!r} already belongs to StandbyPair {owner[app].name!r}",
                    "an App can be in one pair only",
                )
            owner[app] = obj
    for obj in estate.of_kind("ProxyRoute"):
        route = obj.resource
        assert isinstance(route, ProxyRoute)
        if route.spec.app is not None and route.spec.app in owner:
            yield obj.error(
                ("spec", "app"),
                f"App {route.spec.app!r} is part of StandbyPair {owner[route.spec.app].name!r}; "
                "a route to it would not follow a failover",
                f"use 'standbyPair: {owner[route.spec.app].name}' instead of 'app'",
            )


def check_hostnames(estate: Estate) -> Iterator[ManifestError]:
    claimed: dict[tuple[str, str], LoadedObject] = {}
    for obj in estate.of_kind("ProxyRoute"):
        route = obj.resource
        assert isinstance(route, ProxyRoute)
        key = (route.spec.host, route.spec.path_prefix or "/")
        first = claimed.setdefault(key, obj)
        if first is not obj:
            yield obj.error(
                ("spec", "host"),
                f"host {route.spec.host!r} is already routed by ProxyRoute {first.name!r} "
                f"({first.file}:{first.line})",
                "give each ProxyRoute its own hostname or pathPrefix",
            )


def check_route_reachable(estate: Estate) -> Iterator[ManifestError]:
    for obj in estate.of_kind("ProxyRoute"):
        route = obj.resource
        assert isinstance(route, ProxyRoute)
        app = estate.get("App", route.spec.app) if route.spec.app else None
        if (
            app is not None
            and isinstance(app.resource, App)
            and app.resource.spec.bind == "localhost"
        ):
            yield obj.error(
                ("spec", "app"),
                f"App {app.name!r} binds to localhost, so the Caddy router cannot reach it",
                "set the App's bind to 'tailnet'",
            )


def check_ports(estate: Estate) -> Iterator[ManifestError]:
    taken: dict[tuple[str, int], LoadedObject] = {}
    for obj in estate.of_kind("App"):
        app = obj.resource
        assert isinstance(app, App)
        first = taken.setdefault((app.spec.vm, app.spec.port), obj)
        if first is not obj:
            yield obj.error(
                ("spec", "port"),
                f"port {app.spec.port} on VM {app.spec.vm!r} is already used by App {first.name!r}",
                "pick another port",
            )


def check_vmids(estate: Estate) -> Iterator[ManifestError]:
    taken: dict[int, LoadedObject] = {}
    templates = set()
    for obj in estate.of_kind("VM"):
        vm = obj.resource
        assert isinstance(vm, VM)
        templates.add(vm.spec.template.vmid)
    for obj in estate.of_kind("VM"):
        vm = obj.resource
        assert isinstance(vm, VM)
        if vm.spec.vmid is None:
            continue
        if vm.spec.vmid in templates:
            yield obj.error(
                ("spec", "vmid"), f"vmid {vm.spec.vmid} is a template's", "pick another"
            )
        first = taken.setdefault(vm.spec.vmid, obj)
        if first is not obj:
            yield obj.error(
                ("spec", "vmid"),
                f"vmid {vm.spec.vmid} is already used by VM {first.name!r}",
                "pick another vmid or leave it out to let homeport allocate one",
            )


def check_machine_nodes(estate: Estate) -> Iterator[ManifestError]:
    nodes: dict[str, LoadedObject] = {}
    for obj in estate.of_kind("Machine"):
        machine = obj.resource
        assert isinstance(machine, Machine)
        first = nodes.setdefault(machine.spec.node, obj)
        if first is not obj:
            yield obj.error(
                ("spec", "node"),
                f"node {machine.spec.node!r} is already described by Machine {first.name!r}",
                "one Machine per Proxmox node",
            )


def check_capacity(estate: Estate) -> Iterator[ManifestError]:
    placed: dict[str, list[LoadedObject]] = defaultdict(list)
    for obj in estate.of_kind("VM"):
        vm = obj.resource
        assert isinstance(vm, VM)
        placed[vm.spec.machine].append(obj)
    for obj in estate.of_kind("Machine"):
        machine = obj.resource
        assert isinstance(machine, Machine)
        capacity = machine.spec.capacity
        vms = [v.resource for v in placed.get(obj.name, [])]
        for vm_obj in placed.get(obj.name, []):
            vm = vm_obj.resource
            assert isinstance(vm, VM)
            if vm.spec.cores * vm.spec.sockets > capacity.cores:
                yield vm_obj.error(
                    ("spec", "cores"),
                    f"needs {vm.spec.cores * vm.spec.sockets} vCPUs, more than Machine "
                    f"{obj.name!r} has ({capacity.cores})",
                    "lower cores/sockets or place the VM on a bigger Machine",
                )
        memory = sum(v.spec.memory_mib for v in vms if isinstance(v, VM))
        if memory > capacity.memory_mib:
            yield obj.error(
                ("spec", "capacity", "memoryMiB"),
                f"the VMs placed on it need {memory} MiB of memory, more than its "
                f"{capacity.memory_mib} MiB",
                "move a VM to another Machine or lower their memoryMiB",
            )
        disk = sum(_gib_on(v, machine.spec.storage) for v in vms if isinstance(v, VM))
        if capacity.storage_gib is not None and disk > capacity.storage_gib:
            yield obj.error(
                ("spec", "capacity", "storageGiB"),
                f"the VMs placed on it need {disk} GiB of disk, more than its "
                f"{capacity.storage_gib} GiB",
                "move a VM to another Machine or shrink their disks in the manifest before creating them",
            )


def _gib_on(vm: VM, default_storage: str) -> int:
    """GiB of the VM's disks on its Machine's default storage (data disks elsewhere aside)."""
    data = sum(
        d.size_gib for d in vm.spec.data_disks if (d.storage or default_storage) == default_storage
    )
    return vm.spec.disk.size_gib + data


CHECKS: tuple[Check, ...] = (
    check_duplicates,
    check_references,
    check_cycles,
    check_anti_affinity,
    check_pair_releases,
    check_pair_membership,
    check_hostnames,
    check_route_reachable,
    check_ports,
    check_vmids,
    check_machine_nodes,
    check_capacity,
    check_pci_claims,
)


def secret_errors(document: YamlDocument) -> Iterator[ManifestError]:
    data = document.data if isinstance(document.data, dict) else {}
    kind = str(data.get("kind", "")) if isinstance(data.get("kind"), str) else ""
    metadata = data.get("metadata")
    name = str(metadata.get("name", "")) if isinstance(metadata, dict) else ""
    for finding in find_secrets(data):
        yield ManifestError(
            document.file,
            document.line_of(finding.path),
            kind,
            name,
            f"{'.'.join(str(p) for p in finding.path)} holds {finding.what} in plain text",
            "secrets never go to git: put the value in a file in the secrets directory and "
            "reference it with secretEnv/envFrom",
        )


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating a whole tree of manifests."""

    objects: list[LoadedObject]
    errors: list[ManifestError]
    files: int

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_sources(files: list[tuple[str, bytes]]) -> ValidationResult:
    """Validate (display name, content) pairs as one desired state."""
    errors: list[ManifestError] = []
    objects: list[LoadedObject] = []
    for name, raw in files:
        documents, problems = parse_documents(name, raw)
        errors.extend(problems)
        for document in documents:
            errors.extend(secret_errors(document))
        for document in documents:
            loaded, problems = load_document(document)
            errors.extend(problems)
            if loaded is not None:
                objects.append(loaded)
    estate = Estate.index(objects)
    for check in CHECKS:
        errors.extend(check(estate))
    return ValidationResult(objects=objects, errors=sorted(set(errors)), files=len(files))


def validate_paths(paths: list[Path]) -> ValidationResult:
    """Validate files and directories on disk (``homeport validate PATH...``)."""
    files: list[tuple[str, bytes]] = []
    errors: list[ManifestError] = []
    for root in paths:
        if not root.exists():
            errors.append(ManifestError(str(root), 0, "", "", "no such file or directory", None))
            continue
        for path in discover(root):
            try:
                files.append((str(path), path.read_bytes()))
            except OSError as exc:
                errors.append(ManifestError(str(path), 0, "", "", f"cannot read: {exc.strerror}"))
    result = validate_sources(files)
    return ValidationResult(result.objects, sorted(errors + result.errors), result.files)


__all__ = ["CHECKS", "Estate", "ValidationResult", "validate_paths", "validate_sources"]
