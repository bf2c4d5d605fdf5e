"""``homeport audit``: report every observable deviation from the security creed.

Exit codes: 0 nothing found, 1 findings, 2 errors (config, store, or any check that could
not run because a client failed: Proxmox down, a refused token, a VM unreachable). The
audit fails closed: a gate (cron, CI) never goes green when it could not look;
``--allow-skipped`` lists such checks as skipped instead (the exit code then follows the
findings alone). The daemon runs the same checks periodically (``[audit] interval``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from homeport.cli.common import CONFIG_OPTION, open_store_readonly, settings_or_exit
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.clients.errors import ClientError
from homeport.controller.wiring import build_clients, close_clients
from homeport.services.audit import AuditReport, run_audit


def audit(
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
    allow_skipped: bool = typer.Option(
        False,
        "--allow-skipped",
        help="Exit 0/1 by the findings even when checks could not run (they are listed).",
    ),
) -> None:
    """Check the estate against its security creed: firewalls, SSH passwords, listeners,
    env file modes, secrets in git, TLS in the config.

    Exit codes: 0 clean, 1 findings, 2 errors — including any check that could not run
    (Proxmox down, a refused token), unless --allow-skipped.
    Example: [bold]homeport audit -o json[/bold]
    """
    settings = settings_or_exit(config)
    store = open_store_readonly(settings)

    async def run() -> AuditReport:
        # A credential file others can read is a finding here, not a refusal to look.
        clients = await build_clients(settings, check_modes=False)
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
    code = _exit_code(report, allow_skipped=allow_skipped)
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
    _print_failed(report, allow_skipped=allow_skipped)
    skipped = f", {len(report.skipped)} skipped (-o wide lists them)" if report.skipped else ""
    failed = f", {len(report.failed)} check(s) could not run" if report.failed else ""
    out.print(f"{len(report.findings) or 'no'} finding(s){skipped}{failed}", markup=False)
    raise typer.Exit(code)


def _exit_code(report: AuditReport, *, allow_skipped: bool) -> int:
    if report.failed and not allow_skipped:
        return 2
    return 1 if report.findings else 0


def _print_failed(report: AuditReport, *, allow_skipped: bool) -> None:
    if not report.failed:
        return
    err = console(stderr=True)
    label = "skipped (--allow-skipped)" if allow_skipped else "error: could not check"
    for note in report.failed:
        err.print(f"{label} {note}", markup=False)
    if not allow_skipped:
        err.print(
            "error: the audit is incomplete: fix what stopped the checks above (or pass "
            "--allow-skipped to judge only what could be checked)",
            markup=False,
        )
