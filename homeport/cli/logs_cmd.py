"""``homeport logs APP [-f]``: an App's journal, read on its VM over SSH.

The same SSH client the daemon uses (homeport's key, strict known_hosts: a VM whose host
key is not pinned is refused), running ``journalctl -u UNIT -n N`` (``-f`` to follow).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from homeport.cli.common import CONFIG_OPTION, open_store_readonly, settings_or_exit
from homeport.cli.completion import complete_app
from homeport.cli.output import console
from homeport.clients.errors import ClientError
from homeport.controller.config import Settings
from homeport.controller.wiring import build_clients, close_clients
from homeport.kinds import App
from homeport.reconcilers.appfiles import AppPaths


def logs(
    app: str = typer.Argument(
        ..., help="The App whose journal to show.", autocompletion=complete_app
    ),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing new lines (Ctrl-C ends)."
    ),
    lines: int = typer.Option(50, "--lines", "-n", min=0, help="How many past lines to show."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Show an App's journal (its systemd unit's log), read on its VM over SSH.

    Example: [bold]homeport logs shop-a -n 100[/bold], [bold]homeport logs shop-a -f[/bold]
    """
    settings = settings_or_exit(config)
    host, unit = _where(settings, app)
    try:
        asyncio.run(_print(settings, host, unit, lines, follow))
    except KeyboardInterrupt:
        pass
    except (ClientError, OSError) as exc:
        console(stderr=True).print(f"error: App/{app}: {exc}", markup=False)
        raise typer.Exit(1) from None


def _where(settings: Settings, name: str) -> tuple[str, str]:
    """The App's VM address and unit, from the store (what the daemon last saw)."""
    err = console(stderr=True)
    store = open_store_readonly(settings)
    try:
        obj = store.objects.get(("App", name))
        resource = obj.resource() if obj is not None else None
        if not isinstance(resource, App):
            err.print(f"error: App/{name} not found (homeport get apps lists them)", markup=False)
            raise typer.Exit(1)
        vm = store.objects.get(("VM", resource.spec.vm))
        address = vm.status.details.get("address") if vm is not None else None
    finally:
        store.close()
    if not address:
        err.print(
            f"error: App/{name}: its VM {resource.spec.vm} has no address yet "
            f"(homeport describe vm {resource.spec.vm} says why)",
            markup=False,
        )
        raise typer.Exit(1)
    return str(address), AppPaths.of(resource).unit_name


async def _print(settings: Settings, host: str, unit: str, lines: int, follow: bool) -> None:
    clients = await build_clients(settings)
    try:
        async for line in clients.systemd.journal(host, unit, lines, follow=follow):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    finally:
        await close_clients(clients)
