"""Firewall as code: the VM's Proxmox firewall rules derived from the estate, and the diff.

Pure: ``observe.py`` gathers ``FirewallInputs`` (the VM's Apps and their ports, the
router VMs' and StandbyPair peers' addresses, the tailnet ranges and the control plane
from the config) and the observed options and rules (``FirewallSeen``); ``plan.py`` asks
``firewall_actions`` for the actions of ``actions.py``; ``firewall_apply.py`` performs
them through ``px.firewall``.

The creed (seed 000) as rules: the firewall is on with inbound DROP by default; SSH only
from the tailnet ranges and the control plane (and from a StandbyPair peer, which
replicates over SSH); an App's port only from the router VM (and the control plane, whose
health checks and failover probes must reach it); 80/443 only on the router. Rules
homeport wrote carry ``homeport:<id>`` in their comment (``ownership.py``); any other
rule is reported and never touched. The derived rules are all ACCEPTs on a DROP policy,
so their order does not change what passes; new ones are appended after what is there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from homeport.kinds import VM
from homeport.reconcilers.base import Action
from homeport.reconcilers.ownership import owned_rule_id, rule_comment
from homeport.reconcilers.vm.actions import (
    CreateFirewallRule,
    DeleteFirewallRule,
    FirewallRuleValue,
    SetFirewallOptions,
    UpdateFirewallRule,
)

DESIRED_OPTIONS: tuple[tuple[str, str], ...] = (
    ("enable", "1"),
    ("policy_in", "DROP"),
    ("policy_out", "ACCEPT"),
)
PUBLIC_PORTS = (("http", "80"), ("https", "443"))
# Fields a derived rule never sets: a hand-set value there is drift to remove.
UNSET_FIELDS = ("dest", "sport", "macro", "iface")


@dataclass(frozen=True)
class FirewallInputs:
    """What the rules of one VM follow from (gathered by ``observe.py``)."""

    ssh_port: int = 22
    tailnet_ranges: tuple[str, ...] = ()
    control_plane: tuple[str, ...] = ()
    """The control plane's addresses; empty: the tailnet ranges stand in for it."""
    apps: tuple[tuple[str, int], ...] = ()
    """(App, port) of the Apps on this VM reachable over the network."""
    routers: tuple[tuple[str, str | None], ...] = ()
    """(VM, address) of the router VMs; None while a router's address is unknown."""
    peers: tuple[tuple[str, str, str | None], ...] = ()
    """(StandbyPair, peer VM, address) of the pairs with a member on this VM."""
    caddy_admin_port: int | None = None
    """Caddy's admin API port, opened to the control plane on router VMs."""

    @property
    def control_sources(self) -> tuple[str, ...]:
        return self.control_plane or self.tailnet_ranges


@dataclass(frozen=True)
class SeenRule:
    """One rule as Proxmox lists it (``pos`` is its current list position)."""

    pos: int
    type: str
    action: str
    enable: bool
    fields: Mapping[str, str] = field(default_factory=dict)
    """proto, dport, sport, source, dest, iface, macro, icmp-type, log: those set."""
    comment: str | None = None

    @property
    def owner_id(self) -> str | None:
        return owned_rule_id(self.comment)


@dataclass(frozen=True)
class FirewallSeen:
    """The VM firewall's options (only the keys set) and its rules in order."""

    options: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[SeenRule, ...] = ()


# -- deriving the rules ------------------------------------------------------------------


def _rule(
    rule_id: str, port: str | None, source: str | None, **extra: str | None
) -> FirewallRuleValue:
    return FirewallRuleValue(
        id=rule_id,
        action=extra.get("action") or "ACCEPT",
        proto=extra.get("proto", "tcp"),
        dport=port,
        source=source,
        note=extra.get("note"),
    )


def _sources(prefix: str, sources: Sequence[str]) -> list[tuple[str, str]]:
    return [(f"{prefix}-{index}", source) for index, source in enumerate(sources)]


def desired_rules(vm: VM, inputs: FirewallInputs) -> tuple[FirewallRuleValue, ...]:
    """The VM's rules in order: declared extras, SSH, App ports, peers, public ports."""
    ssh = str(inputs.ssh_port)
    rules = [
        _rule(f"extra-{i}", r.port, r.source, action=r.action, proto=r.proto, note=r.comment)
        for i, r in enumerate(vm.spec.firewall.rules)
    ]
    rules += [_rule(f"ssh-{i}", ssh, s) for i, s in _sources("tailnet", inputs.tailnet_ranges)]
    rules += [_rule(f"ssh-{i}", ssh, s) for i, s in _sources("control", inputs.control_plane)]
    for app, port in sorted(inputs.apps):
        rules += [
            _rule(f"app-{app}-router-{router}", str(port), address)
            for router, address in sorted(inputs.routers)
            if address is not None
        ]
        rules += [
            _rule(f"app-{app}-{i}", str(port), s)
            for i, s in _sources("control", inputs.control_sources)
        ]
    rules += [
        _rule(f"peer-{pair}-ssh-{peer}", ssh, address)
        for pair, peer, address in sorted(inputs.peers)
        if address is not None
    ]
    if vm.spec.role == "router":
        rules += [_rule(name, port, None) for name, port in PUBLIC_PORTS]
        if inputs.caddy_admin_port is not None:
            admin = str(inputs.caddy_admin_port)
            rules += [
                _rule(f"caddy-admin-{i}", admin, s)
                for i, s in _sources("control", inputs.control_sources)
            ]
    return _unique(rules)


