"""Shared CLI output plumbing: the `-o` format option, JSON/YAML printing, consoles.

Every command prints through here so that `-o json|yaml` and colour handling (colours
only on a TTY) are the same everywhere. Scripts read what we print: `-o json` is ONE
JSON document (a stream that never ends — `--follow`, `--watch` — is JSON Lines), `-o
yaml` is one YAML document (a stream: documents separated by ``---``), and when standard
output is not a terminal nothing is folded or truncated, so grep and awk see whole lines.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console

# Wide enough that no table or line is ever folded when standard output is a pipe or a
# file: the reader is a program, and a program wants one record per line.
UNBOUNDED_WIDTH = 100_000


class OutputFormat(StrEnum):
    text = "text"
    wide = "wide"
    json = "json"
    yaml = "yaml"


class ListFormat(StrEnum):
    """Formats of the commands that list objects: the above plus ``name`` (``kind/name``
    per line, like ``kubectl get -o name``)."""

    text = "text"
    wide = "wide"
    json = "json"
    yaml = "yaml"
    name = "name"


DATA_FORMATS = ("json", "yaml")

OUTPUT_OPTION = typer.Option(
    OutputFormat.text, "--output", "-o", help="Output format: text, wide, json or yaml."
)
LIST_OUTPUT_OPTION = typer.Option(
    ListFormat.text,
    "--output",
    "-o",
    help="Output format: text, wide, json, yaml or name (kind/name per line).",
)
NO_HEADERS_OPTION = typer.Option(
    False, "--no-headers", help="Print tables without their header line (for scripts)."
)


def console(stderr: bool = False, *, wrap: bool | None = None) -> Console:
    """A rich console that colours only when writing to a terminal. Standard output folds
    long lines to its width on a terminal only; standard error never folds (``wrap=False``):
    an error is one line to read and grep, wherever the terminal or the temporary path
    happens to end. On a pipe nothing folds and tables keep their natural width."""
    stream = sys.stderr if stderr else sys.stdout
    # rich's own detection of a terminal (honours TTY_COMPATIBLE, FORCE_COLOR and friends)
    if not Console(file=stream).is_terminal:
        return Console(file=stream, highlight=False, soft_wrap=True, width=UNBOUNDED_WIDTH)
    fold = not stderr if wrap is None else wrap
    return Console(file=stream, highlight=False, soft_wrap=not fold, force_terminal=None)


def is_data(fmt: str) -> bool:
    return str(fmt) in DATA_FORMATS


def print_data(data: Any, fmt: OutputFormat | ListFormat | str) -> None:
    """Machine-readable output for scripts: one JSON or YAML document."""
    if str(fmt) == "yaml":
        sys.stdout.write(_yaml(data))
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_record(data: Any, fmt: OutputFormat | ListFormat | str) -> None:
    """One record of an endless stream: a JSON line, or a YAML document opened by ``---``."""
    if str(fmt) == "yaml":
        sys.stdout.write(_yaml(data, explicit_start=True))
    else:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def _yaml(data: Any, *, explicit_start: bool = False) -> str:
    # Imported here: a table or JSON needs no YAML library (the read commands start fast).
    import yaml

    return yaml.safe_dump(
        _plain(data), sort_keys=False, allow_unicode=True, explicit_start=explicit_start
    )


def _plain(data: Any) -> Any:
    """What ``json.dumps(default=str)`` would make of it, so YAML never meets a type it
    cannot represent (datetimes, paths, enums) and both formats carry the same values."""
    return json.loads(json.dumps(data, default=str))
