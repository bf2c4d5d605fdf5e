"""How homeport marks what it owns in the world, and recognises it again.

Proxmox VMs: the tag ``homeport`` plus a marker line in the description naming the
object. Systemd units and files: a marker comment. Caddy routes: an ``@id`` prefix.
Proxmox firewall rules: a ``homeport:<id>`` comment.
Shared by the reconcilers (which never import each other).
"""

from __future__ import annotations

from homeport.kinds.common import UNIT_PREFIX as UNIT_PREFIX

OWNER_TAG = "homeport"
ROUTE_ID_PREFIX = "homeport-route-"


def marker(kind: str, name: str) -> str:
    return f"managed by homeport: {kind}/{name}"


def description_with_marker(description: str | None, kind: str, name: str) -> str:
    text = (description or "").rstrip()
    return f"{text}\n\n{marker(kind, name)}" if text else marker(kind, name)


def owns_description(description: str | None, kind: str, name: str) -> bool:
    return marker(kind, name) in (description or "")


def owner_in_description(description: str | None) -> str | None:
    """The ``Kind/name`` a description's marker names, if any."""
    for line in (description or "").splitlines():
        if line.startswith("managed by homeport: "):
            return line.removeprefix("managed by homeport: ").strip()
    return None


# Proxmox firewall rules: the comment starts with the marker and the rule's id.
RULE_MARKER = "homeport:"


def rule_comment(rule_id: str, note: str | None = None) -> str:
    return f"{RULE_MARKER}{rule_id}" + (f" {note}" if note else "")


def owned_rule_id(comment: str | None) -> str | None:
    """The id of a firewall rule homeport wrote, from its comment; None for other rules."""
    if not comment or not comment.startswith(RULE_MARKER):
        return None
    return comment.removeprefix(RULE_MARKER).split(" ", 1)[0] or None
