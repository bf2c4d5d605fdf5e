"""Manifests from a directory on disk: ``homeport validate PATH`` and ``DirectorySource``.

Lists the tree without following any link (``lstat``), lets ``selection`` decide which
files are manifests — the same rule as for a git commit (``git.py``) — and reads each
selected file through a descriptor opened with ``O_NOFOLLOW``, checking its type and size
on that descriptor before reading (a file swapped for a link, a FIFO or a huge file
between listing and reading is refused, never followed, blocked on or loaded whole).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from homeport.source.errors import ManifestError
from homeport.source.limits import SourceLimits
from homeport.source.selection import (
    EntryType,
    ManifestFiles,
    TreeEntry,
    file_error,
    read_selected,
)


def read_directory(
    root: Path, *, limits: SourceLimits | None = None, relative_names: bool = False
) -> ManifestFiles:
    """The manifests under ``root`` (or ``root`` itself when it is a file).

    Errors name files as ``root/relative`` (what the user typed), or relative to ``root``
    with ``relative_names`` (a ``DirectorySource`` revision, like a git path).
    """
    return read_directories([root], limits=limits, relative_names=relative_names)


def read_directories(
    roots: list[Path], *, limits: SourceLimits | None = None, relative_names: bool = False
) -> ManifestFiles:
    """The manifests under several roots, as one estate (one size budget for them all)."""
    limits = limits or SourceLimits()
    entries: list[TreeEntry] = []
    errors: list[ManifestError] = []
    for root in roots:
        _list_root(root, relative_names, entries, errors)
    found = read_selected(
        entries, lambda wanted: [_read(Path(e.locator), e, limits) for e in wanted], limits
    )
    return ManifestFiles(found.files, errors + found.errors, limits)


def _list_root(
    root: Path, relative_names: bool, entries: list[TreeEntry], errors: list[ManifestError]
) -> None:
    try:
        info = root.lstat()
    except OSError as exc:
        errors.append(file_error(str(root), _reason(exc), "check the path"))
        return
    if stat.S_ISDIR(info.st_mode):
        _walk(root, PurePosixPath(), relative_names, entries, errors)
    else:
        # A file named on the command line is read whatever its suffix (the user chose it).
        entries.append(_entry(root, PurePosixPath("named.yaml"), str(root), info))


def _walk(
    root: Path,
    relative: PurePosixPath,
    relative_names: bool,
    entries: list[TreeEntry],
    errors: list[ManifestError],
) -> None:
    """Collect the entries under ``root/relative``; a directory that cannot be listed is
    an error (its manifests would otherwise count as deleted, and be pruned)."""
    where = root / relative
    try:
        with os.scandir(where) as listing:
            children = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        display = str(relative) if relative_names else str(where)
        errors.append(file_error(display, f"cannot list: {_reason(exc)}", "check permissions"))
        return
    for child in children:
        path = relative / child.name
        try:
            info = child.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while listing: it is simply not there
        if stat.S_ISDIR(info.st_mode):
            if not child.name.startswith("."):  # hidden directories are never read
                _walk(root, path, relative_names, entries, errors)
            continue
        display = str(path) if relative_names else str(root / path)
        entries.append(_entry(root / path, path, display, info))


def _entry(full: Path, path: PurePosixPath, display: str, info: os.stat_result) -> TreeEntry:
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(full)
        except OSError:
            target = ""
        return TreeEntry(path, display, EntryType.SYMLINK, 0, target, str(full))
    kind = EntryType.FILE if stat.S_ISREG(info.st_mode) else EntryType.OTHER
    return TreeEntry(path, display, kind, info.st_size, locator=str(full))


def _read(full: Path, entry: TreeEntry, limits: SourceLimits) -> bytes | ManifestError:
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return file_error(entry, f"cannot read: {_reason(exc)}", "check the file")
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return file_error(entry, "not a regular file", "replace it with a regular file")
        try:
            return handle.read(limits.max_file_bytes + 1)
        except OSError as exc:
            return file_error(entry, f"cannot read: {_reason(exc)}", "check the file")


def _reason(exc: OSError) -> str:
    if getattr(exc, "errno", None) == getattr(os, "ELOOP", -1):
        return "a symbolic link (homeport never follows links)"
    return exc.strerror or str(exc)
