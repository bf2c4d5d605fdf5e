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

# Each command's one-line help, as its docstring's first paragraph says it: what
# ``homeport --help`` and the shell's completion of a command name list, without importing
# every command (the simulator among them). tests/cli/test_help_table.py keeps it equal.
SUMMARIES = {
    "validate": "Validate manifests: exit 0 when valid, 1 with one line per problem otherwise.",
    "init": "Create the control plane's bare git repository with homeport's hooks.",
    "run": "Run the reconciling daemon until SIGTERM (drains running work, then exits).",
    "status": "Is everything fine, and if not, what exactly is wrong — in one screen.",
    "get": "List objects with their state, like `kubectl get`.",
    "describe": "Everything about one object: spec, conditions, details, recent events, journal.",
    "events": "Recent events (actions, readiness, warnings, failovers); `--follow` streams them.",
    "logs": "Show an App's journal (its systemd unit's log), read on its VM over SSH.",
    "plan": "Show what would change, per object, without changing anything (like `argocd app diff`).",
    "approve": "Approve one held thing: a revision (force-push, mass prune, empty revision, deleted branch) or the destruction of a VM that left git.",
    "failover": "Swap a pair's primary and standby now.",
    "failback": "Switch a pair back to its declared primary (a planned, zero-loss switchover).",
    "reconcile": "Ask the daemon to reconcile one object now (like `flux reconcile`).",
    "suspend": "Pause reconciliation of one object without a commit (until `homeport resume`).",
    "resume": "Resume reconciliation of an object paused with `homeport suspend`.",
    "sim": "The simulated estate: run it, inject faults, check its invariants.",
    "demo": "Run the whole story locally: simulated estate, git push, convergence, Caddy, failover.",
    "schema": "Write a JSON Schema and a CustomResourceDefinition per kind, generated from the models.",
    "docs": "Write the manifest reference (Markdown) generated from the models, and the StandbyPair's transition table in the failover.md beside it.",
    "audit": "Check the estate against its security creed: firewalls, SSH passwords, listeners, env file modes, secrets in git, TLS in the config.",
    "estate": "Estate power events: layered shutdown and start (user-facing → apps → core → infrastructure).",
    "backup": "Backups on demand (the scheduled ones are BackupPolicy jobs in Proxmox).",
    "restore": "Restore a VM from one of its archives: into a new VM, or over the VM itself.",
}

# The commands that run the simulator need its libraries: the ``sim`` extra.
EXTRAS = {"sim": "sim", "demo": "sim"}
# What each extra installs (pyproject.toml): a command whose extra misses one of them is
# listed as not installed, which ``--help`` finds out without importing anything.
EXTRA_MODULES = {"sim": ("aiohttp", "cryptography")}


class HomeportGroup(LazyGroup):
    places = COMMANDS
    summaries = SUMMARIES
    extras = EXTRAS
    extra_modules = EXTRA_MODULES


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
