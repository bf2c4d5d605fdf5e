"""``homeport audit``: report every observable deviation from the security creed.

Exit codes: 0 nothing found, 1 findings, 2 errors (config, store, Proxmox unreachable).
The daemon runs the same checks periodically (``[audit] interval``) as conditions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from homeport.cli.common import CONFIG_OPTION, open_store_readonly, settings_or_exit
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.clients.errors import ClientError
from homeport.controller.audit import AuditReport, run_audit
from homeport.controller.wiring import build_clients, close_clients


def audit(
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Check the estate against its security creed: firewalls, SSH passwords, listeners,
    env file modes, secrets in git, TLS in the config.

    Exit codes: 0 clean, 1 findings, 2 errors. Example: [bold]homeport audit -o json[/bold]
    """
    settings = settings_or_exit(config)
    store = open_store_readonly(settings)

    async def run() -> AuditReport:
        clients = await build_clients(settings)
        try:
            return await run_audit(settings, clients, store)
        finally:
            await close_clients(clients)

    try:
        report = asyncio.run(run())
    except ClientError as exc:
        console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    finally:
        store.close()
    code = 1 if report.findings else 0
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data(report.as_json(), output)
        raise typer.Exit(code)
    out = console()
    for finding in report.findings:
        out.print(
            f"✗ {finding.check}  {finding.kind}/{finding.name}: {finding.message}", markup=False
        )
        out.print(f"    fix: {finding.fix}", markup=False, style="dim")
    for note in report.skipped if output is OutputFormat.wide else ():
        out.print(f"- skipped {note}", markup=False, style="dim")
    skipped = f", {len(report.skipped)} skipped (-o wide lists them)" if report.skipped else ""
    out.print(f"{len(report.findings) or 'no'} finding(s){skipped}", markup=False)
    raise typer.Exit(code)
