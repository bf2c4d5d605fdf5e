"""``homeport estate shutdown|start|status``: the estate's power events (seed 003).

Runs the operation itself (``controller/power``), with clients built from the config like
``homeport plan``; a running daemon cooperates through the store. Running the same
command again after a crash resumes it. Exit codes: 0 done, 1 a layer failed, 2 errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer

from homeport.cli.common import (
    CONFIG_OPTION,
    open_store_readonly,
    read_settings_or_exit,
    settings_or_exit,
)
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.cli.progress import reporting, say
from homeport.controller.clock import SystemClock
from homeport.controller.config import Settings
from homeport.controller.power import EstatePower, PowerBusy, PowerError, PowerSettings
from homeport.controller.store import PowerOp, Store
from homeport.controller.wiring import build_clients, close_clients
from homeport.reconcilers.slots import ESTATE_HOLD

app = typer.Typer(
    name="estate",
    help="Estate power events: layered shutdown and start (user-facing → apps → core → infrastructure).",
    no_args_is_help=True,
)
TIMEOUT_OPTION = typer.Option(
    600.0, "--timeout", help="Seconds one layer may take to stop, or to start and become healthy."
)


def _run(
    settings: Settings,
    title: str,
    timeout: float,
    operation: Callable[[EstatePower], Awaitable[PowerOp]],
) -> PowerOp:
    if not settings.store.path.exists():
        console(stderr=True).print(
            f"error: no store at {settings.store.path} (has the daemon run?)"
        )
        raise typer.Exit(2)
    out = console(stderr=True)

    async def run() -> PowerOp:
        clients = await build_clients(settings)
        store = Store.open(settings.store.path)
        try:
            power = EstatePower(
                store=store,
                clients=clients,
                clock=SystemClock(),
                settings=PowerSettings(layer_timeout=timeout),
                ssh_port=settings.ssh.port,
                store_path=settings.store.path,
                say=say,
            )
            return await operation(power)
        finally:
            store.close()
            await close_clients(clients)

    try:
        with reporting(f"estate {title}"):
            return asyncio.run(run())
    except PowerBusy as exc:
        out.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    except PowerError as exc:
        out.print(f"failed: {exc}", markup=False)
        out.print("run the same command again to resume", markup=False)
        raise typer.Exit(1) from None


def _report(op: PowerOp, output: OutputFormat) -> None:
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data(op_json(op), output)
        return
    out = console()
    for layer, entry in sorted(op.progress.get("layers", {}).items(), reverse=op.op == "shutdown"):
        vms = ", ".join(f"{vm} {state}" for vm, state in entry.get("vms", {}).items())
        out.print(
            f"layer {layer} ({entry.get('name')}): {entry.get('seconds', 0):.1f}s  {vms}",
            markup=False,
        )
    out.print(f"{op.op} #{op.id}: {op.state}", markup=False)


def op_json(op: PowerOp) -> dict[str, Any]:
    return {
        "id": op.id,
        "op": op.op,
        "targetLayer": op.target_layer,
        "state": op.state,
        "startedAt": op.started_at,
        "finishedAt": op.finished_at,
        "layers": op.progress.get("layers", {}),
        "error": op.error,
    }


@app.command()
def shutdown(
    layer: int = typer.Option(
        1,
        "--layer",
        min=1,
        max=4,
        help="Lowest layer to stop (1 stops everything, 4 only user-facing).",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    timeout: float = TIMEOUT_OPTION,
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Stop the estate gracefully, layer by layer from user-facing down to [bold]--layer[/bold].

    What it stops is held from reconciling (no StandbyPair fails over) until
    [bold]homeport estate start[/bold]. Example: [bold]homeport estate shutdown --layer 3 -y[/bold]
    """
    settings = settings_or_exit(config)
    if not yes:
        typer.confirm(f"Shut down layers 4 to {layer} of the estate?", abort=True)
    op = _run(settings, "shutdown", timeout, lambda power: power.shutdown(layer))
    _report(op, output)


@app.command()
def start(
    timeout: float = TIMEOUT_OPTION,
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Start the estate layer by layer from infrastructure up, each layer healthy before the next.

    Releases what a shutdown held once its layer passed its health checks, and reports the
    time per layer. Example: [bold]homeport estate start[/bold]
    """
    settings = settings_or_exit(config)
    op = _run(settings, "start", timeout, lambda power: power.start())
    _report(op, output)


@app.command()
def status(config: Path | None = CONFIG_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Show the last power operations and what is held from reconciling.

    Example: [bold]homeport estate status[/bold]
    """
    store = open_store_readonly(read_settings_or_exit(config))
    try:
        ops = store.power.recent(5)
        held = (ESTATE_HOLD.get(store) or {}).get("held") or {}
    finally:
        store.close()
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data({"operations": [op_json(o) for o in ops], "held": held}, output)
        return
    out = console()
    for op in ops:
        out.print(
            f"{op.op} #{op.id}: {op.state} (started {op.started_at}){'  ' + op.error if op.error else ''}",
            markup=False,
        )
    for key, why in sorted(held.items()):
        out.print(f"held {key}: {why}", markup=False)
    if not ops and not held:
        out.print("no power operations yet", markup=False)
