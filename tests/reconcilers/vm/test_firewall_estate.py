"""Firewall as code on the simulated estate: the example estate's VMs converge to the rules
their manifests imply; a rule edited by hand and a firewall switched off are corrected
with a ``FirewallDrift`` event; a rule homeport did not write is kept and reported.

Asserts on the simulator's world (the rules in each VM's firewall), not on calls made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from homeport.clients.proxmox_firewall import FirewallRuleSpec
from homeport.controller.control import send_request
from homeport.controller.store import Store
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration
KINDS = {"Machine", "VM", "App", "StandbyPair", "ProxyRoute"}
TAILNET = ("100.64.0.0/10", "fd7a:115c:a1e0::/48")  # the default [firewall] tailnet_ranges


def world_vm(h: EstateHarness, name: str) -> Any:
    assert h.estate.pve is not None
    return next(v for v in h.estate.pve.world.vms.values() if v.name == name)


def rules_of(h: EstateHarness, name: str) -> set[tuple[str, str, str, str]]:
    """(id, action, dport, source) of the enabled inbound rules homeport wrote."""
    return {
        (
            r["comment"].removeprefix("homeport:"),
            r["action"],
            r.get("dport", ""),
            r.get("source", ""),
        )
        for r in world_vm(h, name).firewall_rules
        if str(r.get("comment", "")).startswith("homeport:") and int(r.get("enable", 0)) == 1
    }


def address(h: EstateHarness, vm: str) -> str:
    obj = h.object("VM", vm)
    assert obj is not None
    return str(obj.status.details["address"])


def expected(h: EstateHarness) -> dict[str, set[tuple[str, str, str, str]]]:
    ssh = str(h.settings.ssh.port)
    admin = str(urlsplit(h.settings.caddy.admin_url).port)
    router = address(h, "caddy-router")

    def ssh_rules() -> set[tuple[str, str, str, str]]:
        return {(f"ssh-tailnet-{i}", "ACCEPT", ssh, s) for i, s in enumerate(TAILNET)}

    def app(name: str, port: int, pair: str, peer: str) -> set[tuple[str, str, str, str]]:
        return {
            (f"app-{name}-router-caddy-router", "ACCEPT", str(port), router),
            *((f"app-{name}-control-{i}", "ACCEPT", str(port), s) for i, s in enumerate(TAILNET)),
            (f"peer-{pair}-ssh-{peer}", "ACCEPT", ssh, address(h, peer)),
        }

    return {
        "caddy-router": ssh_rules()
        | {("http", "ACCEPT", "80", ""), ("https", "ACCEPT", "443", "")}
        | {(f"caddy-admin-control-{i}", "ACCEPT", admin, s) for i, s in enumerate(TAILNET)},
        "dev-1": ssh_rules(),
        "shop-a": ssh_rules() | app("shop-a", 8080, "shop", "shop-b"),
        "shop-b": ssh_rules() | app("shop-b", 8080, "shop", "shop-a"),
        "community-a": ssh_rules() | app("community-a", 8090, "community", "community-b"),
        "community-b": ssh_rules() | app("community-b", 8090, "community", "community-a"),
    }


def converged_firewalls(h: EstateHarness) -> bool:
    want = expected(h)
    return all(
        rules_of(h, vm) == rules
        and world_vm(h, vm).firewall_options.get("enable") in (1, "1")
        and world_vm(h, vm).firewall_options.get("policy_in") == "DROP"
        for vm, rules in want.items()
    )


def events(h: EstateHarness, name: str, reason: str) -> list[str]:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return [e.message for e in store.events.for_object("VM", name, 200) if e.reason == reason]
    finally:
        store.close()


def journal_size(h: EstateHarness, name: str) -> int:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return len(store.journal.for_object("VM", name, 10_000))
    finally:
        store.close()


def reconcile(h: EstateHarness, name: str) -> None:
    assert send_request(h.settings.store.path, {"op": "reconcile", "kind": "VM", "name": name})


async def test_estate_converges_to_its_firewall_and_keeps_it(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.converged(KINDS)
        await until(lambda: converged_firewalls(h), timeout=30, what="firewall rules per VM")
        for vm in expected(h):
            nic = str(world_vm(h, vm).conf.get("net0", ""))
            assert "firewall=1" in nic, f"{vm}: {nic}"

        # Converged: a reconcile changes nothing (no journaled, mutating action).
        before = journal_size(h, "shop-a")
        reconcile(h, "shop-a")
        px = h.clients.proxmox
        vm = world_vm(h, "shop-a")

        # A rule edited by hand is restored, with an event.
        rules = await px.firewall.rules(vm.node, vm.vmid)
        ssh = next(r for r in rules.rules if r.comment == "homeport:ssh-tailnet-0")
        await px.firewall.update_rule(
            vm.node, vm.vmid, ssh.pos, _spec(ssh, source="0.0.0.0/0"), digest=rules.digest
        )
        # A rule homeport did not write is kept and reported.
        await px.firewall.create_rule(
            vm.node, vm.vmid, _spec(ssh, source="192.0.2.7", dport="5432", comment="laptop")
        )
        reconcile(h, "shop-a")
        await until(
            lambda: (
                ("ssh-tailnet-0", "ACCEPT", str(h.settings.ssh.port), TAILNET[0])
                in rules_of(h, "shop-a")
            ),
            what="the edited rule restored",
        )
        # The world changes inside Proxmox's answer; the event is written after the answer
        # has travelled back to the reconciler, so it is awaited, not assumed.
        await until(
            lambda: any("ssh-tailnet-0" in m for m in events(h, "shop-a", "FirewallDrift")),
            what="the drift event of the restored rule",
        )
        assert any(r.get("comment") == "laptop" for r in vm.firewall_rules)

        def reported() -> bool:
            obj = h.object("VM", "shop-a")
            unowned = (obj.status.details.get("firewall") or {}).get("unowned") if obj else None
            return bool(unowned) and "5432" in unowned[0] and "laptop" in unowned[0]

        await until(reported, what="the unowned rule in the VM's status")
        assert journal_size(h, "shop-a") == before + 1  # the restore, nothing else

        # The firewall switched off by hand is switched on again.
        options = await px.firewall.options(vm.node, vm.vmid)
        await px.firewall.set_options(
            vm.node, vm.vmid, changes={"enable": 0}, digest=options.digest
        )
        reconcile(h, "shop-a")
        await until(
            lambda: vm.firewall_options.get("enable") in (1, "1"), what="firewall enabled again"
        )
        await until(
            lambda: any("enable=1" in m for m in events(h, "shop-a", "FirewallDrift")),
            what="the drift event",
        )
        assert any(r.get("comment") == "laptop" for r in vm.firewall_rules)


def _spec(rule: Any, **changes: Any) -> FirewallRuleSpec:
    values = {
        "type": rule.type,
        "action": rule.action,
        "proto": rule.proto,
        "dport": rule.dport,
        "source": rule.source,
        "comment": rule.comment,
    }
    return FirewallRuleSpec(**{**values, **changes})
