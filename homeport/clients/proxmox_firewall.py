"""A VM's Proxmox firewall: options and rules, guarded by the digests PVE returns; and the
read side of the nodes' and the datacenter's firewall.

Used by the VM reconciler and ``homeport audit``. Rules are addressed by position, which shifts on every insert
and delete: every rule write carries the list ``digest`` so a concurrent change fails
with ``ChecksumMismatch`` instead of hitting the wrong rule. New rules default to
*disabled* in PVE (reference §10), so ``FirewallRuleSpec.enable`` is always sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from homeport.clients.proxmox_models import FirewallOptions, FirewallRules
from homeport.clients.proxmox_transport import ProxmoxTransport, expect_dict, expect_list
from homeport.clients.proxmox_wire import ParamValue


@dataclass(frozen=True, kw_only=True)
class FirewallRuleSpec:
    type: str
    action: str
    enable: bool = True
    proto: str | None = None
    dport: str | None = None
    sport: str | None = None
    source: str | None = None
    dest: str | None = None
    iface: str | None = None
    macro: str | None = None
    log: str | None = None
    comment: str | None = None

    def params(self) -> dict[str, ParamValue]:
        return {
            "type": self.type,
            "action": self.action,
            "enable": self.enable,
            "proto": self.proto,
            "dport": self.dport,
            "sport": self.sport,
            "source": self.source,
            "dest": self.dest,
            "iface": self.iface,
            "macro": self.macro,
            "log": self.log,
            "comment": self.comment,
        }


class ProxmoxFirewall:
    def __init__(self, transport: ProxmoxTransport) -> None:
        self._transport = transport

    async def options(self, node: str, vmid: int) -> FirewallOptions:
        data = await self._transport.read(
            "firewall.options", _fw(node, vmid, "options"), node=node, vmid=vmid
        )
        return FirewallOptions.parse(expect_dict(data, "firewall.options"))

    async def set_options(
        self,
        node: str,
        vmid: int,
        *,
        changes: Mapping[str, ParamValue],
        delete: Sequence[str] = (),
        digest: str | None = None,
    ) -> None:
        params = {**changes, "delete": ",".join(delete) if delete else None, "digest": digest}
        await self._transport.write(
            "PUT",
            "firewall.set_options",
            _fw(node, vmid, "options"),
            params,
            idempotent=True,
            node=node,
            vmid=vmid,
        )

    async def rules(self, node: str, vmid: int) -> FirewallRules:
        data = await self._transport.read(
            "firewall.rules", _fw(node, vmid, "rules"), node=node, vmid=vmid
        )
        return FirewallRules.parse(expect_list(data, "firewall.rules"))

    async def create_rule(
        self,
        node: str,
        vmid: int,
        rule: FirewallRuleSpec,
        *,
        pos: int | None = None,
        digest: str | None = None,
    ) -> None:
        """Insert ``rule`` at ``pos`` (PVE's default: position 0, the top)."""
        params = {**rule.params(), "pos": pos, "digest": digest}
        await self._transport.write(
            "POST", "firewall.create_rule", _fw(node, vmid, "rules"), params, node=node, vmid=vmid
        )

    async def update_rule(
        self,
        node: str,
        vmid: int,
        pos: int,
        rule: FirewallRuleSpec,
        *,
        digest: str,
        delete: Sequence[str] = (),
    ) -> None:
        """Rewrite the rule at ``pos``; ``delete`` clears fields ``rule`` leaves unset."""
        params = {**rule.params(), "digest": digest, "delete": ",".join(delete) or None}
        await self._transport.write(
            "PUT",
            "firewall.update_rule",
            _fw(node, vmid, "rules", str(pos)),
            params,
            idempotent=True,
            node=node,
            vmid=vmid,
        )

    async def delete_rule(self, node: str, vmid: int, pos: int, *, digest: str) -> None:
        await self._transport.write(
            "DELETE",
            "firewall.delete_rule",
            _fw(node, vmid, "rules", str(pos)),
            {"digest": digest},
            node=node,
            vmid=vmid,
        )

    # -- the hosts' firewall (read by ``homeport audit``) ---------------------------------
    async def cluster_options(self) -> FirewallOptions:
        """Datacenter options (``cluster.fw``): nothing filters unless ``enable`` is 1."""
        data = await self._transport.read("firewall.cluster_options", _host(None, "options"))
        return FirewallOptions.parse(expect_dict(data, "firewall.cluster_options"))

    async def node_options(self, node: str) -> FirewallOptions:
        data = await self._transport.read(
            "firewall.node_options", _host(node, "options"), node=node
        )
        return FirewallOptions.parse(expect_dict(data, "firewall.node_options"))

    async def cluster_rules(self) -> FirewallRules:
        data = await self._transport.read("firewall.cluster_rules", _host(None, "rules"))
        return FirewallRules.parse(expect_list(data, "firewall.cluster_rules"))

    async def node_rules(self, node: str) -> FirewallRules:
        data = await self._transport.read("firewall.node_rules", _host(node, "rules"), node=node)
        return FirewallRules.parse(expect_list(data, "firewall.node_rules"))


def _host(node: str | None, what: str) -> tuple[str, ...]:
    return ("nodes", node, "firewall", what) if node else ("cluster", "firewall", what)


def _fw(node: str, vmid: int, *rest: str) -> tuple[str | int, ...]:
    return ("nodes", node, "qemu", vmid, "firewall", *rest)
