"""A daemon configuration with every credential in place and no Proxmox behind it (port 9
on loopback): enough for tests of how the daemon starts, refuses or stops."""

from __future__ import annotations

from pathlib import Path

import asyncssh

CONFIG = """
[store]
path = "state.db"
[source]
directory = "manifests"
[controller]
backoff_base = 0.2
[proxmox]
port = 9
token_file = "proxmox-token"
timeout = 1.0
[tailscale]
token_file = "tailscale-token"
[ssh]
key_file = "id_ed25519"
known_hosts = "known_hosts"
[secrets]
directory = "secrets"
"""


def write_daemon_config(folder: Path, *, extra: str = "") -> Path:
    """``extra``: more TOML sections (e.g. ``[telemetry]``) appended to the file."""
    (folder / "manifests").mkdir()
    (folder / "proxmox-token").write_text("00000000-0000-0000-0000-000000000000\n")
    (folder / "tailscale-token").write_text("tskey-api-test\n")
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(folder / "id_ed25519"))
    for credential in ("proxmox-token", "tailscale-token", "id_ed25519"):
        (folder / credential).chmod(0o600)  # homeport refuses credentials others can read
    (folder / "known_hosts").touch()
    path = folder / "homeport.toml"
    path.write_text(CONFIG + extra)
    return path
