"""``homeport audit`` on the simulated estate: a clean estate has no finding, and each
check finds the deviation planted for it in the world (through the guests' files over
SSH, the Proxmox API, the nodes' files, git, the config) and nothing else. The daemon's
periodic audit shows findings as ``AuditFinding`` conditions and events, and its notifier
sends them (and a real failover, with its timeline and RPO) to a webhook and a mailbox.

One converged estate serves the module; each test plants, audits and repairs. The daemon
is stopped for the per-check tests so that no reconcile repairs a plant under the audit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.clients.proxmox_firewall import FirewallRuleSpec
from homeport.controller.config import (
    AuditSettings,
    NotifySettings,
    SignaturesSettings,
    WebhookSink,
)
from homeport.controller.store import Store
from homeport.controller.wiring import build_clients, close_clients
from homeport.kinds import App
from homeport.reconcilers.appfiles import AppPaths
from homeport.services.audit import AuditReport, run_audit
from testkit.harness import EstateHarness, until
from tests.services.notify.receivers import Mailbox, WebReceiver, smtp_server, web_receiver

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
KINDS = {"Machine", "VM", "App", "StandbyPair", "ProxyRoute"}
HMAC_KEY = "whsec-audit-estate"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def web() -> AsyncIterator[WebReceiver]:
    async for receiver in web_receiver():
        yield receiver


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    yield from smtp_server(tmp_path_factory.mktemp("smtp"), user="homeport", password="pw-smtp")


def _notify(harness: EstateHarness, web: WebReceiver, mailbox: Mailbox) -> NotifySettings:
    secrets = harness.settings.secrets.directory / "notify"
    secrets.mkdir(mode=0o700, exist_ok=True)
    for name, value in (("hook", HMAC_KEY), ("smtp", "pw-smtp")):
        (secrets / name).write_text(value)
        (secrets / name).chmod(0o600)
    return NotifySettings.model_validate(
        {
            "sinks": [
                {
                    "type": "webhook",
                    "name": "hook",
                    "url": f"{web.url}/hook",
                    "secret": "notify/hook",
                },
                {
                    "type": "smtp",
                    "name": "mail",
                    "host": mailbox.host,
                    "port": mailbox.port,
                    "username": "homeport",
                    "password_secret": "notify/smtp",
                    "sender": "homeport@example.com",
                    "recipients": ["ops@example.com"],
                    "ca_file": str(mailbox.ca_file),
                },
            ],
            "rules": [
                {"events": ["*"], "sinks": ["hook"]},
                {"events": ["FailoverStarted", "FailoverCompleted"], "sinks": ["mail"]},
            ],
            "poll_interval": 0.1,
        }
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def h(
    tmp_path_factory: pytest.TempPathFactory, web: WebReceiver, mailbox: Mailbox
) -> AsyncIterator[EstateHarness]:
    async with EstateHarness.running(
        tmp_path_factory.mktemp("audit"), start_daemon=False
    ) as harness:
        # The daemon audits twice a second here, and notifies a webhook and a mailbox.
        harness.settings = harness.settings.model_copy(
            update={"audit": AuditSettings(interval=0.5), "notify": _notify(harness, web, mailbox)}
        )
        await harness.start_daemon()
        await harness.converged(KINDS)
        await until(lambda: all(_firewalled(harness, vm) for vm in _vms(harness)), what="firewalls")
        # A clean estate, as the creed has it: the datacenter firewall on (PVE's default is off).
        px = harness.clients.proxmox
        options = await px.firewall.cluster_options()
        await px._transport.write(
            "PUT",
            "firewall.set_cluster_options",
            ("cluster", "firewall", "options"),
            {"enable": 1, "policy_in": "DROP", "digest": options.digest},
        )
        yield harness


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def clients(h: EstateHarness) -> AsyncIterator[dict[str, Any]]:
    """The operator's clients (and the audit's), shared by the module."""
    built = await build_clients(h.settings)
    yield built
    await close_clients(built)


def _vms(h: EstateHarness) -> list[str]:
    return [o.name for o in h.objects() if o.kind == "VM"]


def _firewalled(h: EstateHarness, vm: str) -> bool:
    obj = h.object("VM", vm)
    return (
        obj is not None and obj.ready and "waitingFor" not in obj.status.details.get("firewall", {})
    )


def allowed_signers(h: EstateHarness) -> Path:
    path = h.estate.config_path.with_name("allowed_signers")
    path.write_text("alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\n")
    return path


async def audit(h: EstateHarness, clients: dict[str, Any]) -> AuditReport:
    """The audit as if signed revisions were required (the simulated estate's daemon adopts
    unsigned pushes; ``test_a_clean_estate_has_no_finding`` shows that finding alone)."""
    signatures = SignaturesSettings(policy="tip", allowed_signers=allowed_signers(h))
    settings = h.settings.model_copy(update={"signatures": signatures})
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return await run_audit(settings, clients, store)
    finally:
        store.close()


async def daemon_running(h: EstateHarness) -> None:
    if h._task is None:  # stopped by a per-check test
        await h.start_daemon()


async def frozen(h: EstateHarness) -> None:
    """No daemon: nothing repairs a plant before the audit sees it."""
    await h.stop_daemon()


def checks_found(report: AuditReport) -> set[tuple[str, str, str]]:
    return {(f.check, f.kind, f.name) for f in report.findings}


async def planted(
    h: EstateHarness,
    clients: dict[str, Any],
    plant: Callable[[], Awaitable[Any]],
    repair: Callable[[], Awaitable[Any]],
) -> AuditReport:
    """Audit with the deviation in place, then repair it. Every test asserts the exact set
    of findings, so a repair that failed shows in the next test."""
    await frozen(h)
    await plant()
    try:
        return await audit(h, clients)
    finally:
        await repair()


def notified(web: WebReceiver, topic: str) -> list[dict[str, Any]]:
    """Webhook deliveries of ``topic``, their HMAC signature checked."""
    found = []
    for request in web.at("/hook"):
        digest = hmac.new(HMAC_KEY.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Homeport-Signature"] == f"sha256={digest}"
        body = request.json()
        if body["topic"] == topic:
            found.append(body)
    return found


def world_vm(h: EstateHarness, name: str) -> Any:
    assert h.estate.pve is not None
    return next(v for v in h.estate.pve.world.vms.values() if v.name == name)


def address(h: EstateHarness, vm: str) -> str:
    obj = h.object("VM", vm)
    assert obj is not None
    return str(obj.status.details["address"])


# -- a clean estate, and the daemon's conditions ----------------------------------------


async def test_a_clean_estate_has_no_finding(h: EstateHarness, clients: dict[str, Any]) -> None:
    # The simulated estate adopts unsigned commits: that alone is reported...
    argv = ["audit", "--config", str(h.estate.config_path), "-o", "json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, argv)
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)["findings"]
    assert [(f["check"], f["kind"], f["name"]) for f in found] == [
        ("signatures-off", "Config", "signatures")
    ]
    # ... and with signed revisions required, nothing is.
    argv = ["audit", "--config", str(signed_config(h)), "-o", "json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, argv)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clean"] and report["findings"] == []


def signed_config(h: EstateHarness) -> Path:
    """The estate's config with signed revisions required (no `signatures-off` finding)."""
    signed = h.estate.config_path.with_name("signed.toml")
    policy = f'\n[signatures]\npolicy = "tip"\nallowed_signers = "{allowed_signers(h)}"\n'
    signed.write_text(h.estate.config_path.read_text() + policy)
    return signed


