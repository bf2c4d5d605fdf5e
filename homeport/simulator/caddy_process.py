"""The simulated estate's router: a real Caddy (Debian's ``caddy`` package) in a process.

Started with a bootstrap config holding only the ``admin`` block (``persist: false``) and
private XDG directories, exactly as homeport expects to find the router's Caddy: empty,
owned by nobody. Stopped through its admin API, or killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx

CADDY = shutil.which("caddy") or "/usr/bin/caddy"


EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000
_pick = random.SystemRandom()


def ephemeral_low() -> int:
    """The first port the kernel hands to outgoing connections (Linux: 32768)."""
    try:
        return int(EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on, for a listener the caller binds a moment later. Below the
    ephemeral range: a port the kernel picked (``bind(0)``) is one any outgoing connection
    on the machine may take as its own before the caller binds it."""
    low = ephemeral_low()
    for _ in range(100 if low > LOWEST else 0):
        port = _pick.randrange(LOWEST, low)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class CaddyProcess:
    process: asyncio.subprocess.Process
    admin_url: str
    directory: Path

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def root_ca(self) -> Path:
        """Caddy's local CA (for `tls internal`)."""
        return self.data_dir / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    def log(self) -> str:
        return (self.directory / "caddy.log").read_text(errors="replace")

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(timeout=2.0) as client:
                    await client.post(f"{self.admin_url}/stop")
            try:
                async with asyncio.timeout(5):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_caddy(directory: Path, *, admin_port: int | None = None) -> CaddyProcess:
    directory.mkdir(parents=True, exist_ok=True)
    admin = f"127.0.0.1:{admin_port or free_port()}"
    config = directory / "bootstrap.json"
    config.write_text(json.dumps({"admin": {"listen": admin, "config": {"persist": False}}}))
    env = {
        **os.environ,
        "HOME": str(directory),
        "XDG_CONFIG_HOME": str(directory / "config"),
        "XDG_DATA_HOME": str(directory / "data"),
    }
    with (directory / "caddy.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            CADDY,
            "run",
            "--config",
            str(config),
            stdout=log,
            stderr=log,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
        )
    caddy = CaddyProcess(process, f"http://{admin}", directory)
    try:
        await _wait_ready(caddy)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return caddy


async def _wait_ready(caddy: CaddyProcess) -> None:
    async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client, asyncio.timeout(15):
        while True:
            if caddy.process.returncode is not None:
                raise RuntimeError(f"caddy exited early:\n{caddy.log()}")
            try:
                response = await client.get(f"{caddy.admin_url}/config/")
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.02)
