"""``homeport estate shutdown|start|status``: the estate's power events (seed 003).

The command writes a typed request (``PowerRequest`` in ``reconcilers/slots.py``) into the
``Estate/power`` object's request slot and pokes the daemon, whose engine runs it layer by
layer (``reconcilers/estate``: observe, pure plan, journaled act under the leader's
fencing token). When no daemon answers, the command runs that same engine itself on just
that object and the StandbyPairs it wakes for their final sync (``controller/oneshot.py``).
It waits for the answer and shows each step. A request still open (its command died, the
daemon restarted) is taken up again by running the same command: finished layers are
skipped and every VM is looked at first. Exit codes: 0 done, 1 a layer failed, 2 errors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

from homeport.cli.common import (
    CONFIG_OPTION,
    open_store_readonly,
    operator_name,
    read_settings_or_exit,
    settings_or_exit,
)
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.cli.progress import reporting, say
from homeport.controller.clock import SystemClock
from homeport.controller.config import Settings
from homeport.controller.control import send_request
from homeport.controller.oneshot import Settled, reconcile_until
from homeport.controller.store import Store
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.reconcilers.estate import KIND, NAME, is_open
from homeport.reconcilers.slots import (
    ESTATE_HOLD,
    ESTATE_POWER_HISTORY,
    ESTATE_POWER_REQUEST,
    PowerRequest,
)
from homeport.services.ha.planes import operator_writes

app = typer.Typer(
    name="estate",
    help="Estate power events: layered shutdown and start (user-facing → apps → core → infrastructure).",
    no_args_is_help=True,
)
TIMEOUT_OPTION = typer.Option(
    600.0, "--timeout", help="Seconds one layer may take to stop, or to start and become healthy."
)
KEY = (KIND, NAME)
IN_PROCESS = ("Estate", "StandbyPair")
"""The reconcilers a command without a daemon runs: the request's, and the pairs' (their
final sync before a shutdown)."""


class CommandError(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _run(settings: Settings, op: str, target: int, timeout: float) -> PowerRequest:
    out = console(stderr=True)
    try:
        with reporting(f"estate {op}"):
            request = _submit(settings, op, target, timeout)
    except CommandError as exc:
        out.print(f"error: {exc}", markup=False)
        raise typer.Exit(exc.code) from None
    if request["state"] != "done":
        out.print(f"failed: {request.get('message', request['state'])}", markup=False)
        out.print("run the same command again to resume", markup=False)
        raise typer.Exit(1)
    return request


def _submit(settings: Settings, op: str, target: int, timeout: float) -> PowerRequest:
    """Write the request (or take up the same one left open) and see it answered: by the
    daemon when it answers its socket, else by the same engine run here."""
    if not settings.store.path.exists():
        raise CommandError(f"no store at {settings.store.path} (has the daemon run?)")
    store = Store.open(settings.store.path)
    try:
        request = _request(store, settings, op, target, timeout)
    finally:
        store.close()
    shown: dict[str, Any] = {"journal": _last_journal(settings), "layers": set()}

    def settled(store: Store) -> bool:
        current = ESTATE_POWER_REQUEST.get(store, NAME)
        if current is None or current["id"] != request["id"]:
            raise CommandError(f"{op} #{request['id']} was superseded; see homeport estate status")
        _progress(store, current, shown)
        return not is_open(current)

    woke = send_request(settings.store.path, {"op": "reconcile", "kind": KIND, "name": NAME})
    if not woke and settings.coordination.backend != "etcd":
        say("no daemon answers: running the request here")
        asyncio.run(_in_process(settings, settled))
    layers = 5  # four layers, and the final answer
    deadline = time.monotonic() + timeout * layers + 60
    while not _read(settings, settled):
        if time.monotonic() > deadline:
            raise CommandError(
                f"{op} #{request['id']} is not answered in time; see homeport events", 1
            )
        time.sleep(0.2)
    answer = _read(settings, lambda s: ESTATE_POWER_REQUEST.get(s, NAME))
    assert answer is not None
    return answer


def _request(
    store: Store, settings: Settings, op: str, target: int, timeout: float
) -> PowerRequest:
    current = ESTATE_POWER_REQUEST.get(store, NAME)
    if (
        current is not None
        and is_open(current)
        and (current["op"], current["target"]) == (op, target)
    ):
        say(f"resuming {op} #{current['id']} (started {current['at']})")
        return current
    history = ESTATE_POWER_HISTORY.get(store, NAME) or {"operations": []}
    ids = [o["id"] for o in history["operations"]] + ([current["id"]] if current else [])
    at = datetime.now(UTC).isoformat()
    request: PowerRequest = {
        "id": max(ids, default=0) + 1,
        "op": op,
        "target": target,
        "at": at,
        "by": operator_name(),
        "state": "requested",
        "timeout": timeout,
        "layers": {},
    }
    with operator_writes(store, settings):
        if current is not None and is_open(current):
            # The operator changed course (a start while a shutdown is unfinished): the
            # open one is recorded as superseded; the new one starts from the world as is.
            old: PowerRequest = {**current, "state": "superseded", "finishedAt": at}
            kept = [o for o in history["operations"] if o["id"] != old["id"]]
            ESTATE_POWER_HISTORY.set(store, NAME, {"operations": [*kept, old]}, now=at)
            say(f"{current['op']} #{current['id']} left unfinished is superseded")
        ESTATE_POWER_REQUEST.set(store, NAME, request, now=at)
    say(f"requested {op} #{request['id']}")
    return request


def _last_journal(settings: Settings) -> int:
    entries = _read(settings, lambda s: s.journal.for_object(KIND, NAME, limit=1))
    return entries[-1].id if entries else 0


def _progress(store: Store, request: PowerRequest, shown: dict[str, Any]) -> None:
    """Say each layer as it starts and ends, and each step the engine journals."""
    for step in store.journal.for_object(KIND, NAME, limit=50):
        if step.id > shown["journal"]:
            shown["journal"] = step.id
            if step.verb in ("estate-stop", "estate-start"):
                say(step.description)
    for layer, entry in (request.get("layers") or {}).items():
        if (layer, "start") not in shown["layers"] and entry.get("startedAt"):
            shown["layers"].add((layer, "start"))
            say(
                f"layer {layer} ({entry.get('name')}): {', '.join(entry.get('vms') or {}) or 'no VM'}"
            )
        if (layer, "done") not in shown["layers"] and entry.get("finishedAt"):
            shown["layers"].add((layer, "done"))
            say(f"layer {layer} ({entry.get('name')}): done in {entry.get('seconds', 0):.1f}s")


async def _in_process(settings: Settings, settled: Settled) -> None:
    clients = await build_clients(settings)
    store = Store.open(settings.store.path)
    try:
        every = build_reconcilers(settings)
        outcome = await reconcile_until(
            settings=settings,
            store=store,
            reconcilers={kind: every[kind] for kind in IN_PROCESS},
            clients=clients,
            clock=SystemClock(),
            key=KEY,
            settled=settled,
            holder=f"cli:{operator_name()}",
        )
        if outcome is not None and not settled(store):
            raise CommandError(f"Estate/power is {outcome.result}: {outcome.message}", 1)
    finally:
        store.close()
        await close_clients(clients)


T = TypeVar("T")


def _read(settings: Settings, look: Callable[[Store], T]) -> T:
    store = Store.open(settings.store.path)
    try:
        return look(store)
    finally:
        store.close()


def _report(request: PowerRequest, output: OutputFormat) -> None:
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data(op_json(request), output)
        return
    out = console()
    layers = request.get("layers") or {}
    for layer, entry in sorted(layers.items(), reverse=request["op"] == "shutdown"):
        vms = ", ".join(f"{vm} {state}" for vm, state in (entry.get("vms") or {}).items())
        out.print(
            f"layer {layer} ({entry.get('name')}): {entry.get('seconds', 0):.1f}s  {vms}",
            markup=False,
        )
    out.print(f"{request['op']} #{request['id']}: {request['state']}", markup=False)


def op_json(request: PowerRequest) -> dict[str, Any]:
    failed = request["state"] == "failed"
    return {
        "id": request["id"],
        "op": request["op"],
        "targetLayer": request["target"] if request["op"] == "shutdown" else 4,
        "state": request["state"],
        "startedAt": request["at"],
        "finishedAt": request.get("finishedAt", ""),
        "layers": {
            n: {k: v for k, v in entry.items() if k not in ("tasks", "pairsHeld")}
            for n, entry in (request.get("layers") or {}).items()
        },
        "error": request.get("message", "") if failed else "",
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
    _report(_run(settings, "shutdown", layer, timeout), output)


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
    _report(_run(settings, "start", 1, timeout), output)


@app.command()
def status(config: Path | None = CONFIG_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Show the last power operations and what is held from reconciling.

    Example: [bold]homeport estate status[/bold]
    """
    store = open_store_readonly(read_settings_or_exit(config))
    try:
        history = ESTATE_POWER_HISTORY.get(store, NAME) or {"operations": []}
        current = ESTATE_POWER_REQUEST.get(store, NAME)
        held = (ESTATE_HOLD.get(store) or {}).get("held") or {}
    finally:
        store.close()
    ops = {o["id"]: o for o in history["operations"]}
    if current is not None:
        ops[current["id"]] = current
    recent = [ops[i] for i in sorted(ops, reverse=True)[:5]]
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data({"operations": [op_json(o) for o in recent], "held": held}, output)
        return
    out = console()
    for op in recent:
        error = op.get("message", "") if op["state"] == "failed" else ""
        out.print(
            f"{op['op']} #{op['id']}: {op['state']} (started {op['at']}){'  ' + error if error else ''}",
            markup=False,
        )
    for key, why in sorted(held.items()):
        out.print(f"held {key}: {why}", markup=False)
    if not recent and not held:
        out.print("no power operations yet", markup=False)
