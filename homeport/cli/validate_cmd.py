"""``homeport validate PATH...``: check manifests and report every problem with its line.

Wraps ``homeport.source.validate``; also used by the bare repository's pre-receive hook.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.source.limits import SourceLimits
from homeport.source.validate import validate_paths

_DEFAULTS = SourceLimits()


def validate(
    paths: list[Path] = typer.Argument(..., help="Manifest files or directories (any depth)."),
    output: OutputFormat = OUTPUT_OPTION,
    max_file_bytes: int = typer.Option(
        _DEFAULTS.max_file_bytes, min=1, help="Largest manifest file (git: homeport.maxFileBytes)."
    ),
    max_estate_bytes: int = typer.Option(
        _DEFAULTS.max_estate_bytes,
        min=1,
        help="All manifest files together (git: homeport.maxEstateBytes).",
    ),
    max_objects: int = typer.Option(
        _DEFAULTS.max_objects, min=1, help="Objects in the estate (git: homeport.maxObjects)."
    ),
) -> None:
    """Validate manifests: exit 0 when valid, 1 with one line per problem otherwise.

    The same files are read, by the same rules and limits, as by the pre-receive hook and
    the daemon (symbolic links are refused, never followed).

    Example: [bold]homeport validate manifests/[/bold]
    """
    limits = SourceLimits(max_file_bytes, max_estate_bytes, max_objects)
    result = validate_paths(paths, limits)
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data([error.as_json() for error in result.errors], output)
        raise typer.Exit(1 if result.errors else 0)
    if result.errors:
        err = console(stderr=True, wrap=False)
        for error in result.errors:
            err.print(error.render(), markup=False)
        err.print(f"{len(result.errors)} problem(s) in {result.files} file(s)", style="bold red")
        raise typer.Exit(1)
    counts = Counter(obj.kind for obj in result.objects)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no objects"
    console(wrap=False).print(
        f"valid: {len(result.objects)} objects in {result.files} file(s) ({summary})", markup=False
    )
