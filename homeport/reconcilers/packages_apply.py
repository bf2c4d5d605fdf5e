"""Installing an App's or an Agent's apt packages on a VM (``packages.py`` plans it)."""

from __future__ import annotations

from homeport.clients.errors import CommandFailed
from homeport.clients.ssh import SSHPool
from homeport.reconcilers.errors import PermanentError
from homeport.reconcilers.packages import (
    INSTALL_TIMEOUT,
    InstallPackages,
    apt_install_argv,
    apt_update_argv,
    not_in_archive,
)


async def install_packages(ssh: SSHPool, action: InstallPackages) -> None:
    """Refresh apt's lists (a fresh cloud image has none), then install what is missing."""
    await ssh.run(action.host, apt_update_argv(), timeout=INSTALL_TIMEOUT)
    try:
        await ssh.run(action.host, apt_install_argv(action.specs), timeout=INSTALL_TIMEOUT)
    except CommandFailed as exc:
        missing = not_in_archive(exc.stderr)
        if missing is None:
            raise
        raise PermanentError(
            f"apt-get cannot install {' '.join(action.specs)} on {action.host}: {missing}",
            reason="PackageNotFound",
            fix="fix the name or version in spec.packages (`apt-cache policy NAME` on the "
            "VM lists the versions its archives offer)",
        ) from None
