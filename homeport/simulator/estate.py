"""A whole simulated estate on loopback: Proxmox VE + guests + tailnet + a real Caddy.

The Proxmox nodes also answer SSH (root, homeport's key) on their tailnet addresses
(``pve/node_shell.py``), their host keys pinned in the control plane's known_hosts.

``SimulatedEstate`` starts the parts that ``homeport sim up``, the demo, the tests and the
benchmarks share, and writes what a controller needs to reach them — ``homeport.toml``
(token files, CA, SSH key and known_hosts, secrets, git rewrites) and ``endpoints.json``
— into its state directory. Nothing in the controller imports this: it only reads the
config and talks to the sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh

from homeport.simulator.caddy_process import CaddyProcess, free_port, start_caddy
from homeport.simulator.guest.runtime import LoopbackGuestRuntime
from homeport.simulator.pve.node_shell import NodeSshd
from homeport.simulator.sample_apps import ensure_app_repo
from homeport.simulator.settings import EstateConfig, NodeSpec, SimulatorConfig
from homeport.simulator.simulator import ProxmoxSimulator
from homeport.simulator.tailscale.tailnet import Tailnet
from homeport.simulator.tomltext import render_toml

REPO_BASE_URL = "https://git.example.com/edge/"


class SimulatedEstate:
    def __init__(self, config: EstateConfig) -> None:
        self.config = config
        self.dir = config.state_dir.resolve()
        self.control = self.dir / "controlplane"
        self.tailnet: Tailnet | None = None
        self.guests: LoopbackGuestRuntime | None = None
        self.pve: ProxmoxSimulator | None = None
        self.caddy: CaddyProcess | None = None
        self.octet = 0
        self.http_port = 0
        self.https_port = 0
        self.node_sshds: list[NodeSshd] = []

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.octet = self._address_octet()
        clock = self._sim_now
        self.tailnet = Tailnet(
            state_dir=self.dir / "tailnet",
            seed=self.config.seed,
            clock=clock,
            api_token=self._tailnet_token(),
        )
        await self.tailnet.start()
        self.guests = LoopbackGuestRuntime(
            state_dir=self.dir / "guests",
            seed=self.config.seed,
            clock=clock,
            ssh_port=self.config.ssh_port,
            sleep=self._sim_sleep,
            tailnet=self.tailnet,
        )
        await self.guests.start()
        nodes = tuple(NodeSpec(f"pve{i + 1}") for i in range(self.config.nodes))
        self.pve = ProxmoxSimulator(
            SimulatorConfig(
                address_octet=self.octet,
                nodes=nodes,
                seed=self.config.seed,
                time_scale=self.config.time_scale,
                state_dir=self.dir / "pve",
                timings=self.config.timings,
                start_epoch=self.config.start_epoch,
            ),
            runtime=self.guests,
        )
        await self.pve.start()
        for index, node in enumerate(nodes):
            self.tailnet.register_node(node.name, self.node_address(index), tags=["tag:proxmox"])
        if self.config.caddy:
            self.caddy = await start_caddy(self.dir / "caddy")
            public = self.router_public_address
            self.http_port, self.https_port = free_port(public), free_port(public)
        self._write_controlplane()
        await self._start_node_sshds(nodes)

    async def _start_node_sshds(self, nodes: tuple[NodeSpec, ...]) -> None:
        """Each node's root shell on its tailnet address (key only, pinned in known_hosts)."""
        assert self.pve is not None
        authorized = (self.control / "ssh" / "id_ed25519.pub").read_text()
        for index, node in enumerate(nodes):
            sshd = NodeSshd(
                self.pve.world,
                node.name,
                self.dir / "nodes" / node.name,
                address=self.node_address(index),
                port=self.config.ssh_port,
                authorized=authorized,
            )
            await sshd.start()
            self.node_sshds.append(sshd)
        known_hosts = self.control / "known_hosts"
        lines = known_hosts.read_text().splitlines() if known_hosts.exists() else []
        for sshd in self.node_sshds:
            line = f"[{sshd.address}]:{sshd.port} {sshd.public_key()}"
            if line not in lines:
                lines.append(line)
        known_hosts.write_text("".join(f"{line}\n" for line in lines))
        known_hosts.chmod(0o600)

    async def stop(self) -> None:
        for sshd in self.node_sshds:
            await sshd.stop()
        self.node_sshds.clear()
        if self.caddy is not None:
            await self.caddy.stop()
        if self.pve is not None:
            await self.pve.stop()
        if self.guests is not None:
            await self.guests.stop()
        if self.tailnet is not None:
            await self.tailnet.stop()

    def check(self) -> list[str]:
        """Invariant violations of the simulated estate (empty when sound); tests run it at
        the end, as `homeport sim check` does for a running estate."""
        return self.pve.check() if self.pve is not None else []

    async def __aenter__(self) -> SimulatedEstate:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _sim_now(self) -> float:
        """Simulated time; the wall clock until the Proxmox world (and its clock) exists."""
        try:
            return self.pve.clock.now() if self.pve is not None else time.time()
        except RuntimeError:
            return time.time()

    async def _sim_sleep(self, seconds: float) -> None:
        if self.pve is not None:
            try:
                await self.pve.clock.sleep(seconds)
                return
            except RuntimeError:
                pass
        await asyncio.sleep(seconds / max(self.config.time_scale, 1e-9))

    def node_address(self, index: int) -> str:
        return f"127.{self.octet}.{200 + index}.1"

    @property
    def router_public_address(self) -> str:
        """The router's public listeners: an address of this estate's own, not 127.0.0.1.

        Caddy binds these ports only when the first route is written, seconds after they
        were picked; on 127.0.0.1 another process's outgoing connection could take the same
        port as its local port meanwhile (both draw from the ephemeral range), and Caddy's
        bind then failed with "address already in use" (two suites side by side)."""
        return f"127.{self.octet}.0.1"

    @property
    def router_tailnet_address(self) -> str:
        """The router VM's tailnet address: Caddy's listener for tailnet-only routes."""
        return f"127.{self.octet}.250.1"

    @property
    def router_port(self) -> int:
        """The port routes are served on: HTTPS, or plain HTTP with ``tls = "off"``."""
        return self.https_port if self.config.tls != "off" else self.http_port

    def _address_octet(self) -> int:
        """A 127.<octet>/16 no other estate on this machine uses (kept across restarts)."""
        saved = self.dir / "address-octet"
        if self.config.address_octet is not None:
            octet = self.config.address_octet
        elif saved.exists():
            octet = int(saved.read_text())
        else:
            octet = next(
                o
                for o in random.Random().sample(range(2, 250), 248)
                if _octet_free(o, self.config.ssh_port)
            )
        saved.write_text(f"{octet}\n")
        return octet

    def _tailnet_token(self) -> str:
        path = self.control / "tailscale-token"
        if path.exists():
            return path.read_text().strip()
        return "tskey-api-sim" + os.urandom(8).hex()

    # -- the control plane's files -----------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.dir / "homeport.toml"

    @property
    def repos(self) -> Path:
        return self.dir / "repos"

    def _write_controlplane(self) -> None:
        assert self.pve is not None and self.tailnet is not None
        control = self.control
        (control / "ssh").mkdir(parents=True, exist_ok=True)
        key = control / "ssh" / "id_ed25519"
        if not key.exists():
            private = asyncssh.generate_private_key("ssh-ed25519", comment="homeport@controlplane")
            private.write_private_key(str(key))
            private.write_public_key(f"{key}.pub")
            key.chmod(0o600)
        _secret_file(control / "proxmox-token", self.pve.token.secret)
        _secret_file(control / "tailscale-token", self.tailnet.api_token)
        secrets = control / "secrets"
        for app in self.config.apps:
            ensure_app_repo(self.repos, app)
            _secret_file(
                secrets / app / "database_url",
                f"postgres://{app}@db.internal/{app}?sslmode=require\n",
            )
            _secret_file(
                secrets / app / "production.env",
                f"SESSION_SECRET={os.urandom(16).hex()}\nFEATURE_FLAGS=stable\n",
            )
        sections: dict[str, dict[str, Any]] = {
            "store": {"path": str(control / "state.db")},
            "source": {
                "repo": str(control / "estate.git"),
                "branch": "main",
                "poll_interval": 10.0,
            },
            "controller": {
                "resync_interval": 30.0,
                "vmid_min": 1000,
                "vmid_max": 1999,
                "concurrency": 8,
            },
            "secrets": {"directory": str(secrets)},
            "proxmox": {
                "host": self.pve.host,
                "port": self.pve.port,
                "user": self.pve.token.userid,
                "token_name": self.pve.token.tokenid,
                "token_file": str(control / "proxmox-token"),
                "ca_file": str(self.pve.ca_path),
            },
            "ssh": {
                "user": "root",
                "port": self.config.ssh_port,
                "key_file": str(key),
                "known_hosts": str(control / "known_hosts"),
                "connect_timeout": 3.0,
            },
            "tailscale": {
                "api_url": self.tailnet.url,
                "tailnet": "-",
                "token_file": str(control / "tailscale-token"),
            },
            "git": {"url_rewrites": {REPO_BASE_URL: f"{self.repos}/"}},
            "coordination": {"lease_duration": 6.0, "renew_interval": 2.0},
            # Any free port: several estates (tests, a demo) may run at once.
            "web": {"listen": "127.0.0.1:0"},
        }
        if self.caddy is not None:
            sections["caddy"] = {
                "admin_url": self.caddy.admin_url,
                "server": "homeport",
                "https_listen": [f"{self.router_public_address}:{self.https_port}"],
                "http_listen": [f"{self.router_public_address}:{self.http_port}"],
                "tailnet_listen": [f"{self.router_tailnet_address}:{self.router_port}"],
                "tls": self.config.tls,
            }
        self.config_path.write_text(render_toml(sections))
        (self.dir / "endpoints.json").write_text(json.dumps(self.endpoints(), indent=2) + "\n")

    def endpoints(self) -> dict[str, Any]:
        assert self.pve is not None and self.tailnet is not None
        data: dict[str, Any] = {
            **self.pve.endpoints(),
            "tailscale": {
                "url": self.tailnet.url,
                "token_file": str(self.control / "tailscale-token"),
            },
            "ssh": {"port": self.config.ssh_port},
            "repos": str(self.repos),
            "config": str(self.config_path),
        }
        data["proxmox"].pop("token_secret", None)  # the secret lives in its 0600 file only
        if self.caddy is not None:
            scheme, port = ("https" if self.config.tls != "off" else "http"), self.router_port
            data["caddy"] = {
                "admin_url": self.caddy.admin_url,
                "http": f"http://{self.router_public_address}:{self.http_port}",
                "https": f"https://{self.router_public_address}:{self.https_port}",
                "public": f"{scheme}://{self.router_public_address}:{port}",
                "tailnet": f"{scheme}://{self.router_tailnet_address}:{port}",
                "ca": str(self.caddy.root_ca),
            }
        return data


def _octet_free(octet: int, port: int) -> bool:
    """Nobody listens on the first guest's or the first node's address of this octet."""
    for address in (f"127.{octet}.1.1", f"127.{octet}.200.1"):
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError:
                return False
    return True


def _secret_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(content)
    path.chmod(0o600)


def with_time_scale(config: EstateConfig, scale: float) -> EstateConfig:
    return replace(config, time_scale=scale)
