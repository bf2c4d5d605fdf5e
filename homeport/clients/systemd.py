"""systemd on a VM, over ``ssh.SSHPool``: unit state, lifecycle verbs, the journal's tail.

Used by the App reconciler (install unit, ``daemon_reload``, ``enable``, ``restart`` only on
change, ``show`` for drift and health) and the StandbyPair reconciler (start/stop the
standby's unit). Every ``systemctl`` call carries ``--no-pager --no-ask-password`` so
nothing waits for a terminal. ``show`` parses ``KEY=VALUE`` lines: ``--value`` with
several properties prints them in D-Bus order, not the order asked (systemd#4907).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

from homeport.clients.errors import CommandFailed
from homeport.clients.ssh import CommandResult, SSHPool

_UNIT = re.compile(r"^[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]*$")
SYSTEMCTL = ("systemctl", "--no-pager", "--no-ask-password")
DEFAULT_PROPERTIES = (
    "LoadState",
    "ActiveState",
    "SubState",
    "UnitFileState",
    "MainPID",
    "NRestarts",
    "ExecMainStatus",
    "Result",
    "NeedDaemonReload",
    "FragmentPath",
)


def check_unit(unit: str) -> str:
    """A unit name safe to put in argv (no option lookalikes, no shell characters)."""
    if not _UNIT.match(unit):
        raise ValueError(f"not a systemd unit name: {unit!r}")
    return unit


def parse_show(text: str) -> dict[str, str]:
    """``systemctl show`` output → {property: value} (values may contain ``=``)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    return values


class Systemd:
    """``systemctl`` and ``journalctl`` on VMs reached through the pool."""

    def __init__(self, ssh: SSHPool, *, timeout: float | None = None) -> None:
        self._ssh = ssh
        self._timeout = timeout

    async def show(
        self, host: str, unit: str, props: Sequence[str] = DEFAULT_PROPERTIES
    ) -> dict[str, str]:
        argv = [*SYSTEMCTL, "show", check_unit(unit)]
        if props:
            argv += ["-p", ",".join(props)]
        result = await self._ssh.run(host, argv, timeout=self._timeout, idempotent=True)
        return parse_show(result.text)

    async def active_state(self, host: str, unit: str) -> str:
        """``active``, ``inactive``, ``failed``, ``activating``, ... (``is-active``'s word)."""
        result = await self._systemctl(host, "is-active", unit, check=False, idempotent=True)
        return result.text.strip() or "unknown"

    async def is_active(self, host: str, unit: str) -> bool:
        return await self.active_state(host, unit) == "active"

    async def daemon_reload(self, host: str) -> None:
        await self._ssh.run(
            host, [*SYSTEMCTL, "daemon-reload"], timeout=self._timeout, idempotent=True
        )

    async def enable(self, host: str, unit: str) -> None:
        await self._systemctl(host, "enable", unit, idempotent=True)

    async def disable(self, host: str, unit: str, *, missing_ok: bool = False) -> None:
        """``missing_ok``: a unit whose file is already gone counts as disabled (systemd
        refuses it: "Unit file … does not exist"), as when a removal cut short after
        deleting the files runs again."""
        await self._unless_missing(host, "disable", unit, "does not exist", missing_ok)

    async def start(self, host: str, unit: str) -> None:
        await self._systemctl(host, "start", unit, idempotent=True)

    async def stop(self, host: str, unit: str, *, missing_ok: bool = False) -> None:
        """``missing_ok``: a unit systemd no longer knows ("not loaded") counts as stopped."""
        await self._unless_missing(host, "stop", unit, "not loaded", missing_ok)

    async def restart(self, host: str, unit: str) -> None:
        await self._systemctl(host, "restart", unit)

    async def reset_failed(self, host: str, unit: str) -> None:
        await self._systemctl(host, "reset-failed", unit, idempotent=True)

    async def journal_tail(self, host: str, unit: str, n: int = 50) -> list[str]:
        """The unit's last ``n`` journal messages (text only)."""
        argv = ["journalctl", "--no-pager", "-u", check_unit(unit), "-n", str(n), "-o", "cat"]
        result = await self._ssh.run(host, argv, timeout=self._timeout, idempotent=True)
        return result.text.splitlines()

    async def journal(self, host: str, unit: str, n: int, *, follow: bool) -> AsyncIterator[str]:
        """The unit's last ``n`` journal lines in journalctl's short format (time, host,
        process, message); with ``follow``, then each new line until the caller stops."""
        argv = ["journalctl", "--no-pager", "-u", check_unit(unit), "-n", str(n)]
        if follow:
            async for line in self._ssh.stream(host, [*argv, "-f"]):
                yield line
            return
        result = await self._ssh.run(host, argv, timeout=self._timeout, idempotent=True)
        for line in result.text.splitlines():
            yield line

    async def _unless_missing(
        self, host: str, verb: str, unit: str, missing: str, missing_ok: bool
    ) -> None:
        result = await self._systemctl(host, verb, unit, check=False, idempotent=True)
        stderr = result.stderr.decode(errors="replace")
        if result.ok or (missing_ok and missing in stderr):
            return
        raise CommandFailed(host, [*SYSTEMCTL, verb, unit], result.exit_status, stderr)

    async def _systemctl(
        self, host: str, verb: str, unit: str, *, check: bool = True, idempotent: bool = False
    ) -> CommandResult:
        argv = [*SYSTEMCTL, verb, check_unit(unit)]
        return await self._ssh.run(
            host, argv, timeout=self._timeout, check=check, idempotent=idempotent
        )
