"""Progress of long commands (``backup now``, ``restore``, ``estate``, ``plan``) on
standard error, so standard output stays one parseable document.

On a terminal: a rich spinner naming the current step, with each step also left as a line
above it. On a pipe or a file: one plain line per step, nothing else (no spinner frames,
no colour). Code deep in a command reports with :func:`say`; it is a no-op when no
command set up reporting (tests calling the functions directly, the daemon).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from rich.text import Text

from homeport.cli.output import console

_reporter: ContextVar[Callable[[str], None] | None] = ContextVar("progress", default=None)


def say(text: str) -> None:
    """Report one step of the running command."""
    report = _reporter.get()
    if report is not None:
        report(text)


@contextlib.contextmanager
def reporting(title: str) -> Iterator[Callable[[str], None]]:
    """Report the steps of ``title`` until the block ends (asyncio.run inside the block
    inherits the reporter: it copies the context)."""
    err = console(stderr=True)
    started = time.monotonic()
    if not err.is_terminal:

        def plain(text: str) -> None:
            err.print(f"{title}: {text}", markup=False, highlight=False)

        token = _reporter.set(plain)
        try:
            yield plain
        finally:
            _reporter.reset(token)
        return
    with err.status(f"{title}…", spinner="dots") as status:

        def live(text: str) -> None:
            err.print(Text.assemble((f"{time.monotonic() - started:6.1f}s  ", "dim"), text))
            status.update(f"{title}: {text}")

        token = _reporter.set(live)
        try:
            yield live
        finally:
            _reporter.reset(token)
