"""The effective sshd configuration of a guest, read from its disk like OpenSSH 9.6 does.

``sshd.py`` obeys it (``PermitRootLogin``, ``PubkeyAuthentication``, ``AuthorizedKeysFile``);
``commands/system.py`` prints it for ``sshd -T``. The first value of a keyword wins, except
for keywords that accumulate; ``Include`` globs are relative to ``/etc/ssh``.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shlex

from .rootfs import GuestDisk

ACCUMULATING = {"acceptenv", "hostkey", "include", "subsystem", "listenaddress", "port"}

DEFAULTS: tuple[tuple[str, str], ...] = (
    ("addressfamily", "any"),
    ("usepam", "no"),
    ("logingracetime", "120"),
    ("x11displayoffset", "10"),
    ("maxauthtries", "6"),
    ("maxsessions", "10"),
    ("clientaliveinterval", "0"),
    ("clientalivecountmax", "3"),
    ("permitrootlogin", "without-password"),
    ("ignorerhosts", "yes"),
    ("hostbasedauthentication", "no"),
    ("pubkeyauthentication", "yes"),
    ("kerberosauthentication", "no"),
    ("gssapiauthentication", "no"),
    ("passwordauthentication", "yes"),
    ("kbdinteractiveauthentication", "yes"),
    ("printmotd", "yes"),
    ("x11forwarding", "no"),
    ("permittunnel", "no"),
    ("allowtcpforwarding", "yes"),
    ("allowagentforwarding", "yes"),
    ("strictmodes", "yes"),
    ("usedns", "no"),
    ("compression", "yes"),
    ("authorizedkeysfile", ".ssh/authorized_keys .ssh/authorized_keys2"),
)

ALIASES = {"permitrootlogin": {"prohibit-password": "without-password"}}


class SshdConfig:
    def __init__(self, settings: dict[str, list[str]], port: int) -> None:
        self.settings = settings
        self.port = port

    def get(self, keyword: str) -> str:
        values = self.settings.get(keyword)
        if values:
            return values[0]
        return dict(DEFAULTS).get(keyword, "")

    def render(self) -> str:
        """``sshd -T`` output: one lowercase ``keyword value`` per line."""
        lines = [f"port {self.port}"]
        lines.append(f"listenaddress [::]:{self.port}")
        lines.append(f"listenaddress 0.0.0.0:{self.port}")
        for keyword, _ in DEFAULTS:
            lines.append(f"{keyword} {self.get(keyword)}")
        for keyword in ("subsystem", "acceptenv"):
            for value in self.settings.get(keyword, []):
                for word in value.split() if keyword == "acceptenv" else [value]:
                    lines.append(f"{keyword} {word}")
        lines.append("hostkey /etc/ssh/ssh_host_ed25519_key")
        return "\n".join(lines) + "\n"


def _read(disk: GuestDisk, gpath: str, settings: dict[str, list[str]], depth: int) -> None:
    if depth > 16:
        return
    for raw in disk.read_text(gpath).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        keyword, value = words[0].lower(), " ".join(words[1:])
        if keyword == "include":
            for pattern in words[1:]:
                _include(disk, pattern, settings, depth)
            continue
        if keyword == "match":
            break  # Match blocks apply to some connections only; none of ours
        value = ALIASES.get(keyword, {}).get(value, value)
        if keyword in ACCUMULATING:
            settings.setdefault(keyword, []).append(value)
        else:
            settings.setdefault(keyword, [value])


def _include(disk: GuestDisk, pattern: str, settings: dict[str, list[str]], depth: int) -> None:
    pattern = posixpath.join("/etc/ssh", pattern)
    directory, glob = posixpath.split(pattern)
    host_dir = disk.host(directory)
    if not host_dir.is_dir():
        return
    for name in sorted(p.name for p in host_dir.iterdir()):
        if fnmatch.fnmatch(name, glob):
            _read(disk, posixpath.join(directory, name), settings, depth + 1)


def load_sshd_config(disk: GuestDisk, port: int) -> SshdConfig:
    settings: dict[str, list[str]] = {}
    _read(disk, "/etc/ssh/sshd_config", settings, 0)
    return SshdConfig(settings, port)
