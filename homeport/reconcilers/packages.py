"""The Debian packages an App or an Agent needs on its VM: observed with ``dpkg-query``, installed with
``apt-get`` (pinned as ``name=version`` when a version is given), never re-installed when
present at the wanted version.

A package dropped from ``spec.packages`` is left installed: other packages, another App on
the VM or the operator may depend on it, and apt's own autoremove is the tool that knows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from homeport.kinds.app import Package
from homeport.reconcilers.base import Action

DPKG_FORMAT = r"${Package}\t${Version}\t${db:Status-Status}\n"
LOCK_TIMEOUT_SECONDS = 120
"""How long apt waits for the dpkg lock (unattended-upgrades may hold it) before failing."""
INSTALL_TIMEOUT = 900.0
APT_ENV = "DEBIAN_FRONTEND=noninteractive"
"""A leading assignment: the login shell that runs the exec line puts it in apt's environment."""
# apt-get's answers that only a change of spec.packages can fix (exit 100 otherwise also
# means a held lock or a broken mirror, which pass).
_NOT_IN_ARCHIVE = ("E: Unable to locate package", "E: Version '", "E: Package '")


def dpkg_query_argv(names: Sequence[str]) -> list[str]:
    # --showformat=, not -f=: dpkg's option parser would keep the '=' as part of the format.
    # No '--': a validated package name never starts with '-'.
    return ["dpkg-query", "-W", f"--showformat={DPKG_FORMAT}", *names]


def parse_dpkg_query(text: str) -> dict[str, str]:
    """Installed packages and their versions; removed (``config-files``) or half-installed
    packages do not count as installed."""
    installed: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2] == "installed":
            installed[parts[0]] = parts[1]
    return installed


def missing_packages(wanted: Sequence[Package], installed: Mapping[str, str]) -> tuple[str, ...]:
    """apt-get arguments for what is missing or at another version than pinned, in order."""
    missing = []
    for package in wanted:
        have = installed.get(package.name)
        if have is None or (package.version is not None and have != package.version):
            missing.append(
                package.name if package.version is None else f"{package.name}={package.version}"
            )
    return tuple(missing)


def apt_update_argv() -> list[str]:
    return [APT_ENV, "apt-get", "-q", "-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT_SECONDS}", "update"]


def apt_install_argv(specs: Sequence[str]) -> list[str]:
    # --allow-downgrades: a pinned version is the desired state even when it is older than
    # the installed one (apt-get -y refuses to downgrade without it).
    return [
        *(APT_ENV, "apt-get", "install", "-y", "-q", "--no-install-recommends"),
        *("--allow-downgrades", "-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT_SECONDS}"),
        *specs,
    ]


def not_in_archive(stderr: str) -> str | None:
    """apt's error line when a package or version does not exist in the VM's archives."""
    for line in stderr.splitlines():
        if line.startswith(_NOT_IN_ARCHIVE):
            return line
    return None


@dataclass(frozen=True)
class InstallPackages(Action):
    host: str
    specs: tuple[str, ...]
    """apt-get arguments: ``name`` or ``name=version``."""
    verb = "install-packages"

    def describe(self) -> str:
        return "apt-get install " + " ".join(self.specs)