async def test_a_refused_token_fails_the_audit_closed(h: EstateHarness) -> None:
    """Nothing could be checked: exit 2 with the reason, never "no finding" and 0."""
    token = h.settings.proxmox.token_file
    good = token.read_text()
    argv = ["audit", "--config", str(signed_config(h))]
    token.write_text("00000000-0000-0000-0000-000000000000\n")
    try:
        result = await asyncio.to_thread(CliRunner().invoke, app, argv)
        allowed = await asyncio.to_thread(
            CliRunner().invoke, app, [*argv, "--allow-skipped", "-o", "json"]
        )
    finally:
        token.write_text(good)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "could not check datacenter firewall: AuthFailed" in result.stderr
    assert "the audit is incomplete" in result.stderr
    assert allowed.exit_code == 0, allowed.output
    report = json.loads(allowed.stdout)
    assert not report["clean"] and any("AuthFailed" in f for f in report["failed"])


async def test_a_credential_file_others_can_read_is_a_finding(h: EstateHarness) -> None:
    token = h.settings.proxmox.token_file
    token.chmod(0o644)
    try:
        argv = ["audit", "--config", str(signed_config(h)), "-o", "json"]
        result = await asyncio.to_thread(CliRunner().invoke, app, argv)
    finally:
        token.chmod(0o600)
    assert result.exit_code == 1, result.output
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["check"] == "credential-file-readable"
    assert finding["fix"] == f"chmod 600 {token}"


