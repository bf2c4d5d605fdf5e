"""The guest's Debian package state: an archive the simulated apt knows (a few real
Ubuntu 24.04 packages and versions) and dpkg's status database, kept where dpkg keeps it
(``/var/lib/dpkg/status``, deb822 paragraphs) so it survives reboots like the real one.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.simulator.guest.rootfs import GuestDisk

STATUS = "/var/lib/dpkg/status"
LISTS_DIR = "/var/lib/apt/lists"
LISTS_MARKER = f"{LISTS_DIR}/archive.ubuntu.com_ubuntu_dists_noble_InRelease"
ARCHITECTURE = "amd64"

ARCHIVE: dict[str, tuple[str, ...]] = {
    # name: versions the archives offer, oldest first; apt's candidate is the last.
    "curl": ("8.5.0-2ubuntu10", "8.5.0-2ubuntu10.6"),
    "ca-certificates": ("20240203",),
    "libpq5": ("16.2-1ubuntu4", "16.9-0ubuntu0.24.04.1"),
    "python3-venv": ("3.12.3-0ubuntu2",),
    "build-essential": ("12.10ubuntu1",),
    "prometheus-node-exporter": ("1.7.0-1ubuntu0.3",),
    "ffmpeg": ("7:6.1.1-3ubuntu5",),
    "redis-server": ("5:7.0.15-1build2", "5:7.0.15-1ubuntu0.24.04.1"),
    "redis-tools": ("5:7.0.15-1build2", "5:7.0.15-1ubuntu0.24.04.1"),
    "nginx": ("1.24.0-2ubuntu7", "1.24.0-2ubuntu7.3"),
    # A GPU node's packages (NVIDIA's userspace tools from the restricted archive, a model
    # server from a vendor repository in the VM's apt sources); simulated versions.
    "nvidia-utils-550-server": ("550.144.03-0ubuntu0.24.04.1", "550.163.01-0ubuntu0.24.04.1"),
    "llama.cpp": ("0.0.4719-1", "0.0.5318-1"),
}
PROGRAMS: dict[str, tuple[str, ...]] = {
    # Executables a package installs; a unit that runs one needs its package installed
    # (systemd fails it with 203/EXEC otherwise). Only the packages a packaged service of
    # the example estate runs are listed: other tests' units run programs nobody installs.
    "nvidia-utils-550-server": ("/usr/bin/nvidia-smi",),
    "llama.cpp": ("/usr/bin/llama-server", "/usr/bin/llama-cli"),
}


def packaged_program(path: str) -> bool:
    """Whether ``path`` is an executable some simulated package installs."""
    return any(path in programs for programs in PROGRAMS.values())


# dpkg-query's one-letter states (man dpkg-query, "Package states").
_STATE_ABBREV = {
    "not-installed": "n",
    "config-files": "c",
    "half-installed": "H",
    "unpacked": "U",
    "half-configured": "F",
    "triggers-awaited": "W",
    "triggers-pending": "t",
    "installed": "i",
}


@dataclass(frozen=True)
class InstalledPackage:
    name: str
    version: str
    status: str = "install ok installed"
    architecture: str = ARCHITECTURE

    def fields(self) -> dict[str, str]:
        want, eflag, state = self.status.split()
        return {
            "Package": self.name,
            "binary:Package": self.name,
            "Version": self.version,
            "Status": self.status,
            "Architecture": self.architecture,
            "db:Status-Want": want,
            "db:Status-Eflag": eflag,
            "db:Status-Status": state,
            "db:Status-Abbrev": want[0] + _STATE_ABBREV[state] + (" " if eflag == "ok" else "R"),
        }

    def paragraph(self) -> str:
        return (
            f"Package: {self.name}\nStatus: {self.status}\nArchitecture: {self.architecture}\n"
            f"Version: {self.version}\n"
        )


def read_status(disk: GuestDisk) -> dict[str, InstalledPackage]:
    packages: dict[str, InstalledPackage] = {}
    for block in disk.read_text(STATUS).split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != " "
        )
        if "Package" in fields:
            packages[fields["Package"]] = InstalledPackage(
                fields["Package"],
                fields.get("Version", ""),
                fields.get("Status", "install ok installed"),
                fields.get("Architecture", ARCHITECTURE),
            )
    return packages


def write_status(disk: GuestDisk, packages: dict[str, InstalledPackage]) -> None:
    text = "\n".join(packages[name].paragraph() for name in sorted(packages))
    disk.write_file(STATUS, text.encode())
