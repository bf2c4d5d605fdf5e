"""The control plane's credential files and their modes.

Every file the config names that holds a credential — the Proxmox and Tailscale API
tokens, homeport's SSH private key, etcd's client key and password — must be readable by
its owner only: ``wiring.build_clients`` refuses to start with one group- or
world-readable (one line naming the file and ``chmod 600 FILE``, exit 2), and
``homeport audit`` reports it (``audit/checks.py``: ``credential-file-readable``).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from homeport.controller.config import Settings

OTHERS = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True)
class CredentialFile:
    setting: str
    """The config key that names it, e.g. ``[proxmox] token_file``."""
    path: Path
    mode: int
    """Permission bits (``st_mode & 0o7777``)."""

    @property
    def exposed(self) -> bool:
        """Readable (or writable) by its group or by everybody."""
        return bool(self.mode & OTHERS)

    @property
    def problem(self) -> str:
        who = "every user" if self.mode & stat.S_IRWXO else "its group"
        return (
            f"{self.setting} {self.path} has mode {self.mode:04o}: readable by {who}; "
            f"run `chmod 600 {self.path}`"
        )


def named_credentials(settings: Settings) -> list[tuple[str, Path]]:
    """(setting, path) of every credential file the config names."""
    found = [
        ("[proxmox] token_file", settings.proxmox.token_file),
        ("[tailscale] token_file", settings.tailscale.token_file),
        ("[ssh] key_file", settings.ssh.key_file),
    ]
    coordination = settings.coordination
    if coordination.key_file is not None:
        found.append(("[coordination] key_file", coordination.key_file))
    if coordination.password_file is not None:
        found.append(("[coordination] password_file", coordination.password_file))
    return found


def credential_files(settings: Settings) -> list[CredentialFile]:
    """The credential files that exist, with their modes (a missing one is not judged
    here: the clients report it when they read it)."""
    files = []
    for setting, path in named_credentials(settings):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        files.append(CredentialFile(setting, path, stat.S_IMODE(mode)))
    return files


def exposed_credentials(settings: Settings) -> list[CredentialFile]:
    return [f for f in credential_files(settings) if f.exposed]
