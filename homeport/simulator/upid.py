"""UPIDs: `UPID:node:PID:PSTART:STARTTIME:type:id:user:` exactly as `PVE::UPID` prints them.

Written by `pve.tasks` when a task starts, parsed by `proxmox_api.routes_tasks` when a client
asks for a task's status or log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
    r"([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$"
)


@dataclass(frozen=True)
class Upid:
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str

    def __str__(self) -> str:
        return (
            f"UPID:{self.node}:{self.pid:08X}:{self.pstart:08X}:{self.starttime:08X}:"
            f"{self.type}:{self.id}:{self.user}:"
        )


def parse_upid(text: str) -> Upid | None:
    """The parts of a UPID, or None if PVE would say `unable to parse worker upid`."""
    match = _UPID_RE.match(text)
    if not match:
        return None
    return Upid(
        node=match.group(1),
        pid=int(match.group(3), 16),
        pstart=int(match.group(4), 16),
        starttime=int(match.group(5), 16),
        type=match.group(6),
        id=match.group(7),
        user=match.group(8),
    )
