"""Cross-object validation of a whole desired state, all problems reported at once.

Runs after ``manifests.py`` has validated each object alone. A revision with any
problem is rejected whole (the controller keeps the last good one). Each check is a
small function over the ``Estate`` index; ``CHECKS`` lists them in reporting order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from homeport.kinds import VM, Agent, App, BackupPolicy, Machine, ProxyRoute, StandbyPair
from homeport.kinds.common import annotation_problem
from homeport.source.errors import ManifestError
from homeport.source.file_results import (
    FileKey,
    FileResult,
    FileResults,
    Loaded,
    parse_file,
    scan_file,
)
from homeport.source.limits import SourceLimits
from homeport.source.manifests import LoadedObject, load_document
from homeport.source.selection import ManifestFiles
from homeport.source.validate_agents import check_agent_clashes
from homeport.source.validate_pci import check_pci_claims
from homeport.source.yaml_documents import YamlDocument


@dataclass
class Estate:
    """Objects indexed by (kind, name); duplicates are kept aside for reporting."""

    objects: dict[tuple[str, str], LoadedObject] = field(default_factory=dict)
    duplicates: list[tuple[LoadedObject, LoadedObject]] = field(default_factory=list)
    invalid: dict[tuple[str, str], YamlDocument] = field(default_factory=dict)
    """Objects defined but rejected (their own errors are reported): a reference to one
    is not "missing", and checks that cannot see their fields stay silent about them."""
    _by_kind: dict[str, list[LoadedObject]] | None = field(default=None, repr=False)

    @classmethod
    def index(cls, loaded: Iterable[LoadedObject], invalid: Iterable[YamlDocument] = ()) -> Estate:
        estate = cls()
        for document in invalid:
            key = readable_identity(document)
            if key is not None:
                estate.invalid.setdefault(key, document)
        for obj in loaded:
            first = estate.objects.get(obj.key)
            if first is None:
                estate.objects[obj.key] = obj
            else:
                estate.duplicates.append((first, obj))
        return estate

    def of_kind(self, kind: str) -> list[LoadedObject]:
        """The objects of ``kind`` by name. Sorted at the first question (the checks ask
        for each kind again and again): an estate is whole once ``index`` built it."""
        if self._by_kind is None:
            self._by_kind = {}
            for (k, _), obj in sorted(self.objects.items()):
                self._by_kind.setdefault(k, []).append(obj)
        return list(self._by_kind.get(kind, []))

    def get(self, kind: str, name: str) -> LoadedObject | None:
        return self.objects.get((kind, name))

    def defines(self, kind: str, name: str) -> bool:
        """Whether the manifests define the object, valid or not."""
        return (kind, name) in self.objects or (kind, name) in self.invalid

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


def readable_identity(document: YamlDocument) -> tuple[str, str] | None:
    """(kind, name) of a document, when both are plain strings in it."""
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return None
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return (data["kind"], name) if isinstance(name, str) else None


def check_references(estate: Estate) -> Iterator[ManifestError]:
    for obj in estate.objects.values():
        for path, ref in obj.resource.dependency_paths():
            if estate.defines(ref.kind, ref.name):
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
        theirs, ours = primary.resource.spec.source, standby.resource.spec.source
        if theirs.identity() != ours.identity():
            yield obj.error(
                ("spec", "standby"),
                f"App {standby.name!r} deploys {ours.describe()}, not the primary's "
                f"{theirs.describe()}",
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


def vm_environment(vm: VM) -> str | None:
    """``dev`` for a VM with ``role: dev`` or label ``env: dev``; ``production`` for label
    ``env: production``; else ``None``."""
    env = vm.metadata.labels.get("env")
    if vm.spec.role == "dev" or env == "dev":
        return "dev"
    return "production" if env == "production" else None


def check_machine_roles(estate: Estate) -> Iterator[ManifestError]:
    """Dev and production on separate machines, where a Machine's ``role`` says so."""
    for obj in estate.of_kind("VM"):
        vm = obj.resource
        assert isinstance(vm, VM)
        machine = estate.get("Machine", vm.spec.machine)
        if machine is None or not isinstance(machine.resource, Machine):
            continue
        role = machine.resource.spec.role
        env = vm_environment(vm)
        if role is None or env is None or env == role:
            continue
        why = "spec.role: dev" if vm.spec.role == "dev" else f"label env: {env}"
        yield obj.error(
            ("spec", "machine"),
            f"a {env} VM ({why}) on Machine {machine.name!r}, whose role is {role} "
            f"({machine.file}:{machine.line})",
            f"place the VM on a Machine whose role is {env} or unset, "
            f"or change the VM's role/labels if it is not {env}",
        )


