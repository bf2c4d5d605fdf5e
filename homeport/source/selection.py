"""Which files of a tree are manifests: ONE rule for ``validate``, the pre-receive hook and
the daemon, whether the tree is a git commit (``git.py``) or a directory (``directory.py``).

Both readers list their tree as ``TreeEntry`` values (path, type, size — nothing read
yet) and hand them to ``select_manifests``, then read only what it selected, within
``SourceLimits``. The rules (docs/manifests.md#which-files-are-read):

- a regular file named ``*.yaml`` or ``*.yml`` is a manifest;
- a symbolic link is refused, whatever it points at: git stores only the link, a
  directory follows it (even out of the repository), so the two would read different
  files and the daemon could prune what ``validate`` saw;
- a git submodule is refused: its files are not in the commit;
- a file that looks like a manifest but would not be read is refused: ``*.YAML``/``*.Yml``
  (suffixes are case-sensitive), and a ``*.json`` or dotfile (``.apps.yaml``) that
  mentions ``homeport.dev/``;
- everything inside hidden directories (``.git/``, ``.github/``) is ignored.

Refusals are ``ManifestError``s: the revision is rejected, nothing is pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePosixPath

from homeport.source.errors import ManifestError
from homeport.source.limits import SourceLimits, human_bytes, too_large

MANIFEST_SUFFIXES = (".yaml", ".yml")
# Files that are not read but are worth a look: a homeport object in one would be lost.
_LOOKALIKE_SUFFIXES = (".yaml", ".yml", ".json")
# What every homeport manifest contains (its apiVersion).
HOMEPORT_MARK = b"homeport.dev/"


class EntryType(Enum):
    FILE = "file"
    SYMLINK = "symbolic link"
    SUBMODULE = "git submodule"
    OTHER = "special file"


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a tree, before anything is read."""

    path: PurePosixPath
    """Relative to the manifests folder (what the rules look at)."""
    display: str
    """How errors name it (``apps/web.yaml``, or the path given to ``homeport validate``)."""
    type: EntryType
    size: int = 0
    target: str = ""
    """Where a symbolic link points, when known (shown to the user)."""
    locator: str = ""
    """Where the reader finds the content: a git object id, or a file's path."""


@dataclass(frozen=True)
class Selection:
    manifests: list[TreeEntry] = field(default_factory=list)
    """Files to read and validate."""
    lookalikes: list[TreeEntry] = field(default_factory=list)
    """Files not read as manifests that must be peeked at (``HOMEPORT_MARK``)."""
    errors: list[ManifestError] = field(default_factory=list)


@dataclass(frozen=True)
class ManifestFiles:
    """The manifest files of one revision, read, and what was refused while reading."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)
    limits: SourceLimits = field(default_factory=SourceLimits)


def _hidden(part: str) -> bool:
    return part.startswith(".") and part not in (".", "..")


def file_error(entry: TreeEntry | str, message: str, fix: str) -> ManifestError:
    display = entry if isinstance(entry, str) else entry.display
    return ManifestError(display, 1, "", "", message, fix)


def select_manifests(entries: Iterable[TreeEntry]) -> Selection:
    """Apply the rules above to every entry of a tree."""
    selection = Selection()
    for entry in sorted(entries, key=lambda e: e.path):
        parts = entry.path.parts
        if any(_hidden(part) for part in parts[:-1]):
            continue  # hidden directories (.git/, .github/) are never part of the estate
        problem = _refusal(entry)
        if problem is not None:
            selection.errors.append(problem)
        elif entry.path.suffix in MANIFEST_SUFFIXES and not _hidden(entry.path.name):
            selection.manifests.append(entry)
        elif entry.path.suffix.lower() in _LOOKALIKE_SUFFIXES and entry.type is EntryType.FILE:
            selection.lookalikes.append(entry)
    return selection


def _refusal(entry: TreeEntry) -> ManifestError | None:
    hidden = _hidden(entry.path.name)
    if entry.type is EntryType.SYMLINK and not hidden:
        where = f" to {entry.target}" if entry.target else ""
        return file_error(
            entry,
            f"a symbolic link{where}: homeport never follows links (git keeps only the link, "
            "so the daemon would not read what this copy reads)",
            "replace the link with the file itself, or move the file here",
        )
    if entry.type is EntryType.SUBMODULE:
        return file_error(
            entry,
            "a git submodule: its files are not part of the commit and are not read",
            "copy the manifests into this repository",
        )
    suffix = entry.path.suffix
    if suffix.lower() in MANIFEST_SUFFIXES and suffix not in MANIFEST_SUFFIXES and not hidden:
        return file_error(
            entry,
            f"'{suffix}' is not read as a manifest (suffixes are case-sensitive)",
            f"rename it to {entry.path.stem}{suffix.lower()}",
        )
    if entry.type is EntryType.OTHER and suffix in MANIFEST_SUFFIXES and not hidden:
        return file_error(entry, "not a regular file", "replace it with a regular file")
    return None


def lookalike_error(entry: TreeEntry) -> ManifestError:
    if _hidden(entry.path.name):
        why, fix = "hidden files are not read", f"rename it to {entry.path.name.lstrip('.')}"
    else:
        why, fix = (
            f"'{entry.path.suffix}' files are not read",
            f"rename it to {entry.path.stem}.yaml",
        )
    return file_error(entry, f"holds homeport objects ({HOMEPORT_MARK.decode()}) but {why}", fix)


def read_selected(
    entries: Iterable[TreeEntry],
    read: Callable[[list[TreeEntry]], list[bytes | ManifestError]],
    limits: SourceLimits,
) -> ManifestFiles:
    """Select, check every size against ``limits`` BEFORE reading, then read.

    ``read`` returns, per entry, its content or why it could not be read; it must never
    read more than ``limits.max_file_bytes`` + 1 bytes of one file.
    """
    selection = select_manifests(entries)
    errors = list(selection.errors)
    small = [e for e in selection.manifests if e.size <= limits.max_file_bytes]
    errors += [_too_large(e, limits) for e in selection.manifests if e.size > limits.max_file_bytes]
    total = sum(e.size for e in small)  # a file already refused for its size is not read
    if total > limits.max_estate_bytes:
        biggest = sorted(small, key=lambda e: -e.size)[:3]
        errors.append(
            ManifestError(
                biggest[0].display,
                1,
                "",
                "",
                f"the manifests total {human_bytes(total)}, more than the estate limit of "
                f"{human_bytes(limits.max_estate_bytes)} (largest: "
                + ", ".join(f"{e.display} {human_bytes(e.size)}" for e in biggest)
                + ")",
                "remove what is not a manifest, or raise the limit (docs/manifests.md#limits)",
            )
        )
        return ManifestFiles([], errors, limits)  # nothing is read: the bound is the point
    peeked = [e for e in selection.lookalikes if e.size <= limits.max_file_bytes]
    contents = read([*small, *peeked]) if small or peeked else []
    files: list[tuple[str, bytes]] = []
    for index, (entry, content) in enumerate(zip([*small, *peeked], contents, strict=True)):
        if isinstance(content, ManifestError):
            errors.append(content)
        elif len(content) > limits.max_file_bytes:  # it grew between listing and reading
            errors.append(_too_large(entry, limits, len(content)))
        elif index < len(small):
            files.append((entry.display, content))
        elif HOMEPORT_MARK in content:
            errors.append(lookalike_error(entry))
    return ManifestFiles(files, errors, limits)


def _too_large(entry: TreeEntry, limits: SourceLimits, size: int | None = None) -> ManifestError:
    return file_error(entry, *too_large(size or entry.size, limits.max_file_bytes))