async def test_the_daemon_shows_findings_as_conditions_and_events(
    h: EstateHarness, clients: dict[str, Any], web: WebReceiver
) -> None:
    await daemon_running(h)
    path = "/etc/ssh/sshd_config.d/00-passwords.conf"
    host = address(h, "dev-1")
    try:
        await clients.ssh.install_file(host, path, b"PasswordAuthentication yes\n", mode=0o600)

        def condition() -> str | None:
            obj = h.object("VM", "dev-1")
            found = [c for c in obj.status.conditions if c.type == "AuditFinding"] if obj else []
            return found[0].message if found else None

        await until(lambda: "ssh-password-auth" in (condition() or ""), what="the condition")
        store = Store.open(h.settings.store.path, readonly=True)
        try:
            events = [
                e for e in store.events.for_object("VM", "dev-1", 100) if e.reason == "AuditFinding"
            ]
        finally:
            store.close()
        assert len(events) == 1 and events[0].type == "Warning"

        def about_dev1() -> list[dict[str, Any]]:
            return [n for n in notified(web, "AuditFinding") if n["object"]["name"] == "dev-1"]

        await until(lambda: bool(about_dev1()), what="the finding notified")
        (sent,) = about_dev1()
        assert sent["object"] == {"kind": "VM", "name": "dev-1"}
        assert "ssh-password-auth" in sent["text"]
        assert len(notified(web, "LeaderChanged")) == 1
    finally:
        await clients.ssh.run(host, ["rm", "-f", path])
    await until(lambda: condition() is None, what="the condition gone once repaired")


# -- one test per check ------------------------------------------------------------------


async def test_vm_without_firewall(h: EstateHarness, clients: dict[str, Any]) -> None:
    px = clients.proxmox
    vm = world_vm(h, "dev-1")

    async def set_enable(value: int) -> None:
        options = await px.firewall.options(vm.node, vm.vmid)
        await px.firewall.set_options(
            vm.node, vm.vmid, changes={"enable": value}, digest=options.digest
        )

    report = await planted(h, clients, lambda: set_enable(0), lambda: set_enable(1))
    assert checks_found(report) == {("vm-firewall-disabled", "VM", "dev-1")}


async def test_vm_firewall_open_policy_and_unowned_rule(
    h: EstateHarness, clients: dict[str, Any]
) -> None:
    px = clients.proxmox
    vm = world_vm(h, "community-b")
    rule = FirewallRuleSpec(type="in", action="ACCEPT", proto="tcp", dport="5432", comment="db")

    async def plant() -> None:
        options = await px.firewall.options(vm.node, vm.vmid)
        await px.firewall.set_options(
            vm.node, vm.vmid, changes={"policy_in": "ACCEPT"}, digest=options.digest
        )
        await px.firewall.create_rule(vm.node, vm.vmid, rule)

    async def repair() -> None:
        options = await px.firewall.options(vm.node, vm.vmid)
        await px.firewall.set_options(
            vm.node, vm.vmid, changes={"policy_in": "DROP"}, digest=options.digest
        )
        rules = await px.firewall.rules(vm.node, vm.vmid)
        await px.firewall.delete_rule(vm.node, vm.vmid, 0, digest=rules.digest)

    report = await planted(h, clients, plant, repair)
    assert checks_found(report) == {
        ("vm-firewall-open-policy", "VM", "community-b"),
        ("vm-firewall-unowned-rule", "VM", "community-b"),
    }


