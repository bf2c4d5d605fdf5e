"""Gathering what the audit's checks look at, through the clients, and running them.

``run_audit`` is what ``homeport audit`` and the daemon's periodic audit (``loop.py``) call:
the Proxmox API (VM, node and datacenter firewalls, VM configs), SSH to the VMs
(``sshd -T``, ``ss -ltnH``, the env files' modes) and to the Machines (``sshd -T``), the
control plane's secrets directory, the git repository's branches and the config. Only
Ready objects are judged (one still converging, or held by an estate shutdown, is
skipped); a check that cannot run because a client failed (Proxmox down, a refused
token, a VM unreachable) is listed as failed with the reason — never as a finding, and
never as clean: ``homeport audit`` exits 2 on it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from homeport.clients.bundle import Clients
from homeport.clients.errors import ClientError
from homeport.clients.proxmox_models import FirewallRule, FirewallRules
from homeport.clients.proxmox_wire import parse_property_string
from homeport.controller.config import Settings
from homeport.controller.credentials import credential_files
from homeport.controller.signing import SignatureGate
from homeport.controller.store import Store, StoredObject
from homeport.kinds import App, Machine
from homeport.reconcilers.appfiles import AppPaths
from homeport.services.audit import checks
from homeport.services.audit.checks import Network
from homeport.services.audit.findings import AuditReport, Finding
from homeport.source.git import GitError, GitRepository, run_git
from homeport.source.signatures import SignaturePolicy

_NIC = re.compile(r"^net\d+$")
CONCURRENCY = 8


class _Run:
    """One audit run: its findings and what it had to skip."""

    def __init__(self, settings: Settings, clients: Clients, store: Store) -> None:
        self.settings = settings
        self.px = clients.proxmox
        self.ssh = clients.ssh
        self.tailscale = clients.tailscale if clients.has("tailscale") else None
        self.store = store
        self.tailnet: list[Network] = checks.networks(settings.firewall.tailnet_ranges)
        self.objects = [o for o in store.objects.all() if not o.deleting]
        self.findings: list[Finding] = []
        self.skipped: list[str] = []
        self.failed: list[str] = []
        self._limit = asyncio.Semaphore(CONCURRENCY)

    def of_kind(self, kind: str) -> list[StoredObject]:
        return [o for o in self.objects if o.kind == kind]

    async def guarded(self, what: str, step: Callable[[], Awaitable[list[Finding]]]) -> None:
        async with self._limit:
            try:
                self.findings += await step()
            except (ClientError, OSError) as exc:  # a file or peer that did not answer
                self.failed.append(f"{what}: {type(exc).__name__}: {exc}")


async def run_audit(settings: Settings, clients: Clients, store: Store) -> AuditReport:
    run = _Run(settings, clients, store)
    run.findings += checks.config_tls(settings)
    run.findings += checks.signed_revisions(await asyncio.to_thread(_signature_policy, settings))
    run.findings += checks.config_plain_http(settings)
    run.findings += checks.credential_files(await asyncio.to_thread(credential_files, settings))
    steps = [
        run.guarded("secrets directory", lambda: _secret_findings(settings)),
        run.guarded(
            "manifests", lambda: asyncio.to_thread(_manifest_findings, settings, run.objects)
        ),
        run.guarded("datacenter firewall", lambda: _datacenter(run)),
    ]
    run.findings += _backup_findings(run)
    steps += [_ready_or_skip(run, obj, _vm) for obj in run.of_kind("VM")]
    steps += [_ready_or_skip(run, obj, _machine) for obj in run.of_kind("Machine")]
    await asyncio.gather(*steps)
    findings = sorted(set(run.findings), key=lambda f: (f.kind, f.name, f.check, f.message))
    return AuditReport(tuple(findings), tuple(sorted(run.skipped)), tuple(sorted(run.failed)))


def _backup_findings(run: _Run) -> list[Finding]:
    hosts = {o.name for o in run.of_kind("VM")}
    for machine in run.of_kind("Machine"):
        spec = machine.manifest.get("spec") or {}
        named = (machine.name, spec.get("node"), spec.get("tailscaleHostname"))
        hosts.update(str(host) for host in named if host)
    return [
        finding
        for obj in run.of_kind("BackupPolicy")
        for finding in checks.backup_offsite(obj.name, obj.manifest, hosts, run.tailnet)
    ]


async def _ready_or_skip(
    run: _Run, obj: StoredObject, step: Callable[[_Run, StoredObject], Awaitable[list[Finding]]]
) -> None:
    if not obj.ready:
        run.skipped.append(f"{obj.kind} {obj.name}: not Ready (converging or held)")
        return
    await run.guarded(f"{obj.kind} {obj.name}", lambda: step(run, obj))


# -- VMs and their Apps -------------------------------------------------------------------


def _rule_dicts(rules: FirewallRules) -> list[dict[str, Any]]:
    return [_rule_dict(r) for r in rules.rules]


def _rule_dict(rule: FirewallRule) -> dict[str, Any]:
    keys = ("pos", "type", "action", "proto", "dport", "source", "macro", "comment")
    return {**{k: getattr(rule, k) for k in keys}, "enable": int(rule.enable)}


async def _vm(run: _Run, obj: StoredObject) -> list[Finding]:
    details = obj.status.details
    node, vmid, address = details.get("node"), details.get("vmid"), details.get("address")
    if not node or not vmid:
        run.skipped.append(f"VM {obj.name}: its vmid and node are not known yet")
        return []
    options = await run.px.firewall.options(str(node), int(vmid))
    rules = await run.px.firewall.rules(str(node), int(vmid))
    config = await run.px.vm_config(str(node), int(vmid))
    nics = {
        key: parse_property_string(str(value)).get("firewall") == "1"
        for key, value in config.values.items()
        if _NIC.match(key)
    }
    found = checks.vm_firewall(obj.name, options.values, nics, _rule_dicts(rules))
    if details.get("status") != "running" or not address:
        run.skipped.append(f"VM {obj.name}: not running, SSH checks skipped")
        return found
    return found + await _on_vm(run, obj.name, str(address))


async def _on_vm(run: _Run, vm: str, address: str) -> list[Finding]:
    sshd = await run.ssh.run(address, ["sshd", "-T"], check=False, timeout=30)
    found = checks.ssh_password("VM", vm, checks.parse_sshd_t(sshd.text)) if sshd.ok else []
    listening = await run.ssh.run(address, ["ss", "-ltnH"], check=False, timeout=30)
    listeners = checks.parse_ss_listeners(listening.text) if listening.ok else []
    for command, result in (("sshd -T", sshd), ("ss -ltnH", listening)):
        if not result.ok:  # an unanswered question is not a clean answer
            run.failed.append(f"VM {vm}: `{command}` failed, its checks did not run")
    for obj in run.of_kind("App"):
        app = obj.resource()
        if not isinstance(app, App) or app.spec.vm != vm:
            continue
        found += checks.app_listeners(
            app.name, app.spec.port, listeners, own_addresses=[address], tailnet=run.tailnet
        )
        path = AppPaths.of(app).env_path
        stat = await run.ssh.stat(address, path)
        found += checks.env_file_mode(app.name, path, stat.mode if stat else None)
    return found


# -- Machines and the datacenter ----------------------------------------------------------


async def _datacenter(run: _Run) -> list[Finding]:
    options = await run.px.firewall.cluster_options()
    return checks.datacenter_firewall(options.values)


async def _machine(run: _Run, obj: StoredObject) -> list[Finding]:
    machine = obj.resource()
    assert isinstance(machine, Machine)
    node = machine.spec.node
    cluster = await run.px.firewall.cluster_options()
    rules = [
        *_rule_dicts(await run.px.firewall.node_rules(node)),
        *_rule_dicts(await run.px.firewall.cluster_rules()),
    ]
    found = checks.machine_firewall(
        machine.name,
        cluster=cluster.values,
        node=(await run.px.firewall.node_options(node)).values,
        rules=rules,
        ssh_port=run.settings.ssh.port,
        tailnet=run.tailnet,
    )
    if run.settings.audit.ssh_machines:
        found += await _machine_sshd(run, machine)
    return found


async def _machine_sshd(run: _Run, machine: Machine) -> list[Finding]:
    hostname = machine.spec.tailscale_hostname or machine.spec.node
    address = None
    if run.tailscale is not None:
        devices = await run.tailscale.devices()
        address = next((d.ipv4 for d in devices if d.hostname == hostname), None)
    if not address:
        run.skipped.append(f"Machine {machine.name}: no tailnet address, sshd not checked")
        return []
    try:
        sshd = await run.ssh.run(f"root@{address}", ["sshd", "-T"], check=False, timeout=30)
    except ClientError as exc:
        run.failed.append(f"Machine {machine.name}: sshd not checked: {type(exc).__name__}: {exc}")
        return []
    if not sshd.ok:
        run.failed.append(f"Machine {machine.name}: sshd -T failed")
        return []
    return checks.ssh_password("Machine", machine.name, checks.parse_sshd_t(sshd.text))


# -- the control plane: secrets directory, manifests --------------------------------------


def _signature_policy(settings: Settings) -> SignaturePolicy | None:
    gate = SignatureGate.for_settings(settings)
    return gate.policy() if gate is not None else None


async def _secret_findings(settings: Settings) -> list[Finding]:
    return checks.secret_files(await asyncio.to_thread(_secret_modes, settings))


def _secret_modes(settings: Settings) -> dict[str, int]:
    root = settings.secrets.directory
    if not root.is_dir():
        return {}
    return {str(p): p.stat().st_mode for p in sorted(root.rglob("*")) if p.is_file()}


def _manifest_findings(settings: Settings, objects: list[StoredObject]) -> list[Finding]:
    """Secrets in the adopted manifests and at the head of every branch of the repository
    (a push to another branch skips validation, but the secret is in git all the same)."""
    found = [
        f
        for obj in objects
        for f in checks.manifest_secrets(f"adopted {obj.file}:{obj.line}", obj.manifest)
    ]
    for where, content in _source_files(settings):
        for document in _documents(content):
            found += checks.manifest_secrets(where, document)
    return found


def _source_files(settings: Settings) -> list[tuple[str, bytes]]:
    source = settings.source
    if source.repo is not None:
        return _branch_files(source.repo, source.path)
    if source.directory is not None and source.directory.is_dir():
        files = sorted(p for p in source.directory.rglob("*") if p.suffix in (".yaml", ".yml"))
        return [(str(p), p.read_bytes()) for p in files]
    return []


def _branch_files(repo: Path, subdir: str) -> list[tuple[str, bytes]]:
    try:
        refs = run_git(
            repo, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"
        )
    except GitError:
        return []
    files = []
    for line in refs.decode().splitlines():
        branch, _, sha = line.partition(" ")
        reader = GitRepository(repo, branch=branch, subdir=subdir)
        files += [
            (f"{path} on branch {branch} ({sha[:12]})", c) for path, c in reader.manifest_files(sha)
        ]
    return files


def _documents(content: bytes) -> list[Mapping[str, Any]]:
    try:
        return [d for d in yaml.safe_load_all(content) if isinstance(d, dict)]
    except yaml.YAMLError:
        return []
