"""Moving a VM with PCI passthrough to another Machine: stopped, never live. Pure.

Used by ``plan.py`` when a VM's node differs from its Machine's. Proxmox refuses to
live-migrate a VM with ``hostpciN`` (``can't migrate VM which uses local devices``, or
``can't migrate running VM which uses mapped devices`` for a mapping) and refuses even an
offline migration of a raw host address unless root forces it — the address means
nothing on another host. So the VM is shut down, its ``hostpci`` keys are brought to the
declared ones while it is stopped on the old node (a raw address may become a mapping
there), then it is migrated offline and the usual power step starts it on the new node.
A raw address left in the config stalls the move with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping

from homeport.reconcilers.base import Action, Plan
from homeport.reconcilers.vm.actions import MigrateVM, PowerVM, UpdateConfig


def _hostpci(config: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in config.items() if k.startswith("hostpci") and k[7:].isdigit()}


def passthrough_move(
    node: str,
    vmid: int,
    target: str,
    *,
    running: bool,
    observed: Mapping[str, str],
    desired: Mapping[str, str],
) -> list[Action] | Plan | None:
    """The next step of moving a VM with passthrough; None when it has none (a live move)."""
    seen, wanted = _hostpci(observed), _hostpci(desired)
    if not seen and not wanted:
        return None
    if running:
        reason = "PCI passthrough: Proxmox cannot live-migrate it; it moves stopped"
        return [PowerVM(node, vmid, "shutdown", reason)]
    if seen != wanted:
        changes = tuple(sorted((k, v) for k, v in wanted.items() if seen.get(k) != v))
        stale = tuple(sorted(k for k in seen if k not in wanted))
        return [UpdateConfig(node, vmid, changes, stale)]
    raw = sorted(f"{k} ({v.split(',', 1)[0]})" for k, v in seen.items() if "mapping=" not in v)
    if raw:
        return Plan(
            waiting=f"VM {vmid} passes through the host device(s) {', '.join(raw)} of "
            f"{node}; Proxmox cannot move a raw host address to {target}: name a cluster "
            "resource mapping (pciDevices[].mapping) present on both Machines instead",
            state_reason="PassthroughBlocksMove",
            requeue_after=300,
        )
    return [MigrateVM(node, vmid, target, online=False)]
