"""What a guest's tailscaled needs from the tailnet's control plane.

``tailscale.Tailnet`` implements :class:`TailnetControl` (structurally; neither package
imports the other). ``commands/tailscale.py`` joins with an auth key; ``guest.py`` reports
the device connected while the VM runs and is reachable. The node's identity is kept on the
guest disk in ``/var/lib/tailscale/tailscaled.state`` so it survives reboots and clones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from .rootfs import GuestDisk

STATE_FILE = "/var/lib/tailscale/tailscaled.state"


class JoinRefused(Exception):
    """The control plane refused ``tailscale up`` (bad key, tags not permitted, ...)."""


@dataclass(frozen=True)
class TailnetDevice:
    node_id: str
    hostname: str
    dns_name: str
    addresses: tuple[str, ...]
    tags: tuple[str, ...]
    tailnet: str
    magic_dns_suffix: str


class TailnetControl(Protocol):
    def join(
        self, *, auth_key: str, hostname: str, address: str, advertise_tags: tuple[str, ...]
    ) -> TailnetDevice: ...

    def device(self, node_id: str) -> TailnetDevice | None: ...

    def set_connected(self, node_id: str, connected: bool) -> None: ...


def read_node_id(disk: GuestDisk) -> str | None:
    text = disk.read_text(STATE_FILE)
    if not text:
        return None
    try:
        value = json.loads(text).get("node_id")
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def write_node_id(disk: GuestDisk, node_id: str | None) -> None:
    disk.write_file(STATE_FILE, json.dumps({"node_id": node_id}).encode(), mode=0o600)
