"""``homeport plan``: print what would change; exit 0 nothing, 1 changes, 2 errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from homeport.cli.common import CONFIG_OPTION, open_store_readonly, settings_or_exit
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.cli.progress import reporting, say
from homeport.controller.clock import SystemClock
from homeport.controller.config import Settings
from homeport.controller.daemon import make_source
from homeport.controller.preview import IN_PROGRESS, PlanReport, desired_at, preview
from homeport.controller.store import Key
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.kinds import Resource
from homeport.source.errors import ManifestError
from homeport.source.git import GitError


def plan(
    revision: str = typer.Option(
        None,
        "--revision",
        "-r",
        help="Plan a commit of the source instead of the adopted revision.",
    ),
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show what would change, per object, without changing anything (like `argocd app diff`).

    Exit codes: 0 nothing to do, 1 changes pending, 2 errors.

    Example: [bold]homeport plan[/bold], [bold]homeport plan --revision HEAD~1 -o json[/bold]
    """
    settings = settings_or_exit(config)
    # The revision is read before any client connects: an unknown one is a usage error.
    wanted = _desired_or_exit(settings, revision) if revision else None
    store = open_store_readonly(settings)

    async def run() -> PlanReport:
        if wanted is not None and wanted[1]:
            return PlanReport(revision=revision, objects=[], errors=wanted[1])
        say("connecting to the estate")
        clients = await build_clients(settings)
        try:
            return await preview(
                store=store,
                reconcilers=build_reconcilers(settings),
                clients=clients,
                clock=SystemClock(),
                desired=None if wanted is None else wanted[0],
                revision=revision or "",
                progress=say,
            )
        finally:
            await close_clients(clients)

    try:
        with reporting("plan"):
            report = asyncio.run(run())
    finally:
        store.close()
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data(
            {
                "revision": report.revision,
                "objects": [o.as_json() for o in report.objects],
                "errors": [e.as_json() for e in report.errors],
            },
            output,
        )
        raise typer.Exit(report.exit_code)
    out = console()
    for error in report.errors:
        out.print(error.render(), markup=False, style="red")
    changes = [o for o in report.objects if o.actions or o.change in ("error", IN_PROGRESS)]
    for item in changes:
        marker = {"create": "+", "prune": "-", "update": "~", "error": "!", IN_PROGRESS: "…"}
        out.print(
            f"{marker.get(item.change, ' ')} {item.kind}/{item.name}"
            + (f"  ({item.reason})" if item.change in ("error", IN_PROGRESS) else ""),
            markup=False,
        )
        for action in item.actions:
            out.print(f"    {action}", markup=False)
    unchanged = len(report.objects) - len(changes)
    out.print(f"{len(changes)} object(s) to change, {unchanged} unchanged", markup=False)
    raise typer.Exit(report.exit_code)


def _desired_or_exit(
    settings: Settings, revision: str
) -> tuple[dict[Key, Resource], list[ManifestError]]:
    source = make_source(settings)
    try:
        return desired_at(source, revision)
    except GitError as exc:
        console(stderr=True).print(
            f"error: --revision {revision}: not a commit of {source.name} ({exc})", markup=False
        )
        raise typer.Exit(2) from None
