"""The benchmark's simulated world: the estate started in its own process (or on the
daemon's event loop with ``--no-sim-process``) and the questions the driver asks it
("does the change show yet?").

Only the simulator's process imports this module (and the driver, for ``--no-sim-process``):
the driver's process is the daemon's, whose peak memory ``bench/converge.py`` reports with
the simulator excluded, so the simulator's code must not be loaded there either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import urllib.request
from collections.abc import AsyncIterator, Callable
from multiprocessing.connection import Connection
from pathlib import Path

from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.guest.envfile import parse_environment_file
from homeport.simulator.settings import EstateConfig


def app_env_has(estate: SimulatedEstate, index: int, level: str) -> bool:
    assert estate.pve is not None and estate.guests is not None
    vm = next(v for v in estate.pve.world.vms.values() if v.name == f"vm-{index:04d}")
    env = estate.guests.guest(vm.vmid).disk.read_text(f"/etc/homeport/apps/app-{index:04d}.env")
    # Read as systemd reads an EnvironmentFile (values are quoted by its rules).
    return parse_environment_file(env).get("LOG_LEVEL") == level


def vm_memory_is(estate: SimulatedEstate, name: str, memory: int) -> bool:
    assert estate.pve is not None
    vm = next(v for v in estate.pve.world.vms.values() if v.name == name)
    return str(vm.conf.get("memory")) == str(memory) and vm.running


def route_host_is(estate: SimulatedEstate, index: int, host: str) -> bool:
    """Does Caddy run App ``index``'s route for ``host`` (its admin API, read directly)?"""
    assert estate.caddy is not None
    url = f"{estate.caddy.admin_url}/id/homeport-route-app-{index:04d}"
    try:
        # No proxy from the environment: the admin API is on loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=10) as answer:
            route = json.load(answer)
    except OSError:
        return False
    return any(host in (matcher.get("host") or []) for matcher in route.get("match") or [])


QUERIES: dict[str, Callable[..., bool]] = {
    "app_env_has": app_env_has,
    "vm_memory_is": vm_memory_is,
    "route_host_is": route_host_is,
}


def ask(estate: SimulatedEstate, query: str, *args: object) -> bool:
    return QUERIES[query](estate, *args)


def run_process(config: EstateConfig, conn: Connection) -> None:
    """The child process: run the estate, answer world queries, stop when told (or orphaned)."""
    # Ctrl-C reaches the whole process group: the parent decides when the estate stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve(config, conn))


async def _serve(config: EstateConfig, conn: Connection) -> None:
    estate = SimulatedEstate(config)
    await estate.start()
    try:
        conn.send(str(estate.config_path))
        while True:
            try:
                query, *args = await asyncio.to_thread(conn.recv)
            except EOFError:  # the bench process is gone
                return
            if query == "stop":
                return
            conn.send(ask(estate, query, *args))
    finally:
        await estate.stop()


@contextlib.asynccontextmanager
async def in_process(config: EstateConfig) -> AsyncIterator[tuple[Path, SimulatedEstate]]:
    """The estate on this event loop (``--no-sim-process``)."""
    estate = SimulatedEstate(config)
    await estate.start()
    try:
        yield estate.config_path, estate
    finally:
        await estate.stop()