def check_apps_per_vm(estate: Estate) -> Iterator[ManifestError]:
    """At most ``maxApps`` Apps per VM (default 1: one app per VM)."""
    apps: dict[str, list[LoadedObject]] = defaultdict(list)
    for obj in estate.of_kind("App"):
        assert isinstance(obj.resource, App)
        apps[obj.resource.spec.vm].append(obj)
    for vm_name, on_vm in sorted(apps.items()):
        vm = estate.get("VM", vm_name)
        if vm is None or not isinstance(vm.resource, VM):
            continue
        limit = vm.resource.spec.max_apps
        ordered = sorted(on_vm, key=lambda o: (o.file, o.line))
        for extra in ordered[limit:]:
            others = ", ".join(f"{o.name!r} ({o.file}:{o.line})" for o in ordered[:limit])
            yield extra.error(
                ("spec", "vm"),
                f"VM {vm_name!r} runs at most {limit} App{'s' if limit > 1 else ''} "
                f"(maxApps) and already runs {others}",
                f"give the App its own VM (one app per VM), or set maxApps: {len(on_vm)} "
                f"on VM {vm_name!r} ({vm.file}:{vm.line}) to allow more",
            )


def check_packaged_apps(estate: Estate) -> Iterator[ManifestError]:
    """An App with ``source: {none: {}}`` has no release: its unit runs a program that a
    package installed, so it names that program by absolute path or lists the package."""
    for obj in estate.of_kind("App"):
        app = obj.resource
        assert isinstance(app, App)
        if app.spec.source.none is None:
            continue
        if app.spec.build is not None:
            yield obj.error(
                ("spec", "build"),
                "a build runs in the release's checkout, and source none has no release",
                "remove spec.build, or deploy the code from git or an artifact",
            )
        if app.spec.packages or app.executable_is_absolute:
            continue
        yield obj.error(
            ("spec", "source", "none"),
            f"source none deploys no code, so execStart {app.spec.exec_start!r} has no "
            "release to run from and no package that installs it",
            "list the package that installs the service in spec.packages, and start it by "
            "its absolute path, e.g. execStart: /usr/bin/ollama serve",
        )


# What a selector selecting nothing would silently mean, per kind that selects VMs.
_SELECTING_NOTHING = {
    "BackupPolicy": "nothing would be backed up",
    "Agent": "the agent would run nowhere",
}


def check_selectors(estate: Estate) -> Iterator[ManifestError]:
    """A ``matchLabels`` that selects no VM backs up nothing, or runs an agent nowhere,
    silently."""
    labels = [vm.resource.metadata.labels for vm in estate.of_kind("VM")]
    labels += [_raw_labels(doc) for (kind, _), doc in estate.invalid.items() if kind == "VM"]
    for kind, meaning in _SELECTING_NOTHING.items():
        for obj in estate.of_kind(kind):
            assert isinstance(obj.resource, (BackupPolicy, Agent))
            selector = obj.resource.spec.selector
            if selector.match_labels and not any(map(selector.matches_labels, labels)):
                wanted = ", ".join(f"{k}: {v}" for k, v in sorted(selector.match_labels.items()))
                yield obj.error(
                    ("spec", "selector", "matchLabels"),
                    f"matchLabels {{{wanted}}} selects no VM: {meaning}",
                    "add these labels to the VMs' metadata.labels, or fix the selector",
                )


