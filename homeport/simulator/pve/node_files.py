"""A Proxmox node's filesystem as its root shell sees it (``node_shell.py``).

Ordinary paths live under the node's root directory (the estate uses
``<state>/nodes/<node>``). The backup directory of every file storage that holds backups
(``<storage path>/dump``, e.g. ``/var/lib/vz/dump`` for ``local`` or ``/mnt/pve/nas/dump``
for ``nas``) is the world's archive directory for that storage and scope, where
``backups.py`` writes vzdump archives. Like PVE, which lists a ``dump/`` directory's files
as backup volumes, a file whose name follows vzdump's naming scheme that appears there
(``cp``, ``mv``) becomes a backup volume, and one removed from there is gone.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from homeport.simulator.pve import storage as st
from homeport.simulator.pve.backups import ctime_from_name

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

_ARCHIVE = re.compile(r"^vzdump-qemu-(\d+)-\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2}\.(vma(?:\.\w+)?)$")


@dataclass(frozen=True)
class DumpDir:
    """``<storage path>/dump`` of one storage, as seen from one node."""

    path: str
    host: Path
    storage: st.Storage
    scope: str


class NodeFiles:
    def __init__(self, world: World, node: str, root: Path) -> None:
        self.world = world
        self.node = node
        self.root = root

    def dump_dirs(self) -> list[DumpDir]:
        dirs = []
        for storage in self.world.storages.values():
            if storage.is_file and storage.path and storage.supports("backup"):
                scope = storage.scope(self.node)
                host = self.world.archive_root / storage.id / (scope or "shared") / "dump"
                dirs.append(DumpDir(f"{storage.path}/dump", host, storage, scope))
        return dirs

    def host(self, path: str) -> Path:
        """The host file behind an absolute node path (relative paths start at /root)."""
        normal = posixpath.normpath(posixpath.join("/root", path))
        for dump in self.dump_dirs():
            if normal == dump.path or normal.startswith(dump.path + "/"):
                dump.host.mkdir(parents=True, exist_ok=True)
                return dump.host / normal[len(dump.path) :].lstrip("/")
        return self.root / normal.lstrip("/")

    def dump_of(self, path: str) -> tuple[DumpDir, str] | None:
        """The dump directory ``path`` lies directly in, and the file name."""
        normal = posixpath.normpath(posixpath.join("/root", path))
        parent, name = posixpath.split(normal)
        return next(((d, name) for d in self.dump_dirs() if d.path == parent), None)

    def volume_at(self, path: str) -> st.Volume | None:
        found = self.dump_of(path)
        if found is None:
            return None
        dump, name = found
        return self.world.volumes.get(dump.scope, f"{dump.storage.id}:backup/{name}")

    def check_space(self, path: str, size: int) -> None:
        found = self.dump_of(path)
        if found is not None:
            dump, _ = found
            message = f"cannot write '{path}': No space left on device"
            st.check_space(self.world, dump.storage, dump.scope, size, message)

    def appeared(self, path: str, source: st.Volume | None) -> None:
        """A file landed at ``path``: register it if it is an archive in a dump directory."""
        found = self.dump_of(path)
        if found is None:
            return
        dump, name = found
        match = _ARCHIVE.match(name)
        host = self.host(path)
        if match is None or not host.is_file():
            return
        size = host.stat().st_size
        template = source or self._same_archive(name)
        volume = st.Volume(
            volid=f"{dump.storage.id}:backup/{name}",
            storage=dump.storage.id,
            scope=dump.scope,
            vmid=int(match.group(1)),
            content="backup",
            format=match.group(2),
            size=size,
            used=size,
            ctime=ctime_from_name(name) or int(host.stat().st_mtime),
            archive=str(host.relative_to(self.world.archive_root)),
            config=dict(template.config) if template and template.config else None,
            extra=dict(template.extra) if template else {},
        )
        self.world.volumes.add(volume)
        self.world.changed()

    def vanished(self, path: str) -> None:
        volume = self.volume_at(path)
        if volume is not None:
            self.world.volumes.remove(volume)
            self.world.changed()

    def _same_archive(self, name: str) -> st.Volume | None:
        """The volume an archive of this name was copied from (a vma carries its config)."""
        return next(
            (v for v in self.world.volumes.by_key.values() if v.volid.endswith(f"/{name}")),
            None,
        )
