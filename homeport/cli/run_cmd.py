"""``homeport run``: start the daemon in the foreground (systemd runs it like this)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from homeport.cli.common import CONFIG_OPTION, settings_or_exit
from homeport.cli.output import console
from homeport.controller.config import ConfigError
from homeport.controller.daemon import Daemon, install_signal_handlers
from homeport.controller.logs import configure_logging
from homeport.controller.memory import limit_arenas, tune_for_daemon
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.services.telemetry.hooks import Telemetry


def run(config: Path | None = CONFIG_OPTION) -> None:
    """Run the reconciling daemon until SIGTERM (drains running work, then exits).

    Example: [bold]homeport run --config /etc/homeport/homeport.toml[/bold]
    """
    limit_arenas()  # before any thread is made (controller/memory.py)
    settings = settings_or_exit(config)
    configure_logging(settings.telemetry.log_format)
    try:
        telemetry = Telemetry.from_settings(settings.telemetry)
    except ConfigError as exc:
        console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    if telemetry.scrape_url:
        logging.getLogger(__name__).info("serving metrics on %s", telemetry.scrape_url)

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        clients = await build_clients(settings, tracer=telemetry.client_tracer)
        try:
            daemon = Daemon(
                settings=settings,
                reconcilers=build_reconcilers(settings, on_probe=telemetry.observe_probe),
                clients=clients,
                telemetry=telemetry,
            )
            tune_for_daemon()  # this process is the daemon's alone
            await daemon.run(stop)
        finally:
            await close_clients(clients)

    try:
        asyncio.run(main())
    except ConfigError as exc:
        console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    finally:
        telemetry.shutdown()  # flushes the last spans and metrics