def _raw_labels(document: YamlDocument) -> dict[str, str]:
    metadata = document.data.get("metadata") if isinstance(document.data, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def check_backup_targets(estate: Estate) -> Iterator[ManifestError]:
    """The restore-test Machine exists; the offsite copy is a second place, not the first."""
    for obj in estate.of_kind("BackupPolicy"):
        policy = obj.resource
        assert isinstance(policy, BackupPolicy)
        spec = policy.spec
        machine = spec.restore_test.machine if spec.restore_test else None
        if machine is not None and not estate.defines("Machine", machine):
            names = sorted(n for k, n in estate.objects if k == "Machine")
            yield obj.error(
                ("spec", "restoreTest", "machine"),
                f"restore tests run on Machine {machine!r}, which does not exist",
                f"use one of: {', '.join(names)}" if names else "define that Machine",
            )
        if spec.offsite is not None and spec.offsite.storage == spec.storage:
            yield obj.error(
                ("spec", "offsite", "storage"),
                f"the offsite copy goes to {spec.storage!r}, the storage the backups are "
                "written to: that is no second copy",
                "name another Proxmox storage (NFS, PBS, another host) for the offsite copy",
            )


def check_annotations(estate: Estate) -> Iterator[ManifestError]:
    for obj in estate.objects.values():
        for key, value in sorted(obj.resource.metadata.annotations.items()):
            problem = annotation_problem(key, value)
            if problem is not None:
                yield obj.error(("metadata", "annotations", key), *problem)


def _gib_on(vm: VM, default_storage: str) -> int:
    """GiB of the VM's disks on its Machine's default storage (data disks elsewhere aside)."""
    data = sum(
        d.size_gib for d in vm.spec.data_disks if (d.storage or default_storage) == default_storage
    )
    return vm.spec.disk.size_gib + data


CHECKS: tuple[Check, ...] = (
    check_duplicates,
    check_annotations,
    check_references,
    check_selectors,
    check_backup_targets,
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
    check_machine_roles,
    check_apps_per_vm,
    check_packaged_apps,
    check_pci_claims,
    check_agent_clashes,
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


def validate_sources(
    files: ManifestFiles | list[tuple[str, bytes]], *, reuse: FileResults | None = None
) -> ValidationResult:
    """Validate a revision's manifest files (or bare (name, content) pairs) as one state.

    With ``reuse``, a file whose ``FileKey`` the store recalls is not parsed or scanned
    again; everything after (models, cross-object checks) runs on the whole estate, so the
    outcome is the same as without it (``file_results.py``)."""
    found = files if isinstance(files, ManifestFiles) else ManifestFiles(list(files))
    keys = [FileKey.of(name, raw, found.limits) for name, raw in found.files]
    known = reuse.recall(keys) if reuse is not None else {}
    parsed = [
        known[key] if key in known else parse_file(name, raw, found.limits)
        for key, (name, raw) in zip(keys, found.files, strict=True)
    ]
    errors: list[ManifestError] = list(found.errors)
    documents = [document for result in parsed for document in result.documents]
    errors.extend(error for result in parsed for error in result.parse_errors)
    if len(documents) > found.limits.max_objects:
        errors.append(_too_many_objects(documents, found.limits))
        return ValidationResult(objects=[], errors=sorted(set(errors)), files=len(found.files))
    results = {
        key: load_file(known[key] if key in known else scan_file(result))
        for key, result in zip(keys, parsed, strict=True)
    }
    if reuse is not None:
        reuse.keep(results)
    errors.extend(error for result in results.values() for error in result.secret_errors)
    loaded = [pair for result in results.values() for pair in result.loaded or ()]
    return _validate_documents(documents, loaded, errors, files=len(found.files))


def load_file(result: FileResult) -> FileResult:
    """``result`` with each of its documents as its model (``load_document``), made once:
    a file recalled from a ``FileResults`` store brings its models along."""
    if result.loaded is not None:
        return result
    loaded = []
    for document in result.documents:
        model, problems = load_document(document)
        loaded.append((model, tuple(problems)))
    return replace(result, loaded=tuple(loaded))


def _validate_documents(
    documents: list[YamlDocument],
    loaded: list[Loaded],
    errors: list[ManifestError],
    *,
    files: int,
) -> ValidationResult:
    """The documents' models (``loaded``, one per document) over the estate's checks."""
    objects: list[LoadedObject] = []
    invalid: list[YamlDocument] = []
    for document, (model, problems) in zip(documents, loaded, strict=True):
        errors.extend(problems)
        if model is not None:
            objects.append(model)
        elif problems:
            invalid.append(document)
    estate = Estate.index(objects, invalid)
    for check in CHECKS:
        errors.extend(check(estate))
    return ValidationResult(objects=objects, errors=sorted(set(errors)), files=files)


def _too_many_objects(documents: list[YamlDocument], limits: SourceLimits) -> ManifestError:
    over = documents[limits.max_objects]
    return ManifestError(
        over.file,
        over.line,
        "",
        "",
        f"the estate has {len(documents)} objects, more than the limit of {limits.max_objects}",
        "remove objects, or raise the limit (docs/manifests.md#limits)",
    )


def validate_paths(paths: list[Path], limits: SourceLimits | None = None) -> ValidationResult:
    """Validate files and directories on disk (``homeport validate PATH...``) as one state,
    with the same file rules and limits as the pre-receive hook and the daemon."""
    from homeport.source.directory import read_directories  # not the pre-receive hook's

    return validate_sources(read_directories(paths, limits=limits))


__all__ = ["CHECKS", "Estate", "ValidationResult", "validate_paths", "validate_sources"]
