"""Applying a homeport-owned service's actions on a VM (``service.py`` plans them): the
unit and the 0600 EnvironmentFile, written only if still what was planned; restart; removal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeport.clients.errors import CommandFailed
from homeport.clients.secret import Secret
from homeport.clients.ssh import SSHPool
from homeport.clients.systemd import Systemd
from homeport.reconcilers.appfiles import sha256
from homeport.reconcilers.base import ClientAccess
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.service import ENV_MODE, InstallEnvFile, InstallUnit, RestartUnit


async def on_vm(ctx: ClientAccess, act: Callable[[SSHPool, Systemd], Awaitable[None]]) -> None:
    """Run ``act`` with the SSH pool and systemd; a command that failed on the VM is retried
    (the next plan sees what it left)."""
    ssh = ctx.clients.ssh
    systemd = ctx.clients.systemd
    try:
        await act(ssh, systemd)
    except CommandFailed as exc:
        raise TemporaryError(str(exc), reason="CommandFailed") from None


USERADD_NAME_IN_USE = 9
"""shadow's useradd: "username already in use"."""


async def add_system_user(ssh: SSHPool, host: str, user: str, *options: str) -> None:
    """``useradd --system [options] -- user``. A user created between the look and this
    action (two Apps on one VM plan it from the same look of a VM without it) is what was
    wanted: exit 9 is done, not a failure to retry."""
    argv = ["useradd", "--system", *options, "--", user]
    result = await ssh.run(host, argv, check=False)
    if result.exit_status not in (0, USERADD_NAME_IN_USE):
        raise CommandFailed(
            host, argv, result.exit_status, result.stderr.decode("utf-8", errors="replace")
        )


async def write_unit(ssh: SSHPool, systemd: Systemd, action: InstallUnit, text: str) -> None:
    """Install the unit ``text`` rendered right now, if it is still what was planned."""
    if sha256(text) != action.sha:
        raise TemporaryError("the manifest changed while planning; planning again", delay=0)
    await ssh.install_file(
        action.host, action.path, text.encode(), mode=0o644, owner="root", group="root"
    )
    await systemd.daemon_reload(action.host)


async def write_env_file(ssh: SSHPool, action: InstallEnvFile, content: bytes) -> None:
    """Install the env file (root only, 0600) if its content is still what was planned."""
    if sha256(content) != action.sha:
        raise TemporaryError("secrets changed while planning; planning again", delay=0)
    directory = action.path.rsplit("/", 1)[0]
    await ssh.run(action.host, ["install", "-d", "-m", "0700", directory])
    await ssh.install_file(
        action.host,
        action.path,
        Secret(content.decode()),
        mode=ENV_MODE,
        owner="root",
        group="root",
    )


async def restart_unit(systemd: Systemd, action: RestartUnit) -> None:
    if action.enable:
        await systemd.enable(action.host, action.unit)
    await systemd.reset_failed(action.host, action.unit)
    await systemd.restart(action.host, action.unit)


async def remove_unit(
    ssh: SSHPool, systemd: Systemd, host: str, unit: str, files: tuple[str, ...]
) -> None:
    """Disable and stop the unit, delete its files, and tell systemd. Idempotent: a run
    cut short after the files went (before the reload) is finished by the next one."""
    await systemd.disable(host, unit, missing_ok=True)
    await systemd.stop(host, unit, missing_ok=True)
    await ssh.run(host, ["rm", "-f", *files])
    await systemd.daemon_reload(host)
