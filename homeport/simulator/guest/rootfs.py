"""A guest's disk: a real directory tree standing in for the VM's root filesystem.

Everything that runs "inside" a guest — exec commands (``commands/``), the SFTP server
(``sftp.py``), cloud-init (``cloudinit.py``), simulated systemd (``systemd.py``) — reaches
files only through :class:`GuestDisk`, which maps guest paths (``/srv/apps/x``) to host
paths under ``<state>/guests/<vmid>/rootfs`` and follows symlinks *inside* that tree, so an
absolute link such as ``current -> /srv/apps/x/releases/abc`` never escapes to the host.

File ownership is simulated (the simulator may run as an unprivileged user): owners live
in ``owners.json`` beside the rootfs, keyed by guest path; a path without an entry belongs
to ``root:root``. Mode bits are the real ones on the host file.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import stat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

MAX_SYMLINK_HOPS = 40  # Linux's MAXSYMLINKS

R_OK, W_OK, X_OK = 4, 2, 1


def no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def permission_denied() -> OSError:
    return OSError(errno.EACCES, os.strerror(errno.EACCES))


@dataclass(frozen=True)
class Account:
    """A user of the guest, as ``/etc/passwd`` and ``/etc/group`` describe it."""

    name: str
    uid: int
    gid: int
    home: str
    groups: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_root(self) -> bool:
        return self.uid == 0


@dataclass(frozen=True)
class Accounts:
    """The parsed user and group databases of one guest."""

    users: dict[str, Account]
    groups: dict[str, int]

    def user(self, name: str) -> Account | None:
        return self.users.get(name)

    def by_uid(self, uid: int) -> str:
        for account in self.users.values():
            if account.uid == uid:
                return account.name
        return str(uid)

    def by_gid(self, gid: int) -> str:
        for name, value in self.groups.items():
            if value == gid:
                return name
        return str(gid)

    def resolve_owner(self, spec: str) -> tuple[int | None, int | None]:
        """Parse ``USER[:GROUP]`` like chown; raises KeyError naming the bad half."""
        user, _, group = spec.partition(":")
        uid = gid = None
        if user:
            account = self.users.get(user)
            if account is None:
                if not user.isdigit():
                    raise KeyError("user")
                uid = int(user)
            else:
                uid = account.uid
                if ":" in spec and not group:
                    gid = account.gid  # "chown app:" means the login group
        if group:
            if group in self.groups:
                gid = self.groups[group]
            elif group.isdigit():
                gid = int(group)
            else:
                raise KeyError("group")
        return uid, gid


def parse_accounts(passwd: str, group: str) -> Accounts:
    groups: dict[str, int] = {}
    members: dict[str, set[int]] = {}
    for line in group.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            groups[parts[0]] = int(parts[2])
            for member in filter(None, parts[3].split(",") if len(parts) > 3 else []):
                members.setdefault(member, set()).add(int(parts[2]))
    users: dict[str, Account] = {}
    for line in passwd.splitlines():
        parts = line.split(":")
        if len(parts) >= 7 and parts[2].isdigit() and parts[3].isdigit():
            uid, gid = int(parts[2]), int(parts[3])
            extra = frozenset(members.get(parts[0], set()) | {gid})
            users[parts[0]] = Account(parts[0], uid, gid, parts[5], extra)
    return Accounts(users, groups)


class Ownership:
    """Simulated ``uid:gid`` of guest paths, persisted as JSON beside the rootfs."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._owners: dict[str, tuple[int, int]] | None = None

    def _table(self) -> dict[str, tuple[int, int]]:
        if self._owners is None:
            try:
                raw = json.loads(self._path.read_text())
            except FileNotFoundError:
                raw = {}
            self._owners = {k: (int(v[0]), int(v[1])) for k, v in raw.items()}
        return self._owners

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._table(), sort_keys=True))
        tmp.replace(self._path)

    def get(self, gpath: str) -> tuple[int, int]:
        return self._table().get(gpath, (0, 0))

    def set(self, gpath: str, uid: int, gid: int) -> None:
        table = self._table()
        if (uid, gid) == (0, 0):
            if table.pop(gpath, None) is not None:
                self._save()
        elif table.get(gpath) != (uid, gid):
            table[gpath] = (uid, gid)
            self._save()

    def set_many(self, gpaths: list[str], uid: int, gid: int) -> None:
        table = self._table()
        for gpath in gpaths:
            if (uid, gid) == (0, 0):
                table.pop(gpath, None)
            else:
                table[gpath] = (uid, gid)
        self._save()

    def moved(self, src: str, dst: str) -> None:
        table = self._table()
        self._drop(dst)
        for key in [k for k in table if k == src or k.startswith(src + "/")]:
            table[dst + key[len(src) :]] = table.pop(key)
        self._save()

    def removed(self, gpath: str) -> None:
        if self._drop(gpath):
            self._save()

    def _drop(self, gpath: str) -> bool:
        table = self._table()
        doomed = [k for k in table if k == gpath or k.startswith(gpath.rstrip("/") + "/")]
        for key in doomed:
            del table[key]
        return bool(doomed)

    def forget_cache(self) -> None:
        self._owners = None


