"""Per-VM firewall (`/etc/pve/firewall/<vmid>.fw`): options and rules, as `pve-firewall` keeps them.

Options show only the keys that are set, plus the file's `digest`; rules show their list
position `pos` and the digest of the whole list. New rules are unshifted to position 0 and
are disabled (`enable: 0`) unless told otherwise. A stale digest fails with PVE's
"detected modified configuration" error. Node (`host.fw`) and cluster (`cluster.fw`) rule
lists behave the same (`host_rules_view`, `create_host_rule`, ...). Called by
`proxmox_api.routes_firewall`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from homeport.simulator.errors import PveError
from homeport.simulator.pve.vms import Vm

RULE_KEYS = (
    "type",
    "action",
    "macro",
    "iface",
    "source",
    "dest",
    "proto",
    "dport",
    "sport",
    "icmp-type",
    "log",
    "comment",
    "enable",
)
MODIFIED = "detected modified configuration - file changed by other user? Try again."


def options_digest(vm: Vm) -> str:
    return _digest({"options": vm.firewall_options, "rules": vm.firewall_rules})


def rules_digest(vm: Vm) -> str:
    return _digest(vm.firewall_rules)


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _check_digest(expected: str, given: Any) -> None:
    if given and given != expected:
        raise PveError(MODIFIED)


def host_options_view(options: dict[str, Any]) -> dict[str, Any]:
    """Node (`host.fw`) or cluster (`cluster.fw`) options: set keys plus the file digest."""
    return {**options, "digest": _digest(options)}


def set_host_options(options: dict[str, Any], params: dict[str, Any]) -> None:
    _check_digest(_digest(options), params.get("digest"))
    for key in [k for k in str(params.get("delete", "")).split(",") if k]:
        options.pop(key, None)
    options.update({k: v for k, v in params.items() if k not in ("delete", "digest")})


def options_view(vm: Vm) -> dict[str, Any]:
    return {**vm.firewall_options, "digest": options_digest(vm)}


def set_options(vm: Vm, params: dict[str, Any]) -> None:
    _check_digest(options_digest(vm), params.get("digest"))
    for key in [k for k in str(params.get("delete", "")).split(",") if k]:
        vm.firewall_options.pop(key, None)
    vm.firewall_options.update({k: v for k, v in params.items() if k not in ("delete", "digest")})


def rules_view(vm: Vm) -> list[dict[str, Any]]:
    digest = rules_digest(vm)
    return [_rule_view(rule, pos, digest) for pos, rule in enumerate(vm.firewall_rules)]


def rule_view(vm: Vm, pos: int) -> dict[str, Any]:
    return _rule_view(_rule_at(vm, pos), pos, rules_digest(vm))


def _rule_view(rule: dict[str, Any], pos: int, digest: str) -> dict[str, Any]:
    view = {"pos": pos, **rule, "digest": digest}
    address = str(rule.get("source", "") or rule.get("dest", ""))
    if address:
        view["ipversion"] = 6 if ":" in address else 4
    return view


def _rule_at(vm: Vm, pos: int) -> dict[str, Any]:
    if not 0 <= pos < len(vm.firewall_rules):
        raise PveError(f"no rule at position {pos}")
    return vm.firewall_rules[pos]


def create_rule(vm: Vm, params: dict[str, Any]) -> None:
    _check_digest(rules_digest(vm), params.get("digest"))
    rule = {k: params[k] for k in RULE_KEYS if k in params}
    rule.setdefault("enable", 0)
    pos = params.get("pos")
    position = 0 if pos is None else min(int(pos), len(vm.firewall_rules))
    vm.firewall_rules.insert(position, rule)


def update_rule(vm: Vm, pos: int, params: dict[str, Any]) -> None:
    _check_digest(rules_digest(vm), params.get("digest"))
    rule = _rule_at(vm, pos)
    if params.get("moveto") is not None:
        vm.firewall_rules.pop(pos)
        vm.firewall_rules.insert(min(int(params["moveto"]), len(vm.firewall_rules)), rule)
        return
    for key in [k for k in str(params.get("delete", "")).split(",") if k]:
        rule.pop(key, None)
    rule.update({k: params[k] for k in RULE_KEYS if k in params})


def delete_rule(vm: Vm, pos: int, params: dict[str, Any]) -> None:
    _check_digest(rules_digest(vm), params.get("digest"))
    _rule_at(vm, pos)
    vm.firewall_rules.pop(pos)


# -- node and cluster rules (`host.fw`, `cluster.fw`): the same list semantics as a VM's --


def host_rules_view(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    digest = _digest(rules)
    return [_rule_view(rule, pos, digest) for pos, rule in enumerate(rules)]


def host_rule_view(rules: list[dict[str, Any]], pos: int) -> dict[str, Any]:
    if not 0 <= pos < len(rules):
        raise PveError(f"no rule at position {pos}")
    return _rule_view(rules[pos], pos, _digest(rules))


def create_host_rule(rules: list[dict[str, Any]], params: dict[str, Any]) -> None:
    _check_digest(_digest(rules), params.get("digest"))
    rule = {k: params[k] for k in RULE_KEYS if k in params}
    rule.setdefault("enable", 0)
    pos = params.get("pos")
    rules.insert(0 if pos is None else min(int(pos), len(rules)), rule)


def delete_host_rule(rules: list[dict[str, Any]], pos: int, params: dict[str, Any]) -> None:
    _check_digest(_digest(rules), params.get("digest"))
    if not 0 <= pos < len(rules):
        raise PveError(f"no rule at position {pos}")
    rules.pop(pos)
