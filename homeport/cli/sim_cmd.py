"""``homeport sim``: run the simulated estate, and break it on purpose.

``sim up`` runs Proxmox VE + guests + tailnet + a real Caddy in the foreground and writes
``DIR/homeport.toml`` and ``DIR/endpoints.json``. ``sim fault`` and ``sim check`` talk to
the simulator's control endpoint over HTTPS (TLS verified against its CA), like any client.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import typer

from homeport.cli.output import console
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.settings import EstateConfig


class CaddyTLS(StrEnum):
    """How the simulated router's Caddy serves: HTTPS from its local CA, or plain HTTP."""

    internal = "internal"
    off = "off"


sim = typer.Typer(
    help="The simulated estate: run it, inject faults, check its invariants.", no_args_is_help=True
)

GUEST_FAULTS = {
    "hang_vm",
    "crash_vm",
    "resume_vm",
    "refuse_ssh",
    "hang_app",
    "fail_app",
    "heal_app",
    "fill_disk",
    "set_reachable",
}
STATE_OPTION = typer.Option(
    Path(".demo"), "--state", help="The simulated estate's state directory."
)


@sim.command("up")
def up(
    state: Path = STATE_OPTION,
    nodes: int = typer.Option(3, help="Proxmox nodes."),
    seed: int = typer.Option(0, help="Seed of every random choice (replayable runs)."),
    time_scale: float = typer.Option(
        1.0, "--time-scale", help="Simulated seconds per wall second."
    ),
    tls: CaddyTLS = typer.Option(
        CaddyTLS.internal, help="Caddy: 'internal' (HTTPS, local CA) or 'off' (plain HTTP)."
    ),
) -> None:
    """Run the simulated estate in the foreground until Ctrl-C (state survives a restart).

    Example: [bold]homeport sim up --state /tmp/estate --time-scale 10[/bold], then
    [bold]HOMEPORT_CONFIG=/tmp/estate/homeport.toml homeport run[/bold] in another terminal.
    """
    config = EstateConfig(
        state_dir=state, nodes=nodes, seed=seed, time_scale=time_scale, tls=tls.value
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        estate = SimulatedEstate(config)
        await estate.start()
        try:
            out = console()
            out.print(
                f"simulated estate up: {nodes} nodes, seed {seed}, time scale {time_scale:g}",
                markup=False,
            )
            out.print(f"controller config: {estate.config_path}", markup=False)
            out.print(json.dumps(estate.endpoints(), indent=2), markup=False)
            out.print("Ctrl-C to stop", markup=False)
            await stop.wait()
        finally:
            await estate.stop()

    asyncio.run(main())


def _endpoints(state: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((state / "endpoints.json").read_text()))
    except FileNotFoundError:
        console(stderr=True).print(
            f"error: {state}/endpoints.json not found: is `homeport sim up --state {state}` running?",
            markup=False,
        )
        raise typer.Exit(2) from None


# A node fault answers once the cluster counts the node offline: at time scale 1 that is
# corosync's 10 simulated seconds, so the fault call may wait longer than a plain request.
FAULT_TIMEOUT = httpx.Timeout(10, read=120)


def _client(state: Path, timeout: httpx.Timeout = httpx.Timeout(10)) -> httpx.Client:
    endpoints = _endpoints(state)["proxmox"]
    secret = (state / "controlplane" / "proxmox-token").read_text().strip()
    return httpx.Client(
        base_url=endpoints["url"].removesuffix("/api2/json"),
        verify=ssl.create_default_context(cafile=endpoints["ca"]),
        headers={"Authorization": f"PVEAPIToken={endpoints['token_id']}={secret}"},
        timeout=timeout,
        trust_env=False,
    )


def _call(
    state: Path,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    timeout: httpx.Timeout = httpx.Timeout(10),
) -> httpx.Response:
    """One request to the control endpoint; an estate that does not answer is one line."""
    with _client(state, timeout) as client:
        try:
            if method == "GET":
                return client.get(path)
            return client.post(path, json=body or {})
        except httpx.TransportError as exc:
            console(stderr=True).print(
                f"error: the simulated estate in {state} does not answer ({exc}): "
                f"is `homeport sim up --state {state}` running?",
                markup=False,
            )
            raise typer.Exit(2) from None


def _vmid(state: Path, vm: str) -> int:
    if vm.isdigit():
        return int(vm)
    resources = _call(state, "GET", "/api2/json/cluster/resources?type=vm").json()["data"]
    found = [r["vmid"] for r in resources if r.get("name") == vm and not r.get("template")]
    if not found:
        console(stderr=True).print(f"error: no VM named {vm!r}", markup=False)
        raise typer.Exit(1)
    return int(found[0])


@sim.command("fault")
def fault(
    name: str = typer.Argument(
        ...,
        help="crash_node, partition_node, recover_node, api_error, disk_full, "
        "crash_vm, hang_vm, hang_app, fail_app, heal_app, refuse_ssh, ...",
    ),
    vm: str = typer.Option(None, "--vm", help="VM name or vmid (guest faults)."),
    node: str = typer.Option(None, "--node", help="Node (node faults)."),
    app: str = typer.Option(None, "--app", help="App name (app faults)."),
    args: str = typer.Option("{}", "--args", help="More keyword arguments as JSON."),
    state: Path = STATE_OPTION,
) -> None:
    """Inject a fault into a running simulated estate; answers once it is in effect (a
    crashed or partitioned node is then offline in the cluster).

    Example: [bold]homeport sim fault crash_vm --vm shop-a[/bold],
    [bold]homeport sim fault crash_node --node pve2[/bold],
    [bold]homeport sim fault fail_app --vm shop-a --app shop-a --args '{"status": 500}'[/bold]
    """
    extra: dict[str, Any] = json.loads(args)
    if name in GUEST_FAULTS:
        if vm is None:
            raise typer.BadParameter("guest faults need --vm")
        if app is not None:
            extra["unit"] = f"homeport-{app}.service"
        path = f"/_sim/guests/{_vmid(state, vm)}/{name}"
    else:
        if node is not None:
            extra["node"] = node
        path = f"/_sim/faults/{name}"
    response = _call(state, "POST", path, extra, timeout=FAULT_TIMEOUT)
    if response.status_code != 200:
        if response.status_code == 501:
            why = f"no fault named {name!r}; `homeport sim fault --help` lists them"
        else:
            try:
                why = str(response.json().get("message") or response.text).strip()
            except ValueError:
                why = response.text.strip()
        console(stderr=True).print(
            f"error: fault {name!r} refused ({response.status_code}): {why}", markup=False
        )
        raise typer.Exit(1)
    console().print(f"injected {name} {json.dumps(response.json().get('data'))}", markup=False)


@sim.command("check")
def check(state: Path = STATE_OPTION) -> None:
    """Check the simulated world's invariants (no VM on two nodes, no lock without a task, ...).

    Example: [bold]homeport sim check --state .demo[/bold]
    """
    violations = _call(state, "GET", "/_sim/check").json()["data"]
    if violations:
        for violation in violations:
            console(stderr=True).print(violation, markup=False)
        raise typer.Exit(1)
    console().print("no invariant violated", markup=False)