def split_guest_path(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


class GuestDisk:
    """The disk of one VM: ``<guest_dir>/rootfs`` plus the ownership table."""

    def __init__(self, guest_dir: Path) -> None:
        self.dir = guest_dir
        self.root = guest_dir / "rootfs"
        self.owners = Ownership(guest_dir / "owners.json")
        self.full = False
        """Disk-full fault: every write through the disk fails with ENOSPC."""

    def exists(self) -> bool:
        return self.root.is_dir()

    def host(self, gpath: str, *, cwd: str = "/", follow_last: bool = True) -> Path:
        """Map a guest path to its host path, resolving symlinks inside the rootfs."""
        pending = deque(split_guest_path(posixpath.join(cwd, gpath)))
        resolved: list[str] = []
        hops = 0
        while pending:
            name = pending.popleft()
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = self.root.joinpath(*resolved, name)
            if (follow_last or pending) and candidate.is_symlink():
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                pending.extendleft(reversed(split_guest_path(target)))
                continue
            resolved.append(name)
        return self.root.joinpath(*resolved)

    def guest(self, host: Path) -> str:
        """The guest path of a host path inside the rootfs."""
        relative = host.relative_to(self.root).as_posix()
        return "/" if relative == "." else "/" + relative

    def require_space(self) -> None:
        if self.full:
            raise no_space()

    def owner(self, host: Path) -> tuple[int, int]:
        return self.owners.get(self.guest(host))

    def chown(self, host: Path, uid: int, gid: int) -> None:
        self.owners.set(self.guest(host), uid, gid)

    def may(self, account: Account, host: Path, want: int) -> bool:
        """Unix permission check of ``account`` on ``host`` (root may do anything)."""
        if account.is_root:
            return True
        mode = host.stat().st_mode
        uid, gid = self.owner(host)
        if uid == account.uid:
            bits = (mode >> 6) & 7
        elif gid in account.groups:
            bits = (mode >> 3) & 7
        else:
            bits = mode & 7
        return bits & want == want

    def require(self, account: Account, host: Path, want: int) -> None:
        if not self.may(account, host, want):
            raise permission_denied()

    def require_dir_writable(self, account: Account, host: Path) -> None:
        """Creating or removing an entry of ``host`` needs write+search on its directory."""
        parent = host.parent
        if parent.exists():
            self.require(account, parent, W_OK | X_OK)

    def accounts(self) -> Accounts:
        return parse_accounts(self.read_text("/etc/passwd"), self.read_text("/etc/group"))

    def read_text(self, gpath: str, default: str = "") -> str:
        try:
            return self.host(gpath).read_text()
        except (FileNotFoundError, NotADirectoryError):
            return default

    def write_file(
        self, gpath: str, content: bytes, *, mode: int = 0o644, owner: tuple[int, int] = (0, 0)
    ) -> Path:
        """Write a whole file as the system would (cloud-init, the guest agent)."""
        self.require_space()
        host = self.host(gpath)
        host.parent.mkdir(parents=True, exist_ok=True)
        tmp = host.with_name(f".{host.name}.sim-tmp")
        tmp.write_bytes(content)
        tmp.chmod(mode)
        tmp.replace(host)
        self.chown(host, *owner)
        return host

    def make_dir(self, gpath: str, *, mode: int = 0o755, owner: tuple[int, int] = (0, 0)) -> Path:
        host = self.host(gpath)
        host.mkdir(parents=True, exist_ok=True)
        host.chmod(mode)
        self.chown(host, *owner)
        return host

    def file_type(self, host: Path) -> str:
        """``stat %F`` wording."""
        mode = host.lstat().st_mode
        if stat.S_ISLNK(mode):
            return "symbolic link"
        if stat.S_ISDIR(mode):
            return "directory"
        if stat.S_ISREG(mode):
            return "regular empty file" if host.lstat().st_size == 0 else "regular file"
        return "weird file"

    def tag_tree(self, host: Path, uid: int, gid: int) -> None:
        """Give a freshly created tree (git checkout, rsync) to the user who created it."""
        if (uid, gid) == (0, 0) or not host.exists():
            return
        gpaths = [self.guest(host)]
        for base, dirs, files in os.walk(host):
            for name in dirs + files:
                gpaths.append(self.guest(Path(base) / name))
        self.owners.set_many(gpaths, uid, gid)