async def test_app_listening_beyond_the_tailnet(h: EstateHarness, clients: dict[str, Any]) -> None:
    ssh, systemd = clients.ssh, clients.systemd
    host = address(h, "shop-b")
    store = Store.open(h.settings.store.path, readonly=True)
    shop = store.objects.get(("App", "shop-b"))
    store.close()
    assert shop is not None
    resource = shop.resource()
    assert isinstance(resource, App)
    paths = AppPaths.of(resource)
    original = await ssh.read_file(host, paths.unit_path)
    assert original is not None and f"HOST={host}".encode() in original

    async def install(unit: bytes) -> None:
        await ssh.install_file(host, paths.unit_path, unit, mode=0o644)
        await systemd.daemon_reload(host)
        await systemd.restart(host, paths.unit_name)

    report = await planted(
        h,
        clients,
        lambda: install(original.replace(f"HOST={host}".encode(), b"HOST=0.0.0.0")),
        lambda: install(original),
    )
    assert checks_found(report) == {("app-listens-publicly", "App", "shop-b")}
    assert "0.0.0.0:8080" in report.findings[0].message


async def test_ssh_password_authentication_on_a_vm(
    h: EstateHarness, clients: dict[str, Any]
) -> None:
    ssh = clients.ssh
    host, path = address(h, "caddy-router"), "/etc/ssh/sshd_config.d/00-passwords.conf"
    report = await planted(
        h,
        clients,
        lambda: ssh.install_file(host, path, b"PasswordAuthentication yes\n", mode=0o600),
        lambda: ssh.run(host, ["rm", "-f", path]),
    )
    assert checks_found(report) == {("ssh-password-auth", "VM", "caddy-router")}


async def test_ssh_password_authentication_on_a_machine(
    h: EstateHarness, clients: dict[str, Any]
) -> None:
    sshd = next(s for s in h.estate.node_sshds if s.shell.node == "pve2")
    config = Path(sshd.root) / "etc/ssh/sshd_config"

    async def plant() -> None:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("PermitRootLogin yes\nPasswordAuthentication yes\n")

    async def repair() -> None:
        config.unlink()

    report = await planted(h, clients, plant, repair)
    assert checks_found(report) == {("ssh-password-auth", "Machine", "ava")}


async def test_machine_web_ui_reachable_from_outside_the_tailnet(
    h: EstateHarness, clients: dict[str, Any]
) -> None:
    px = clients.proxmox
    write = px._transport.write
    path = ("nodes", "pve3", "firewall", "rules")

    async def plant() -> None:
        rule = {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "8006", "enable": 1}
        await write("POST", "test.node_rule", path, rule)

    async def repair() -> None:
        rules = await px.firewall.node_rules("pve3")
        await write("DELETE", "test.node_rule", (*path, "0"), {"digest": rules.digest})

    report = await planted(h, clients, plant, repair)
    assert checks_found(report) == {("machine-firewall-open", "Machine", "clone-server")}


async def test_datacenter_firewall_disabled(h: EstateHarness, clients: dict[str, Any]) -> None:
    px = clients.proxmox

    async def set_enable(value: int) -> None:
        options = await px.firewall.cluster_options()
        await px._transport.write(
            "PUT",
            "test.cluster_options",
            ("cluster", "firewall", "options"),
            {"enable": value, "digest": options.digest},
        )

    report = await planted(h, clients, lambda: set_enable(0), lambda: set_enable(1))
    machines = {("machine-firewall-open", "Machine", m) for m in ("dell", "ava", "clone-server")}
    assert (
        checks_found(report)
        == {("datacenter-firewall-disabled", "Datacenter", "cluster")} | machines
    )


async def test_world_readable_env_file(h: EstateHarness, clients: dict[str, Any]) -> None:
    ssh = clients.ssh
    host = address(h, "community-a")
    path = "/etc/homeport/apps/community-a.env"
    assert await ssh.stat(host, path) is not None
    report = await planted(
        h,
        clients,
        lambda: ssh.run(host, ["chmod", "644", path]),
        lambda: ssh.run(host, ["chmod", "600", path]),
    )
    assert checks_found(report) == {("env-file-readable", "App", "community-a")}
    assert "every user" in report.findings[0].message