def _unique(rules: list[FirewallRuleValue]) -> tuple[FirewallRuleValue, ...]:
    seen: dict[str, FirewallRuleValue] = {}
    for rule in rules:
        seen.setdefault(rule.id, rule)
    return tuple(seen.values())


def missing_inputs(inputs: FirewallInputs) -> tuple[str, ...]:
    """Addresses the rules still wait for (a router or a peer VM not running yet)."""
    waiting = [f"router VM {n}" for n, a in inputs.routers if a is None] if inputs.apps else []
    waiting += [f"peer VM {peer}" for _, peer, address in inputs.peers if address is None]
    return tuple(waiting)


# -- the diff ----------------------------------------------------------------------------


def _differences(want: FirewallRuleValue, seen: SeenRule) -> tuple[list[str], list[str]]:
    """(what differs as ``key a → b``, fields to delete) between a rule and its wish."""
    changed = []
    wanted = want.fields()
    for key, value in (("type", seen.type), ("action", seen.action)):
        if wanted[key] != value:
            changed.append(f"{key} {value} → {wanted[key]}")
    if not seen.enable:
        changed.append("enable 0 → 1")
    if seen.comment != want.comment:
        changed.append("comment")
    for key in ("proto", "dport", "source"):
        if seen.fields.get(key) != wanted[key]:
            changed.append(f"{key} {seen.fields.get(key) or '-'} → {wanted[key] or '-'}")
    extra = [k for k in UNSET_FIELDS if seen.fields.get(k)]
    changed += [f"{key} {seen.fields[key]} → -" for key in extra]
    return changed, extra


def option_changes(seen: FirewallSeen) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in DESIRED_OPTIONS if str(seen.options.get(k, "")) != v)


def firewall_actions(
    node: str, vmid: int, desired: tuple[FirewallRuleValue, ...], seen: FirewallSeen
) -> list[Action]:
    """Options first, then stale rules removed (last first), drifted ones restored, new
    ones appended in order. Unowned rules are never in an action."""
    actions: list[Action] = []
    options = option_changes(seen)
    if options:
        was = ", ".join(f"{k}={seen.options.get(k, '-')}" for k, _ in options)
        drift = any(k in seen.options for k, _ in options)
        actions.append(SetFirewallOptions(node, vmid, options, was, drift))
    wanted = {rule.id: rule for rule in desired}
    kept: dict[str, SeenRule] = {}
    stale: list[SeenRule] = []
    for rule in seen.rules:
        rule_id = rule.owner_id
        if rule_id is None:
            continue
        if rule_id in wanted and rule_id not in kept:
            kept[rule_id] = rule
        else:
            stale.append(rule)
    for rule in sorted(stale, key=lambda r: -r.pos):
        rule_id = rule.owner_id or ""
        why = "(a duplicate)" if rule_id in kept else "homeport no longer wants"
        actions.append(DeleteFirewallRule(node, vmid, rule_id, rule.pos, describe_seen(rule), why))
    for rule_id, rule in kept.items():
        changed, delete = _differences(wanted[rule_id], rule)
        if changed:
            actions.append(
                UpdateFirewallRule(
                    node, vmid, wanted[rule_id], rule.pos, tuple(delete), "; ".join(changed)
                )
            )
    actions += [CreateFirewallRule(node, vmid, r) for r in desired if r.id not in kept]
    return actions


def describe_seen(rule: SeenRule) -> str:
    proto = rule.fields.get("proto") or rule.fields.get("macro") or "any"
    port = rule.fields.get("dport")
    where = rule.fields.get("source") or "anywhere"
    state = "" if rule.enable else " (disabled)"
    return f"{rule.type} {rule.action} {proto}{'/' + port if port else ''} from {where}{state}"


def unowned(seen: FirewallSeen) -> list[str]:
    """Rules homeport did not write, as ``pos N: …`` lines for status and the audit."""
    return [
        f"pos {r.pos}: {describe_seen(r)}" + (f" ({r.comment})" if r.comment else "")
        for r in seen.rules
        if r.owner_id is None
    ]


__all__ = [
    "FirewallInputs",
    "FirewallSeen",
    "SeenRule",
    "desired_rules",
    "firewall_actions",
    "missing_inputs",
    "rule_comment",
    "unowned",
]
