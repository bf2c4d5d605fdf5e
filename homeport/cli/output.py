"""Shared CLI output plumbing: the `-o` format option, JSON/YAML printing, consoles.

Every command prints through here so that `-o json|yaml` and colour handling (colours
only on a TTY) are the same everywhere.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Any

import typer
import yaml
from rich.console import Console


class OutputFormat(StrEnum):
    text = "text"
    wide = "wide"
    json = "json"
    yaml = "yaml"


OUTPUT_OPTION = typer.Option(
    OutputFormat.text, "--output", "-o", help="Output format: text, wide, json or yaml."
)


def console(stderr: bool = False, *, wrap: bool | None = None) -> Console:
    """A rich console that colours only when writing to a terminal. Standard output folds
    long lines to its width; standard error never does (``wrap=False``): an error is one
    line to read and grep, wherever the terminal or the temporary path happens to end."""
    stream = sys.stderr if stderr else sys.stdout
    fold = not stderr if wrap is None else wrap
    return Console(file=stream, highlight=False, soft_wrap=not fold, force_terminal=None)


def print_data(data: Any, fmt: OutputFormat) -> None:
    """Machine-readable output for scripts."""
    if fmt is OutputFormat.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
