"""The ``homeport`` command: a typer app whose sub-commands live in sibling modules."""

from __future__ import annotations

import sys

import typer

from homeport import __version__
from homeport.cli.helpfmt import HelpGroup
from homeport.cli.output import console
from homeport.controller.config import ConfigError

app = typer.Typer(
    name="homeport",
    help="GitOps for Proxmox edge data centers: manifests in git, a daemon that converges them.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    cls=HelpGroup,
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


def _register() -> None:
    from homeport.cli import (
        audit_cmd,
        backup_cmd,
        demo,
        estate_cmd,
        logs_cmd,
        operate_cmd,
        plan_cmd,
        read_cmd,
        run_cmd,
        schema_cmd,
        sim_cmd,
        source_cmd,
        validate_cmd,
    )

    app.command()(validate_cmd.validate)
    app.command()(source_cmd.init)
    app.command()(run_cmd.run)
    app.command()(read_cmd.status)
    app.command()(read_cmd.get)
    app.command()(read_cmd.describe)
    app.command()(read_cmd.events)
    app.command()(logs_cmd.logs)
    app.command()(plan_cmd.plan)
    app.command()(source_cmd.approve)
    app.command()(operate_cmd.failover)
    app.command()(operate_cmd.failback)
    app.command()(operate_cmd.reconcile)
    app.command()(operate_cmd.suspend)
    app.command()(operate_cmd.resume)
    app.add_typer(sim_cmd.sim, name="sim")
    app.command()(demo.demo)
    app.command()(schema_cmd.schema)
    app.command()(schema_cmd.docs)
    app.command()(audit_cmd.audit)
    app.add_typer(estate_cmd.app, name="estate")
    app.add_typer(backup_cmd.backup_app, name="backup")
    app.command()(backup_cmd.restore)


_register()


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        # A command found its configuration unusable after startup (e.g. a token file it
        # reads when it connects): one line, the same as a config file error.
        console(stderr=True).print(f"error: {exc}", markup=False)
        sys.exit(2)
