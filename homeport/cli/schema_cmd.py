"""``homeport schema`` and ``homeport docs``: write (or check) generated artefacts.

JSON Schemas and CRDs under ``crds/`` (``homeport.kinds.schema``) and the manifest
reference ``docs/manifests.md`` (``homeport.kinds.reference``), both from the models; the
StandbyPair's transition table in ``docs/failover.md`` beside it, from the pair's table
(``reconcilers/standbypair/transitions.py``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from homeport.cli.output import console
from homeport.kinds.reference import render_reference
from homeport.kinds.schema import rendered_files
from homeport.reconcilers.standbypair import with_table


def _stale(expected: dict[Path, str]) -> list[Path]:
    return [p for p, text in expected.items() if not p.exists() or p.read_text() != text]


def _write_or_check(expected: dict[Path, str], check: bool, regenerate: str) -> None:
    stale = _stale(expected)
    if check:
        if stale:
            err = console(stderr=True)
            for path in stale:
                err.print(f"{path}: stale or missing", markup=False)
            err.print(f"regenerate with: {regenerate}", markup=False)
            raise typer.Exit(1)
        console().print(f"up to date: {len(expected)} file(s)", markup=False)
        return
    for path in stale:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected[path])
        except OSError as exc:  # --out names a file, or a place that cannot be written
            console(stderr=True).print(
                f"error: cannot write {path}: {exc.strerror or exc} (check --out)", markup=False
            )
            raise typer.Exit(2) from None
    console().print(f"wrote {len(stale)} of {len(expected)} file(s)", markup=False)


def schema(
    out: Path = typer.Option(Path("crds"), "--out", help="Directory for the generated files."),
    check: bool = typer.Option(False, "--check", help="Only check that the files are fresh."),
) -> None:
    """Write a JSON Schema and a CustomResourceDefinition per kind, generated from the models.

    Example: [bold]homeport schema --out crds/[/bold]  (or [bold]--check[/bold] in CI)
    """
    expected = {out / name: text for name, text in rendered_files().items()}
    _write_or_check(expected, check, f"homeport schema --out {out}")


def docs(
    out: Path = typer.Option(
        Path("docs/manifests.md"), "--out", help="Where to write the manifest reference."
    ),
    check: bool = typer.Option(False, "--check", help="Only check that the file is fresh."),
) -> None:
    """Write the manifest reference (Markdown) generated from the models, and the
    StandbyPair's transition table in the failover.md beside it.

    Example: [bold]homeport docs --out docs/manifests.md[/bold]
    """
    expected = {out: render_reference()}
    failover = out.parent / "failover.md"
    if failover.exists():  # the user docs are there: their table is generated too
        try:
            expected[failover] = with_table(failover.read_text())
        except ValueError as exc:
            console(stderr=True).print(f"error: {failover}: {exc}", markup=False)
            raise typer.Exit(1) from None
    _write_or_check(expected, check, f"homeport docs --out {out}")
