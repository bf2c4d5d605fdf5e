"""``homeport plan``: print what would change; exit 0 nothing, 1 changes, 2 errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from homeport.cli.common import CONFIG_OPTION, open_store_readonly, settings_or_exit
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.cli.progress import reporting, say
from homeport.controller.clock import SystemClock
from homeport.controller.daemon import make_source
from homeport.controller.preview import PlanReport, desired_at, preview
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.source.errors import ManifestError


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
    store = open_store_readonly(settings)

    async def run() -> PlanReport:
        say("connecting to the estate")
        clients = await build_clients(settings)
        try:
            desired = None
            errors: list[ManifestError] = []
            sha = ""
            if revision:
                source = make_source(settings)
                sha = revision
                desired, errors = await asyncio.to_thread(desired_at, source, revision)
                if errors:
                    return PlanReport(revision=sha, objects=[], errors=errors)
            report = await preview(
                store=store,
                reconcilers=build_reconcilers(settings),
                clients=clients,
                clock=SystemClock(),
                desired=desired,
                revision=sha,
                progress=say,
            )
            return report
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
    changes = [o for o in report.objects if o.actions or o.change == "error"]
    for item in changes:
        marker = {"create": "+", "prune": "-", "update": "~", "error": "!"}.get(item.change, " ")
        out.print(
            f"{marker} {item.kind}/{item.name}"
            + (f"  ({item.reason})" if item.change == "error" else ""),
            markup=False,
        )
        for action in item.actions:
            out.print(f"    {action}", markup=False)
    unchanged = len(report.objects) - len(changes)
    out.print(f"{len(changes)} object(s) to change, {unchanged} unchanged", markup=False)
    raise typer.Exit(report.exit_code)
