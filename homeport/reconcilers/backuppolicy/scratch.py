"""Looking at a restore test's scratch VM: is it isolated, what address does its guest
agent report, do its Apps answer their health checks there.

Called by ``observe.py`` for the scratch VMs of this policy. Isolation is judged on what
PVE shows: the VM firewall on with both policies ``DROP``, and every NIC either under the
firewall (``firewall=1``) or cut (``link_down=1``). The health checks reach the copy at the
address its agent reports, only once it is isolated.
"""

from __future__ import annotations

from homeport.clients.errors import AgentNotReady, ProxmoxError
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import VmConfig, VmResource
from homeport.kinds.app import HealthCheck
from homeport.reconcilers.apphealth import check_health
from homeport.reconcilers.backuppolicy.observed import AppCheck, ScratchVM
from homeport.reconcilers.base import ClientAccess, ReconcileContext


def open_nics(config: VmConfig) -> tuple[str, ...]:
    """NICs neither under the firewall nor with their link down."""
    nics = sorted(k for k in config.values if k.startswith("net") and k[3:].isdigit())
    return tuple(
        k
        for k in nics
        if config.prop(k).get("firewall") != "1" and config.prop(k).get("link_down") != "1"
    )


async def _isolated(px: ProxmoxClient, node: str, vmid: int) -> bool:
    try:
        options = (await px.firewall.options(node, vmid)).values
    except ProxmoxError:
        return False
    return (
        str(options.get("enable")) == "1"
        and options.get("policy_in") == "DROP"
        and options.get("policy_out") == "DROP"
    )


async def _agent_address(px: ProxmoxClient, node: str, vmid: int) -> str | None:
    try:
        if not await px.agent.ping(node, vmid):
            return None
        interfaces = await px.agent.network_interfaces(node, vmid)
    except (AgentNotReady, ProxmoxError):
        return None
    return next(
        (a.address for i in interfaces if i.name != "lo" for a in i.addresses if a.type == "ipv4"),
        None,
    )


async def _probe(ctx: ClientAccess, address: str, app: AppCheck) -> str | None:
    check = HealthCheck.model_validate(
        {
            "type": app.type,
            "path": app.path,
            "timeoutSeconds": app.timeout,
            "expectStatus": app.expect_status,
        }
    )
    result = await check_health(ctx.clients.prober, check, address, app.port)
    return None if result.ok else str(result.error or "unhealthy")


async def observe_scratch(
    ctx: ReconcileContext, resource: VmResource, config: VmConfig, apps: tuple[AppCheck, ...]
) -> ScratchVM:
    px = ctx.clients.proxmox
    node, vmid = resource.node, resource.vmid
    isolated = await _isolated(px, node, vmid)
    address = None
    if resource.running and config.text("agent") not in (None, "0"):
        address = await _agent_address(px, node, vmid)
    health: dict[str, str | None] = {}
    if address is not None and isolated:
        for app in apps:
            if app.checkable:
                health[app.name] = await _probe(ctx, address, app)
    return ScratchVM(
        vmid=vmid,
        node=node,
        status=resource.status,
        lock=resource.lock or config.lock,
        isolated=isolated,
        open_nics=open_nics(config),
        address=address,
        health=health,
    )
