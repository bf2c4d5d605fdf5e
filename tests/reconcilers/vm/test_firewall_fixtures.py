"""VM firewall plan fixtures: (desired VM, firewall inputs, observed firewall) → actions.

Each case in ``firewall/`` starts from a running, reachable VM whose config matches, so
only the firewall can make the plan act. ``observed.firewall`` builds the observed rules:
``converged: true`` starts from exactly the desired rules, then ``edit`` changes fields
of some (by rule id), ``remove`` drops some, and ``extra`` appends rules as listed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.kinds import VM
from homeport.reconcilers.vm import VMObserved, plan_vm
from homeport.reconcilers.vm.config import desired_config
from homeport.reconcilers.vm.firewall import (
    DESIRED_OPTIONS,
    FirewallInputs,
    FirewallSeen,
    SeenRule,
    desired_rules,
)
from tests.reconcilers.fixtures import Case, check_plan, load_cases

HOMEPORT_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHomeportKeyForTests homeport"
CASES = load_cases(
    Path(__file__).parent / "firewall", "VM", extra_expect=frozenset({"requeue_after"})
)


def _inputs(data: dict[str, Any]) -> FirewallInputs:
    return FirewallInputs(
        ssh_port=data.get("ssh_port", 22),
        tailnet_ranges=tuple(data.get("tailnet_ranges", ["100.64.0.0/10"])),
        control_plane=tuple(data.get("control_plane", [])),
        apps=tuple((a, int(p)) for a, p in data.get("apps", [])),
        routers=tuple((r, a) for r, a in data.get("routers", [])),
        peers=tuple((p, v, a) for p, v, a in data.get("peers", [])),
        caddy_admin_port=data.get("caddy_admin_port"),
    )


def _seen_rule(pos: int, data: dict[str, Any]) -> SeenRule:
    fields = {
        k: str(v) for k, v in data.items() if k not in ("type", "action", "enable", "comment")
    }
    return SeenRule(
        pos=pos,
        type=data.get("type", "in"),
        action=data.get("action", "ACCEPT"),
        enable=bool(data.get("enable", 1)),
        fields=fields,
        comment=data.get("comment"),
    )


def _firewall(vm: VM, inputs: FirewallInputs, data: dict[str, Any]) -> FirewallSeen:
    rows: list[dict[str, Any]] = []
    if data.get("converged"):
        for rule in desired_rules(vm, inputs):
            row = {k: v for k, v in rule.fields().items() if v is not None}
            rows.append({**row, "enable": 1, "comment": rule.comment, "_id": rule.id})
    removed = set(data.get("remove", []))
    rows = [r for r in rows if r.get("_id") not in removed]
    for row in rows:
        row.update(data.get("edit", {}).get(row.get("_id"), {}))
    rows += data.get("extra", [])
    options = data.get("options", dict(DESIRED_OPTIONS) if data.get("converged") else {})
    return FirewallSeen(
        options={k: str(v) for k, v in options.items()},
        rules=tuple(
            _seen_rule(pos, {k: v for k, v in row.items() if k != "_id" and v is not None})
            for pos, row in enumerate(rows)
        ),
    )


def observed_for(case: Case) -> VMObserved:
    assert isinstance(case.desired, VM)
    wanted = desired_config(case.desired, homeport_keys=[HOMEPORT_KEY])
    inputs = _inputs(case.observed.get("inputs", {}))
    base = VMObserved(
        name="web",
        machine_node="pve1",
        vmid=1000,
        exists=True,
        owned=True,
        node="pve1",
        status="running",
        config=wanted,
        desired_config=wanted,
        disk_gib=case.desired.spec.disk.size_gib,
        agent_running=True,
        guest_address="10.0.0.5",
        tailnet_address="100.64.0.9",
        tailnet_device_id="n1",
        host_key="ssh-ed25519 AAAAhostkey",
        host_key_trusted=True,
    )
    if "firewall" not in case.observed:
        return base
    return replace(
        base,
        firewall=_firewall(case.desired, inputs, case.observed["firewall"]),
        firewall_inputs=inputs,
    )


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_vm_firewall_plan(case: Case) -> None:
    assert isinstance(case.desired, VM)
    plan = plan_vm(case.desired, observed_for(case), now=datetime(2026, 1, 1, tzinfo=UTC))
    check_plan(plan, case.expect)
    if "requeue_after" in case.expect:
        assert plan.requeue_after == case.expect["requeue_after"]