async def test_readable_file_in_the_secrets_directory(
    h: EstateHarness, clients: dict[str, Any]
) -> None:
    secret = h.settings.secrets.directory / "shop" / "database_url"

    async def chmod(mode: int) -> None:
        secret.chmod(mode)

    report = await planted(h, clients, lambda: chmod(0o644), lambda: chmod(0o600))
    assert checks_found(report) == {("secret-file-readable", "Config", "secrets")}


async def test_secret_in_a_manifest_in_git(h: EstateHarness, clients: dict[str, Any]) -> None:
    manifest = (
        "apiVersion: homeport.dev/v1alpha1\nkind: App\nmetadata: {name: wip}\n"
        "spec:\n  vm: dev-1\n  source: {repo: https://git.example.com/edge/shop.git}\n"
        "  execStart: /usr/bin/python3 app.py\n  port: 9000\n"
        "  env: {GITHUB_TOKEN: ghp_0123456789abcdefghijklmnopqrstuvwxyzAB}\n"
    )

    async def plant() -> None:
        # Pushed to another branch: the pre-receive hook only guards the tracked one.
        await asyncio.to_thread(_git, h, "checkout", "-q", "-b", "wip")
        h.work.write("manifests/wip.yaml", manifest)
        h.work.commit("wip")
        await asyncio.to_thread(_git, h, "push", "-q", "origin", "wip")

    async def repair() -> None:
        await asyncio.to_thread(_git, h, "push", "-q", "origin", "--delete", "wip")
        await asyncio.to_thread(_git, h, "checkout", "-q", "main")

    report = await planted(h, clients, plant, repair)
    assert checks_found(report) == {("manifest-secret", "App", "wip")}
    assert (
        "branch wip" in report.findings[0].message and "GitHub token" in report.findings[0].message
    )
    assert "ghp_" not in report.findings[0].message


def _git(h: EstateHarness, *args: str) -> None:
    subprocess.run(["git", *args], cwd=h.work.path, check=True, capture_output=True)


async def test_tls_verification_disabled_in_the_config(
    h: EstateHarness, clients: dict[str, Any]
) -> None:
    sink = WebhookSink(
        type="webhook", name="ops", url="https://hooks.example.com/x", verify_tls=False
    )
    original = h.settings

    async def plant() -> None:
        h.settings = original.model_copy(update={"notify": NotifySettings(sinks=[sink])})

    async def repair() -> None:
        h.settings = original

    report = await planted(h, clients, plant, repair)
    assert checks_found(report) == {("tls-verification-disabled", "Config", "ops")}


# -- last: the daemon notifies a real failover ------------------------------------------


async def test_a_failover_is_notified_once_with_its_timeline_and_rpo(
    h: EstateHarness, web: WebReceiver, mailbox: Mailbox
) -> None:
    await daemon_running(h)
    await h.converged({"StandbyPair"})
    assert h.estate.guests is not None
    await h.estate.guests.crash_vm(world_vm(h, "shop-a").vmid)
    await until(lambda: bool(notified(web, "FailoverCompleted")), what="the failover notified")
    await until(lambda: len(mailbox.messages) == 2, what="two mails")
    (started,) = notified(web, "FailoverStarted")
    (done,) = notified(web, "FailoverCompleted")
    assert started["object"] == done["object"] == {"kind": "StandbyPair", "name": "shop"}
    details = done["details"]
    assert (details["from"], details["to"], details["epoch"]) == ("shop-a", "shop-b", 2)
    phases = [step["phase"] for step in details["timeline"]]
    assert phases[:3] == ["FailureStarted", "Detected", "Fencing"] and "Rerouted" in phases
    assert isinstance(details["rpoSeconds"], float)
    assert f"RPO (data-loss window): {details['rpoSeconds']:.1f}s" in done["text"]
    subjects = sorted(str(m["Subject"]) for m in mailbox.messages)
    assert subjects == [
        "[homeport] failover finished: StandbyPair shop",
        "[homeport] failover started: StandbyPair shop",
    ]
    assert "Rerouted" in mailbox.messages[-1].get_payload(decode=True).decode()
