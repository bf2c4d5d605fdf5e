"""Benchmark: clone and start N VMs per node on the simulated Proxmox cluster, over HTTPS.

Everything runs in one process: the simulator on a background thread (its own event loop,
`SimulatorThread`) and an aiohttp client (lighter than httpx, so the figures are the
simulator's) doing what a controller does for each VM: `POST
clone` from the node's template, poll the task, `POST status/start`, poll the task, then
wait for the guest agent to report the VM's address. Prints wall times, request counts and
memory. Uses `NullGuestRuntime`; pass another runtime through `run()` to measure real guests.

    .venv/bin/python bench/sim_scale.py [--vms-per-node 100] [--time-scale 200] [--concurrency 48]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from homeport.simulator.settings import SimulatorConfig
from homeport.simulator.threaded import SimulatorThread


@dataclass
class Figures:
    requests: int = 0
    clone_done: list[float] = field(default_factory=list)
    start_done: list[float] = field(default_factory=list)
    agent_done: list[float] = field(default_factory=list)


class Driver:
    def __init__(
        self, client: aiohttp.ClientSession, base: str, figures: Figures, started: float
    ) -> None:
        self.client = client
        self.base = base
        self.figures = figures
        self.started = started

    async def call(self, method: str, path: str, **data: object) -> tuple[int, Any]:
        self.figures.requests += 1
        form = {k: str(v) for k, v in data.items()} or None
        async with self.client.request(method, self.base + path, data=form) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, (body or {}).get("data")

    async def task(self, node: str, upid: str) -> None:
        while True:
            _, status = await self.call("GET", f"/nodes/{node}/tasks/{upid}/status")
            if status["status"] == "stopped":
                if status["exitstatus"] != "OK":
                    raise RuntimeError(f"{upid}: {status['exitstatus']}")
                return
            await asyncio.sleep(0.02)

    async def vm(self, node: str, template: int, vmid: int) -> None:
        _, upid = await self.call(
            "POST", f"/nodes/{node}/qemu/{template}/clone", newid=vmid, name=f"vm{vmid}"
        )
        await self.task(node, upid)
        self.figures.clone_done.append(time.perf_counter() - self.started)
        _, upid = await self.call("POST", f"/nodes/{node}/qemu/{vmid}/status/start")
        await self.task(node, upid)
        self.figures.start_done.append(time.perf_counter() - self.started)
        agent = f"/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"
        while (await self.call("GET", agent))[0] != 200:  # noqa: ASYNC110 - polling a remote API
            await asyncio.sleep(0.02)
        self.figures.agent_done.append(time.perf_counter() - self.started)


async def drive(thread: SimulatorThread, vms_per_node: int, concurrency: int) -> Figures:
    sim = thread.sim
    figures = Figures()
    tls = ssl.create_default_context(cafile=str(sim.ca_path))
    connector = aiohttp.TCPConnector(ssl=tls, limit=concurrency)
    headers = {"Authorization": sim.token.header}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as client:
        driver = Driver(client, sim.url, figures, time.perf_counter())
        templates = {
            vm.node: vm.vmid
            for vm in thread.call(lambda: list(sim.world.vms.values()))
            if vm.is_template
        }
        gate = asyncio.Semaphore(concurrency)

        async def one(node: str, vmid: int) -> None:
            async with gate:
                await driver.vm(node, templates[node], vmid)

        jobs = [
            one(node, 1000 + n * 1000 + i)
            for n, node in enumerate(sorted(templates))
            for i in range(vms_per_node)
        ]
        await asyncio.gather(*jobs)
    return figures


def run(vms_per_node: int, time_scale: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as state:
        config = SimulatorConfig(time_scale=time_scale, state_dir=Path(state) / "state", seed=1)
        thread = SimulatorThread(config)
        thread.start()
        try:
            wall0 = time.perf_counter()
            figures = asyncio.run(drive(thread, vms_per_node, concurrency))
            wall = time.perf_counter() - wall0
            problems = thread.call(thread.sim.check)
            running = thread.call(
                lambda: sum(1 for vm in thread.sim.world.vms.values() if vm.running)
            )
        finally:
            thread.stop()
    total = len(figures.start_done)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"VMs cloned and started      : {total} ({vms_per_node} per node, 3 nodes), {running} running"
    )
    print(f"time scale / concurrency    : {time_scale:g}x / {concurrency}")
    print(f"all clones finished at      : {max(figures.clone_done):.2f} s")
    print(f"all VMs started at          : {max(figures.start_done):.2f} s")
    print(f"all guest agents up at      : {max(figures.agent_done):.2f} s")
    print(f"total wall time             : {wall:.2f} s")
    print(f"HTTPS requests              : {figures.requests} ({figures.requests / wall:.0f}/s)")
    print(f"peak RSS                    : {rss_mib:.0f} MiB")
    print(f"invariant violations        : {len(problems)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vms-per-node", type=int, default=100)
    parser.add_argument("--time-scale", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=48)
    args = parser.parse_args()
    run(args.vms_per_node, args.time_scale, args.concurrency)


if __name__ == "__main__":
    main()
