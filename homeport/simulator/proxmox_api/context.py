"""What every API handler can reach: the world, the fault injector, the simulator's config.

Built once by `server.ProxmoxApiServer`; handed to handlers inside each `router.Call`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from homeport.simulator.faults import Faults
from homeport.simulator.proxmox_api.auth import Authenticator
from homeport.simulator.pve.world import World
from homeport.simulator.settings import SimulatorConfig


@dataclass
class ApiContext:
    world: World
    faults: Faults
    config: SimulatorConfig
    auth: Authenticator
    fingerprints: Mapping[str, str]  # node -> its certificate's SHA-256 (`ssl_fingerprint`)
