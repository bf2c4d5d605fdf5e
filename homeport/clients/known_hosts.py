"""The known_hosts file homeport keeps for its VMs: pinned host keys, changed atomically.

``ssh.SSHPool`` connects with ``known_hosts=<this file>`` (strict: an unknown or changed
key is refused, never trusted on first use). The VM reconciler pins a new VM's key here
(``trust``) after reading it through a channel it already trusts (the Proxmox guest agent,
or keys it generated itself for cloud-init), and forgets it when the VM is destroyed.
Every change rewrites the file through a temp file, fsync and rename, under a lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import asyncssh

_LOCK = threading.Lock()


def host_pattern(host: str, port: int) -> str:
    """The known_hosts name of ``host:port`` (``[host]:port`` unless the port is 22)."""
    return host if port == 22 else f"[{host}]:{port}"


def normalise_key(public_key: str) -> str:
    """``"ssh-ed25519 AAAA..."`` (type and data, no comment); ``ValueError`` if not a key."""
    try:
        key = asyncssh.import_public_key(public_key.strip())
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ValueError(f"not an SSH public key: {exc}") from None
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


class KnownHostsFile:
    """One known_hosts file; other lines in it are kept byte for byte."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read: _Read | None = None
        """The file as last read, with what identifies that version of it (``_version``)."""

    def ensure(self) -> None:
        """Create the file (empty, 0600) if it does not exist yet."""
        if self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if not self.path.exists():
                self._write([])

    def pinned(self, host: str, port: int) -> list[str]:
        """Keys (``type data``) pinned for ``host:port``."""
        return list(self._current().pinned.get(host_pattern(host, port), ()))

    def loaded(self) -> KnownHostsMatch | asyncssh.SSHKnownHosts:
        """The file as asyncssh's ``known_hosts`` argument, read once per version of the
        file: every VM's connection checks the one file that pins every VM (asyncssh
        parsing all of it for each was an O(estate) cost per connection). A file of
        plain ``name key`` lines only (what homeport writes) is matched from its index,
        importing the keys of the host connected to only; any other line (a marker, a
        hashed or wildcard name) and asyncssh matches the whole file as it would read it."""
        read = self._current()
        return read.match if read.plain else read.hosts

    def _current(self) -> _Read:
        version = _version(self.path)
        read = self._read
        if read is not None and read.version == version and version is not None:
            return read
        text = self._text()
        pinned: dict[str, list[str]] = {}
        plain = True
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            fields = line.split()
            if len(fields) < 2 or stripped.startswith("@") or any(c in fields[0] for c in "|*?!"):
                plain = False  # a marker, a hashed or wildcard name: asyncssh's to match
            if len(fields) < 3 or stripped.startswith("@"):
                continue
            for name in fields[0].split(","):
                pinned.setdefault(name, []).append(_key_of(line))
        # Read before it was identified: a change meanwhile gives a newer version, and
        # the next call reads again rather than keeping what this one read.
        read = _Read(version, text, pinned, plain)
        self._read = read
        return read

    def trust(self, host: str, port: int, public_key: str, *, replace: bool = False) -> bool:
        """Pin ``public_key`` for ``host:port``; ``True`` if the file changed.

        A different key already pinned is kept and ``ValueError`` raised, unless
        ``replace`` (the VM was re-created and got a new key).
        """
        key = normalise_key(public_key)
        pattern = host_pattern(host, port)
        with self._locked():
            lines = self._lines()
            mine = [line for line in lines if _names(line, pattern)]
            if [_key_of(line) for line in mine] == [key]:
                return False
            if mine and not replace:
                raise ValueError(
                    f"{pattern} already has a different pinned host key; pass replace=True "
                    "only when the VM was re-created"
                )
            kept = [line for line in lines if not _names(line, pattern)]
            self._write([*kept, f"{pattern} {key}"])
            return True

    def forget(self, host: str, port: int) -> bool:
        """Remove every key pinned for ``host:port``; ``True`` if the file changed."""
        pattern = host_pattern(host, port)
        with self._locked():
            lines = self._lines()
            kept = [line for line in lines if not _names(line, pattern)]
            if len(kept) == len(lines):
                return False
            self._write(kept)
            return True

    def _lines(self) -> list[str]:
        return self._text().splitlines()

    def _text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def _write(self, lines: list[str]) -> None:
        text = "".join(f"{line}\n" for line in lines)
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # A thread lock for this process, an flock on a sidecar file for other processes.
        lock_path = self.path.with_name(self.path.name + ".lock")
        with _LOCK, open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


KnownHostsMatch = Callable[[str, str, int | None], tuple[list[Any], list[Any], list[Any]]]


@dataclass(frozen=True)
class _Read:
    version: tuple[int, int, int] | None
    text: str
    pinned: dict[str, list[str]]
    """Host name (as written, ``[host]:port``) → its keys (``type data``), in file order."""
    plain: bool
    """Only ``name key`` lines: matching by name is all asyncssh would do with it."""

    @cached_property
    def hosts(self) -> asyncssh.SSHKnownHosts:
        return asyncssh.import_known_hosts(self.text)

    def match(
        self, host: str, addr: str, port: int | None
    ) -> tuple[list[Any], list[Any], list[Any]]:
        """asyncssh's ``known_hosts`` callable: the keys pinned for the host connected to
        (by name or address, ``[name]:port`` first and then the bare name, as asyncssh
        matches a file); no CA and no revoked keys (a plain file has neither)."""
        for with_port in (True, False) if port not in (None, 22) else (False,):
            names = {
                host_pattern(name, port) if with_port and port else name
                for name in (host, addr)
                if name
            }
            found = [key for name in sorted(names) for key in self.pinned.get(name, ())]
            if found:
                return [_imported(key) for key in dict.fromkeys(found)], [], []
        return [], [], []


@functools.lru_cache(maxsize=8192)
def _imported(key: str) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(key)


def _version(path: Path) -> tuple[int, int, int] | None:
    """What changes whenever the file does: it is replaced (a new inode) by every write of
    homeport's; an edit in place changes its size or its nanosecond mtime."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _names(line: str, pattern: str) -> bool:
    fields = line.split()
    if len(fields) < 3 or line.lstrip().startswith(("#", "@")):
        return False
    return pattern in fields[0].split(",")


def _key_of(line: str) -> str:
    return " ".join(line.split()[1:3])


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
