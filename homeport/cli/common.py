"""Options and helpers shared by the commands that need the config or the store."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from homeport.cli.output import console
from homeport.controller.config import (
    ConfigError,
    ReadSettings,
    Settings,
    config_path,
    load_read_settings,
    load_settings,
)
from homeport.controller.store import Store

CONFIG_OPTION = typer.Option(
    None,
    "--config",
    "-c",
    help="Config file (default: $HOMEPORT_CONFIG, then /etc/homeport/homeport.toml).",
    show_default=False,
)


Loaded = TypeVar("Loaded", Settings, ReadSettings)


def settings_or_exit(config: Path | None) -> Settings:
    """The whole config, validated: for the commands that act (and ``run``)."""
    return _loaded_or_exit(load_settings, config)


def read_settings_or_exit(config: Path | None) -> ReadSettings:
    """The sections a read command uses, validated alone (``load_read_settings``)."""
    return _loaded_or_exit(load_read_settings, config)


def _loaded_or_exit(load: Callable[[Path], Loaded], config: Path | None) -> Loaded:
    try:
        return load(config_path(config))
    except ConfigError as exc:
        console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


def open_store_readonly(settings: Settings | ReadSettings) -> Store:
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
