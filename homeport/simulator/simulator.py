"""`ProxmoxSimulator`: one simulated Proxmox VE cluster behind a real HTTPS socket.

Owns the clock, the world (`pve.world`), the fault injector (`faults`) and the API server
(`proxmox_api.server`); persists the world to `state_dir/pve-state.json` while it changes
and reloads it on the next start, so state survives a restart with the same directory.
From async code: `sim = ProxmoxSimulator(config); await sim.start(); ...; await sim.stop()`.
From sync code (proxmoxer is synchronous): `threaded.SimulatorThread`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from homeport.simulator.clock import SimClock
from homeport.simulator.faults import Faults
from homeport.simulator.guest_protocol import GuestRuntime
from homeport.simulator.null_guest import NullGuestRuntime
from homeport.simulator.pki import Pki, ensure_pki
from homeport.simulator.proxmox_api.auth import Authenticator
from homeport.simulator.proxmox_api.context import ApiContext
from homeport.simulator.proxmox_api.server import ProxmoxApiServer
from homeport.simulator.pve import invariants
from homeport.simulator.pve.persistence import dump_world, load_world, read_state, write_state
from homeport.simulator.pve.seed import seed
from homeport.simulator.pve.world import World
from homeport.simulator.settings import ApiToken, SimulatorConfig

STATE_FILE = "pve-state.json"


class ProxmoxSimulator:
    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        runtime: GuestRuntime | None = None,
        clock: SimClock | None = None,
    ) -> None:
        """`clock` lets a guest runtime share simulated time (build it first, pass both)."""
        self.config = config or SimulatorConfig()
        self.clock = clock or SimClock(
            time_scale=self.config.time_scale, start=self.config.start_epoch
        )
        self.runtime: GuestRuntime = runtime if runtime is not None else NullGuestRuntime()
        self.faults = Faults(self.config.seed)
        self._world: World | None = None
        self._server: ProxmoxApiServer | None = None
        self._pki: Pki | None = None
        self._tokens: tuple[ApiToken, ...] = ()
        self._temp_dir: Path | None = None
        self._dirty = asyncio.Event()
        self._persister: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        state_dir = self._state_dir()
        self._pki = ensure_pki(self.config.pki_dir or state_dir / "pki")
        saved = read_state(state_dir / STATE_FILE) if self.config.state_dir else None
        clock = self.clock
        if saved:
            clock.resume_at(saved["clock"])
        world = World(
            config=self.config,
            clock=clock,
            runtime=self.runtime,
            faults=self.faults,
            archive_root=state_dir / "archives",
        )
        if saved:
            load_world(world, saved)
            sim_state = saved["simulator"]
        else:
            seed(world)
            sim_state = self._fresh_secrets(world)
        self._tokens = self.config.tokens or tuple(ApiToken(**t) for t in sim_state["tokens"])
        self._secrets = sim_state
        self._world = world
        self.faults.bind(world)
        world.on_change = self._dirty.set
        auth = Authenticator(
            self._tokens, self.config.users, bytes.fromhex(sim_state["secret"]), clock
        )
        fingerprints = self._pki.node_fingerprints(world.nodes)
        context = ApiContext(world, self.faults, self.config, auth, fingerprints)
        self._server = ProxmoxApiServer(context, self._pki.server_context())
        await self._server.start(self.config.host, self.config.port)
        world.start_loops()
        for vm in world.vms.values():
            if vm.running:
                world.guests.started(vm)
        if self.config.state_dir:
            self._persister = asyncio.get_running_loop().create_task(self._persist_loop())
            self._write_state()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        world = self._world
        if world is not None:
            await world.shutdown()
            for vm in world.vms.values():
                if vm.running:
                    await self.runtime.halt(vm.vmid)
        if self._persister is not None:
            self._persister.cancel()
            await asyncio.gather(self._persister, return_exceptions=True)
            self._write_state()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
        for _ in range(5):
            # Let transports that are closing (e.g. after a failed TLS handshake) finish.
            await asyncio.sleep(0)

    def _state_dir(self) -> Path:
        if self.config.state_dir is not None:
            self.config.state_dir.mkdir(parents=True, exist_ok=True)
            return self.config.state_dir
        self._temp_dir = Path(tempfile.mkdtemp(prefix="homeport-pve-"))
        return self._temp_dir

    def _fresh_secrets(self, world: World) -> dict[str, Any]:
        secret = str(uuid.UUID(int=world.rng.getrandbits(128), version=4))
        return {
            "tokens": [{"userid": "homeport@pve", "tokenid": "homeport", "secret": secret}],
            "secret": f"{world.rng.getrandbits(256):064x}",
        }

    async def _persist_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.config.persist_interval)
            self._write_state()

    def _write_state(self) -> None:
        if self._world is None or self.config.state_dir is None:
            return
        self._dirty.clear()
        data = dump_world(self._world)
        data["simulator"] = self._secrets
        write_state(self.config.state_dir / STATE_FILE, data)

    # --- what clients and tests need --------------------------------------------------

    @property
    def world(self) -> World:
        if self._world is None:
            raise RuntimeError("the simulator is not running")
        return self._world

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.port

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/api2/json"

    @property
    def ca_path(self) -> Path:
        if self._pki is None:
            raise RuntimeError("the simulator is not running")
        return self._pki.ca_cert

    @property
    def token(self) -> ApiToken:
        return self._tokens[0]

    def proxmoxer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `proxmoxer.ProxmoxAPI` (token auth, TLS verified)."""
        user, token_name = self.token.full_id.split("!")
        return {
            "host": self.host,
            "port": self.port,
            "user": user,
            "token_name": token_name,
            "token_value": self.token.secret,
            "verify_ssl": str(self.ca_path),
        }

    def endpoints(self) -> dict[str, Any]:
        """What a controller needs to reach this cluster (for endpoints.json)."""
        return {
            "proxmox": {
                "url": self.url,
                "host": self.host,
                "port": self.port,
                "ca": str(self.ca_path),
                "token_id": self.token.full_id,
                "token_secret": self.token.secret,
                "nodes": list(self.world.nodes),
            }
        }

    def endpoints_json(self) -> str:
        return json.dumps(self.endpoints(), indent=2)

    def check(self) -> list[str]:
        """Invariant violations of the simulated world (empty when sound)."""
        return invariants.check(self.world)
