"""Performing the firewall actions of ``firewall.py`` through ``px.firewall``.

Rules are addressed by position, which any write shifts: every write reads the list
again, finds its rule by the ``homeport:<id>`` comment and carries the list digest, so a
concurrent edit fails with ``ChecksumMismatch`` (retried after a fresh plan) instead of
hitting the wrong rule. A create that finds its rule already there (an answer lost on the
way back) does nothing. Restoring a hand-edited rule or re-enabling a disabled firewall
records a ``FirewallDrift`` warning event.
"""

from __future__ import annotations

from homeport.clients.errors import ChecksumMismatch
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_firewall import FirewallRuleSpec
from homeport.clients.proxmox_models import FirewallRule, FirewallRules
from homeport.reconcilers.base import Action, Effects
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.ownership import owned_rule_id
from homeport.reconcilers.vm.actions import (
    CreateFirewallRule,
    DeleteFirewallRule,
    FirewallRuleValue,
    SetFirewallOptions,
    UpdateFirewallRule,
)

FIREWALL_ACTIONS = (SetFirewallOptions, CreateFirewallRule, UpdateFirewallRule, DeleteFirewallRule)


async def apply_firewall(px: ProxmoxClient, action: Action, ctx: Effects) -> None:
    try:
        if isinstance(action, SetFirewallOptions):
            await _options(px, action)
            if action.drift:
                ctx.event("FirewallDrift", action.describe(), warning=True)
        elif isinstance(action, CreateFirewallRule):
            await _create(px, action)
        elif isinstance(action, UpdateFirewallRule):
            await _update(px, action)
            ctx.event("FirewallDrift", action.describe(), warning=True)
        elif isinstance(action, DeleteFirewallRule):
            await _delete(px, action)
        else:
            raise TypeError(f"not a firewall action: {action!r}")
    except ChecksumMismatch:
        raise TemporaryError(
            f"the firewall of VM {getattr(action, 'vmid', '?')} changed meanwhile; planning again",
            delay=0.2,
            reason="FirewallChanged",
        ) from None


def rule_spec(rule: FirewallRuleValue) -> FirewallRuleSpec:
    return FirewallRuleSpec(
        type=rule.type,
        action=rule.action,
        enable=True,  # PVE creates rules disabled unless told (reference §10)
        proto=rule.proto,
        dport=rule.dport,
        source=rule.source,
        comment=rule.comment,
    )


async def _options(px: ProxmoxClient, action: SetFirewallOptions) -> None:
    current = await px.firewall.options(action.node, action.vmid)
    changes = {k: int(v) if v.isdigit() else v for k, v in action.changes}
    await px.firewall.set_options(
        action.node, action.vmid, changes=changes, digest=current.digest or None
    )


def _find(rules: FirewallRules, rule_id: str, pos: int) -> FirewallRule | None:
    """The rule with ``rule_id`` at ``pos`` if it is still there, else the last one with it."""
    mine = [r for r in rules.rules if owned_rule_id(r.comment) == rule_id]
    return next((r for r in mine if r.pos == pos), mine[-1] if mine else None)


async def _create(px: ProxmoxClient, action: CreateFirewallRule) -> None:
    rules = await px.firewall.rules(action.node, action.vmid)
    if any(owned_rule_id(r.comment) == action.rule.id for r in rules.rules):
        return
    await px.firewall.create_rule(
        action.node,
        action.vmid,
        rule_spec(action.rule),
        pos=len(rules.rules),
        digest=rules.digest or None,
    )


async def _update(px: ProxmoxClient, action: UpdateFirewallRule) -> None:
    rules = await px.firewall.rules(action.node, action.vmid)
    found = _find(rules, action.rule.id, action.pos)
    if found is None:
        raise TemporaryError(f"firewall rule {action.rule.id} is gone; planning again", delay=0.2)
    await px.firewall.update_rule(
        action.node,
        action.vmid,
        found.pos,
        rule_spec(action.rule),
        digest=rules.digest,
        delete=action.delete,
    )


async def _delete(px: ProxmoxClient, action: DeleteFirewallRule) -> None:
    rules = await px.firewall.rules(action.node, action.vmid)
    found = _find(rules, action.rule_id, action.pos)
    if found is not None:
        await px.firewall.delete_rule(action.node, action.vmid, found.pos, digest=rules.digest)
