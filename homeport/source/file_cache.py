"""The pre-receive hook's per-file results between pushes: ``$GIT_DIR/homeport-cache/validation-cache.jsonl``.

Each push runs the hook in a new process; this file lets it skip parsing and scanning
the files a push did not change (``file_results.py``). It can never answer for other
bytes or other code: an entry is found by the file's name and the SHA-256 of the bytes the
hook has just read, and the file's first line names the code that wrote it (a digest of
this module, the modules whose output it stores, PyYAML's and Python's versions) and the
``SourceLimits``; any difference and nothing in it is used.

What it holds: the files of the last push the hook accepted (so nothing the repository does
not hold: a refused push leaves no trace), and of those only files clean on their own (no
YAML problem, no secret found), as their documents' data and lines: JSON, never pickle. A
file where the scan found a secret is never written here, so no secret reaches it. Who may write it: the user the hook
runs as. The directory is created ``0700`` and the file ``0600``; a directory or file owned
by another user, writable by others, a link, anything unreadable, malformed or oversized
is ignored whole (a full validation) and never trusted. Writes go to a new file renamed
over the old one, so a reader sees a whole file and two pushes at once cannot mix theirs:
the last rename wins, and the other push's new entries are merely missing next time.
Deleting the directory is always safe. The daemon never reads it (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

import homeport
from homeport.source import errors, file_results, limits, secrets_scan, yaml_documents
from homeport.source.file_results import FileKey, FileResult
from homeport.source.limits import SourceLimits
from homeport.source.yaml_documents import YamlDocument

DIRECTORY = "homeport-cache"
CACHE_FILE = "validation-cache.jsonl"
FORMAT = 1
_TEMP_SUFFIX = ".tmp"
# A cache entry is the documents' data and lines: a few times the file's bytes. Files
# whose entry would be larger (aliases expanded) are not kept, and a cache over this many
# times the estate limit is not read.
_GROWTH = 4


def code_fingerprint() -> str | None:
    """A digest of the code whose output the cache holds; None when a module's source
    cannot be read (then nothing is cached)."""
    digest = hashlib.sha256()
    libyaml = getattr(getattr(yaml, "_yaml", None), "get_version_string", lambda: "")()
    versions = (FORMAT, sys.version, yaml.__version__, libyaml, homeport.__version__)
    digest.update(repr(versions).encode())
    stored: tuple[ModuleType, ...] = (
        yaml_documents,
        secrets_scan,
        file_results,
        limits,
        errors,
        sys.modules[__name__],
    )
    for module in stored:
        try:
            digest.update(Path(str(module.__file__)).read_bytes())
        except OSError:
            return None
    return digest.hexdigest()


class CachedFiles:
    """A ``FileResults`` store in the bare repository (see the module's docstring)."""

    def __init__(self, directory: Path, fingerprint: str | None) -> None:
        self.directory = directory
        self.path = directory / CACHE_FILE
        self.fingerprint = fingerprint
        self._read_lines: dict[tuple[str, str], str] = {}
        """(name, digest) → its line as read, for the same code and limits."""
        self._kept: tuple[str, dict[tuple[str, str], str]] | None = None

    @classmethod
    def of_repository(cls, repo: Path) -> CachedFiles:
        return cls(repo / DIRECTORY, code_fingerprint())

    def recall(self, keys: Sequence[FileKey]) -> dict[FileKey, FileResult]:
        if not keys or self.fingerprint is None:
            return {}
        entries = self._read(keys[0].limits)
        self._read_lines = {found: line for found, (line, _) in entries.items()}
        return {
            key: _decode(key.name, entries[(key.name, key.digest)][1])
            for key in keys
            if (key.name, key.digest) in entries and key.limits == keys[0].limits
        }

    def keep(self, results: Mapping[FileKey, FileResult]) -> None:
        """Hold the revision's results for ``save``; nothing is written yet."""
        if self.fingerprint is None or not results:
            return
        limits = next(iter(results)).limits
        budget = _GROWTH * limits.max_estate_bytes
        lines: dict[tuple[str, str], str] = {}
        for key in sorted(results, key=lambda k: (k.name, k.digest)):
            line = self._read_lines.get((key.name, key.digest)) or _encode(key, results[key])
            if line is not None and len(line) <= min(budget, _GROWTH * limits.max_file_bytes):
                lines[(key.name, key.digest)] = line
                budget -= len(line)
        self._kept = (_header(self.fingerprint, limits), lines)

    def save(self) -> None:
        """Write what ``keep`` held, when it differs from what was read. The hook saves
        only for a push it accepts: the file then holds only what the repository holds."""
        if self._kept is None or self._kept[1] == self._read_lines:
            return
        header, lines = self._kept
        self._write("".join([header, *lines.values()]))
        self._read_lines, self._kept = lines, None

    def _read(self, limits: SourceLimits) -> dict[tuple[str, str], tuple[str, list[Any]]]:
        """The entries of a trusted, well-formed file written for this code and these
        limits; else none."""
        try:
            if not _private(os.lstat(self.directory), directory=True):
                return {}
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return {}
        with os.fdopen(fd, "rb") as source:
            info = os.fstat(source.fileno())
            cap = _GROWTH * limits.max_estate_bytes + len(_header("", limits)) + 64
            if not _private(info, directory=False) or info.st_size > cap:
                return {}
            try:
                text = source.read(cap + 1).decode("ascii")
                return _entries(text, self.fingerprint or "", limits)
            except (OSError, ValueError, RecursionError):
                return {}  # unreadable or malformed: a full validation, nothing trusted

    def _write(self, text: str) -> None:
        """Replace the file by one holding ``text``; on any failure leave it as it was."""
        if not self._directory_ready():
            return
        temp = self.directory / f".{CACHE_FILE}.{os.getpid()}.{os.urandom(6).hex()}{_TEMP_SUFFIX}"
        self._remove_leftovers()
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with os.fdopen(os.open(temp, flags, 0o600), "w", encoding="ascii") as out:
                out.write(text)
            os.replace(temp, self.path)
        except OSError:
            temp.unlink(missing_ok=True)

    def _directory_ready(self) -> bool:
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            return _private(os.lstat(self.directory), directory=True)
        except OSError:
            return False

    def _remove_leftovers(self) -> None:
        """Temporary files of writers killed before their rename (or, rarely, of one still
        writing, whose rename then fails: its entries are only missing next time)."""
        try:
            names = [n for n in os.listdir(self.directory) if n.endswith(_TEMP_SUFFIX)]
            for name in names:
                (self.directory / name).unlink(missing_ok=True)
        except OSError:
            return


def _private(info: os.stat_result, *, directory: bool) -> bool:
    """Owned by this user, writable by nobody else, and the kind expected (not a link)."""
    kind = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    return kind and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _header(fingerprint: str, limits: SourceLimits) -> str:
    sizes = [limits.max_file_bytes, limits.max_estate_bytes, limits.max_objects]
    return json.dumps({"format": FORMAT, "code": fingerprint, "limits": sizes}) + "\n"


def _entries(
    text: str, fingerprint: str, limits: SourceLimits
) -> dict[tuple[str, str], tuple[str, list[Any]]]:
    """(name, digest) → (line, documents), each line checked whole; ValueError for
    anything malformed."""
    header, _, body = text.partition("\n")
    if header + "\n" != _header(fingerprint, limits):
        return {}  # other code or other limits: a miss, not an error
    entries: dict[tuple[str, str], tuple[str, list[Any]]] = {}
    for line in body.splitlines(keepends=True):
        entry = json.loads(line)
        name, digest = _check_entry(entry)
        if (name, digest) in entries or not line.endswith("\n"):
            raise ValueError("a repeated or truncated entry")
        entries[(name, digest)] = (line, entry[2])
    return entries


def _check_entry(entry: Any) -> tuple[str, str]:
    if not (isinstance(entry, list) and len(entry) == 3):
        raise ValueError("an entry is [name, digest, documents]")
    name, digest, documents = entry
    if not (isinstance(name, str) and isinstance(digest, str) and len(digest) == 64):
        raise ValueError("a name and a SHA-256")
    if not isinstance(documents, list):
        raise ValueError("documents are a list")
    for document in documents:
        if not (isinstance(document, list) and len(document) == 3):
            raise ValueError("a document is [index, lines, data]")
        if type(document[0]) is not int or not _line_tree(document[1]):
            raise ValueError("a document's index and lines")
    return name, digest


def _line_tree(tree: Any) -> bool:
    """Whether ``tree`` has the shape of ``yaml_documents.LineTree`` (a loop, not
    recursion: a hostile file may nest deeper than Python recurses)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if type(node) is int:
            continue
        if not (type(node) is list and len(node) == 2 and type(node[0]) is int):
            return False
        children = node[1]
        if type(children) is list:
            stack.extend(children)
        elif type(children) is dict:
            for pair in children.values():
                if not (type(pair) is list and len(pair) == 2 and type(pair[0]) is int):
                    return False
                stack.append(pair[1])
        else:
            return False
    return True


def _encode(key: FileKey, result: FileResult) -> str | None:
    """The entry's line, or None for what is not kept: a file with any problem of its own
    (a secret among them), or data JSON would not give back exactly (dates, binary, sets,
    keys that are not strings)."""
    if not result.clean or not all(_plain(d.data) for d in result.documents):
        return None
    documents = [[d.index, d.lines, d.data] for d in result.documents]
    return json.dumps([key.name, key.digest, documents], separators=(",", ":")) + "\n"


def _decode(name: str, documents: list[list[Any]]) -> FileResult:
    return FileResult(
        tuple(YamlDocument(name, index, lines, data) for index, lines, data in documents), (), ()
    )


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return kind in (str, int, float, bool, type(None))
