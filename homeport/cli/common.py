"""Options and helpers shared by the commands that need the config or the store."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from homeport.cli.output import console
from homeport.controller.config import ConfigError, Settings, config_path, load_settings
from homeport.controller.store import Store

CONFIG_OPTION = typer.Option(
    None,
    "--config",
    "-c",
    help="Config file (default: $HOMEPORT_CONFIG, then /etc/homeport/homeport.toml).",
    show_default=False,
)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config_path(config))
    except ConfigError as exc:
        console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


def open_store_readonly(settings: Settings) -> Store:
    try:
        return Store.open(settings.store.path, readonly=True)
    except FileNotFoundError as exc:
        console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


def operator_name() -> str:
    """Who runs the command, for the journal and approvals."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
