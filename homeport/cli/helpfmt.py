"""How ``--help`` reads: prose re-flowed to the terminal, flags without a type.

Docstrings are hard-wrapped at 100 columns in the source; rich markup mode keeps single
newlines, so at 80 columns a sentence broke twice and at 200 it broke mid-line. Every
paragraph is joined into one line here and rich wraps it to the terminal. A paragraph
opened by ``\\b`` (click's "keep my line breaks") and list items stay as written.
Boolean flags take no value, so their ``<bool>`` type column is left empty.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

_KEEPS_ITS_LINE = re.compile(r"^\s*([-*•]|\d+[.)])\s")


def reflow(text: str) -> str:
    """Join the lines of each paragraph (blank-line separated) into one."""
    body, cut, rest = inspect.cleandoc(text).partition("\f")
    paragraphs = []
    for paragraph in body.split("\n\n"):
        if paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        joined: list[str] = []
        for line in paragraph.split("\n"):
            if joined and not _KEEPS_ITS_LINE.match(line):
                joined[-1] = f"{joined[-1]} {line.strip()}"
            else:
                joined.append(line.rstrip())
        paragraphs.append("\n".join(joined))
    return "\n\n".join(paragraphs) + cut + rest


def tidy(command: Any, *, children: bool = True) -> None:
    """Re-flow the help of ``command`` (and, with ``children``, of everything under it);
    blank the flags' type."""
    if command.help:
        command.help = reflow(command.help)
    for param in command.params:
        _untyped_flag(param)
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            _untyped_flag(option)
        return option

    command.get_help_option = help_option
    if children:
        for child in getattr(command, "commands", {}).values():
            tidy(child)


def _untyped_flag(param: Any) -> None:
    # Typed ``Any``: typer builds on its own vendored copy of click, not ``import click``.
    if getattr(param, "is_flag", False):
        # typer's rich help asks each option for its type; a flag has none to show.
        setattr(param, "display_type_rich", _no_type)  # noqa: B010


def _no_type(ctx: Any) -> None:
    return None
