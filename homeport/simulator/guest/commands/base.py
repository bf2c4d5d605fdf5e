"""What every simulated command gets and returns.

``commands/__init__.py`` parses the exec line and calls a handler with an
:class:`ExecContext` (the guest, the logged-in account, the working directory, stdin);
handlers return :class:`Completed` (exit status, stdout, stderr) in the real tool's format.
"""

from __future__ import annotations

import errno
import getopt
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from homeport.simulator.guest.rootfs import Account

if TYPE_CHECKING:
    from homeport.simulator.guest.guest import SimulatedGuest


@dataclass(frozen=True)
class Completed:
    rc: int = 0
    stdout: bytes = b""
    stderr: bytes = b""

    @classmethod
    def out(cls, text: str | bytes, rc: int = 0) -> Completed:
        return cls(rc, text.encode() if isinstance(text, str) else text, b"")

    @classmethod
    def err(cls, rc: int, text: str) -> Completed:
        return cls(rc, b"", text.encode())


async def _no_stdin() -> bytes:
    return b""


@dataclass
class ExecContext:
    guest: SimulatedGuest
    account: Account
    cwd: str
    stdin: Callable[[], Awaitable[bytes]] = _no_stdin
    env: dict[str, str] = field(default_factory=dict)
    stream: Callable[[bytes], bool] | None = None
    """Write output now, for a command that follows (``journalctl -f``); False once the
    reader has gone. None: the caller takes the output at the end only."""

    def host(self, path: str, *, follow_last: bool = True) -> Path:
        return self.guest.disk.host(path, cwd=self.cwd, follow_last=follow_last)


class Output:
    """Accumulates stdout/stderr and the worst exit status, like a coreutils main()."""

    def __init__(self) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.rc = 0

    def print(self, text: str) -> None:
        self.stdout.append(text)

    def error(self, text: str, rc: int = 1) -> None:
        self.stderr.append(text if text.endswith("\n") else text + "\n")
        self.rc = max(self.rc, rc)

    def done(self) -> Completed:
        return Completed(self.rc, "".join(self.stdout).encode(), "".join(self.stderr).encode())


Handler = Callable[[ExecContext, list[str]], Awaitable[Completed]]


def strerror(exc: OSError) -> str:
    return exc.strerror or os.strerror(exc.errno or errno.EIO)


def quote_shell(name: str) -> str:
    """coreutils' ``quoteaf`` for plain names: ``'name'``."""
    return "'" + name.replace("'", "'\\''") + "'"


def quote_locale(name: str) -> str:
    """coreutils' ``quote`` in a UTF-8 locale (Ubuntu's C.UTF-8): curly single quotes."""
    return f"\u2018{name}\u2019"


def parse_options(
    program: str, args: list[str], short: str, long: list[str]
) -> tuple[list[tuple[str, str]], list[str]] | Completed:
    """GNU getopt, answering a bad option the way coreutils does."""
    try:
        return getopt.gnu_getopt(args, short, long)
    except getopt.GetoptError as exc:
        if exc.opt and len(exc.opt) == 1:
            message = f"{program}: invalid option -- '{exc.opt}'"
        else:
            message = f"{program}: unrecognized option '--{exc.opt}'"
        return Completed.err(1, f"{message}\nTry '{program} --help' for more information.\n")


def missing_operand(program: str) -> Completed:
    return Completed.err(
        1, f"{program}: missing operand\nTry '{program} --help' for more information.\n"
    )
