"""``homeport run``: start the daemon in the foreground (systemd runs it like this)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homeport.cli.common import CONFIG_OPTION, settings_or_exit
from homeport.controller.daemon import Daemon, install_signal_handlers
from homeport.controller.logs import configure_logging
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients


def run(config: Path | None = CONFIG_OPTION) -> None:
    """Run the reconciling daemon until SIGTERM (drains running work, then exits).

    Example: [bold]homeport run --config /etc/homeport/homeport.toml[/bold]
    """
    settings = settings_or_exit(config)
    configure_logging(settings.telemetry.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        clients = await build_clients(settings)
        try:
            daemon = Daemon(
                settings=settings, reconcilers=build_reconcilers(settings), clients=clients
            )
            await daemon.run(stop)
        finally:
            await close_clients(clients)

    asyncio.run(main())
