"""The ``homeport`` command: a typer app whose sub-commands live in sibling modules.

Each command's module is imported only when that command is used (``cli/lazy.py``):
``homeport status`` loads the read side, ``homeport run`` the daemon, and only ``sim``
and ``demo`` the simulator.
"""

from __future__ import annotations

import sys

import typer

from homeport import __version__
from homeport.cli.lazy import LazyGroup

# Every command, in the order ``homeport --help`` lists them, and where it lives: a typer
# function, or a ``typer.Typer`` for a group of sub-commands.
COMMANDS = {
    "validate": "homeport.cli.validate_cmd:validate",
    "init": "homeport.cli.source_cmd:init",
    "run": "homeport.cli.run_cmd:run",
    "status": "homeport.cli.read_cmd:status",
    "get": "homeport.cli.read_cmd:get",
    "describe": "homeport.cli.read_cmd:describe",
    "events": "homeport.cli.read_cmd:events",
    "logs": "homeport.cli.logs_cmd:logs",
    "plan": "homeport.cli.plan_cmd:plan",
    "approve": "homeport.cli.source_cmd:approve",
    "failover": "homeport.cli.operate_cmd:failover",
    "failback": "homeport.cli.operate_cmd:failback",
    "reconcile": "homeport.cli.operate_cmd:reconcile",
    "suspend": "homeport.cli.operate_cmd:suspend",
    "resume": "homeport.cli.operate_cmd:resume",
    "sim": "homeport.cli.sim_cmd:sim",
    "demo": "homeport.cli.demo:demo",
    "schema": "homeport.cli.schema_cmd:schema",
    "docs": "homeport.cli.schema_cmd:docs",
    "audit": "homeport.cli.audit_cmd:audit",
    "estate": "homeport.cli.estate_cmd:app",
    "backup": "homeport.cli.backup_cmd:backup_app",
    "restore": "homeport.cli.backup_cmd:restore",
}


# The commands that run the simulator need its libraries: the ``sim`` extra.
EXTRAS = {"sim": "sim", "demo": "sim"}


class HomeportGroup(LazyGroup):
    places = COMMANDS
    extras = EXTRAS


app = typer.Typer(
    name="homeport",
    help="GitOps for Proxmox edge data centers: manifests in git, a daemon that converges them.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    cls=HomeportGroup,
    # `-h` as well as `--help`, on every command (click passes it down to sub-contexts).
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"homeport {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """GitOps for Proxmox edge data centers."""


def main() -> None:
    try:
        app()
    except Exception as exc:
        # Imported here: ``--version`` and the commands that read no config skip it.
        from homeport.cli.output import console
        from homeport.controller.config import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        # A command found its configuration unusable after startup (e.g. a token file it
        # reads when it connects): one line, the same as a config file error.
        console(stderr=True).print(f"error: {exc}", markup=False)
        sys.exit(2)
