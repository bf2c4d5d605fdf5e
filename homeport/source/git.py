"""The control plane's git repository, read through the real ``git`` binary.

Manifests are read from the tree *at a commit* (``ls-tree`` + ``cat-file --batch``), never
from a work tree. ``init_repository`` creates the bare repository with homeport's hooks
(``hooks.py``); ``GitSource`` (``sources.py``) watches it; ``controller/revisions.py``
decides what to adopt.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from homeport.source.errors import ManifestError
from homeport.source.limits import GIT_CONFIG_KEYS, SourceLimits
from homeport.source.selection import (
    EntryType,
    ManifestFiles,
    TreeEntry,
    file_error,
    read_selected,
)

ZERO_SHA = "0" * 40
_MAX_LINK = 4096  # PATH_MAX: a longer "link" is not a link target


class GitError(Exception):
    """A git command failed; the message holds git's own words."""


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    committed_at: datetime
    author: str
    subject: str


def run_git(
    repo: Path, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    try:
        result = subprocess.run(
            ["git", "--git-dir", str(repo), *args],
            input=input,
            capture_output=True,
            check=False,
            env=env,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {' '.join(args[:2])}: {exc}") from None
    if result.returncode != 0:
        raise GitError(
            f"git {' '.join(args[:2])}: {result.stderr.decode(errors='replace').strip()}"
        )
    return result.stdout


class GitRepository:
    """Read access to one branch of a (bare) repository; with ``env``, every git it runs
    gets that environment (the daemon reading a push still in the hook's quarantine)."""

    def __init__(
        self,
        path: Path,
        *,
        branch: str = "main",
        subdir: str = ".",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.env = env
        self.branch = branch
        self.ref = f"refs/heads/{branch}"
        self.subdir = PurePosixPath(subdir.strip("/") or ".")

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        return run_git(self.path, *args, input=input, env=self.env)

    def head(self) -> str | None:
        """The branch's commit, or None when the branch does not exist (deleted)."""
        out = self._git("for-each-ref", "--format=%(objectname)", self.ref)
        sha = out.decode().strip()
        return sha or None

    def commit(self, sha: str) -> Commit:
        fmt = "%H%x00%P%x00%ct%x00%an <%ae>%x00%s"
        fields = self._git("show", "-s", f"--format={fmt}", sha).decode().rstrip("\n")
        full, parents, stamp, author, subject = fields.split("\x00", 4)
        return Commit(
            sha=full,
            parents=tuple(parents.split()),
            committed_at=datetime.fromtimestamp(int(stamp), UTC),
            author=author,
            subject=subject,
        )

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether ``new`` descends from ``old`` (a fast-forward), False for a force-push."""
        try:
            self._git("merge-base", "--is-ancestor", old, new)
        except GitError:
            return False
        return True

    def has_commit(self, sha: str) -> bool:
        try:
            self._git("cat-file", "-e", f"{sha}^{{commit}}")
        except GitError:
            return False
        return True

    def manifest_files(self, sha: str) -> list[tuple[str, bytes]]:
        """The manifest files at ``sha`` (what ``read_manifests`` read), without its errors."""
        return self.read_manifests(sha).files

    def read_manifests(self, sha: str) -> ManifestFiles:
        """The manifests at ``sha`` as ``selection`` decides, sizes checked before reading."""
        limits, problems = self.limits()
        listing = self._git("ls-tree", "-r", "-l", "-z", "--full-tree", sha)
        entries = [e for e in map(self._entry, listing.split(b"\x00")) if e is not None]
        found = read_selected(self._with_link_targets(entries), self._blobs, limits)
        return ManifestFiles(found.files, problems + found.errors, limits)

    def limits(self) -> tuple[SourceLimits, list[ManifestError]]:
        """``SourceLimits`` from the repository's git config (shared by hook and daemon)."""
        try:
            out = self._git("config", "--get-regexp", r"^homeport\.max")
        except GitError:
            return SourceLimits(), []  # none set (git exits 1)
        values: dict[str, int] = {}
        errors = []
        for line in out.decode(errors="replace").splitlines():
            key, _, value = line.partition(" ")
            if key.lower() not in GIT_CONFIG_KEYS:
                continue
            if not value.strip().isdigit() or int(value) <= 0:
                errors.append(
                    file_error(
                        f"{self.path}/config",
                        f"git config {key} = {value!r} is not a positive whole number",
                        f"git --git-dir {self.path} config {key} <bytes or count>",
                    )
                )
                continue
            values[GIT_CONFIG_KEYS[key.lower()]] = int(value)
        return SourceLimits(**values), errors

    def _entry(self, raw: bytes) -> TreeEntry | None:
        if not raw:
            return None
        meta, _, name = raw.partition(b"\t")
        mode, kind, blob, size = meta.decode().split()
        path = PurePosixPath(name.decode(errors="replace"))
        if self.subdir != PurePosixPath("."):
            if path == self.subdir:  # the manifests folder itself is a link or a submodule
                path = PurePosixPath(path.name)
            elif self.subdir not in path.parents:
                return None
            else:
                path = path.relative_to(self.subdir)
        types = {"120000": EntryType.SYMLINK, "160000": EntryType.SUBMODULE}
        entry_type = types.get(mode, EntryType.FILE if kind == "blob" else EntryType.OTHER)
        display = name.decode(errors="replace")
        return TreeEntry(
            path, display, entry_type, int(size) if size.isdigit() else 0, locator=blob
        )

    def _with_link_targets(self, entries: list[TreeEntry]) -> list[TreeEntry]:
        """A symbolic link's blob is its target: named in the refusal, as a directory does."""
        links = [e for e in entries if e.type is EntryType.SYMLINK and e.size <= _MAX_LINK]
        if not links:
            return entries
        targets = {
            e.locator: t.decode(errors="replace")
            for e, t in zip(links, self._blobs(links), strict=True)
            if isinstance(t, bytes)
        }
        return [
            replace(e, target=targets.get(e.locator, "")) if e.type is EntryType.SYMLINK else e
            for e in entries
        ]

    def _blobs(self, wanted: list[TreeEntry]) -> list[bytes | ManifestError]:
        ids = "".join(f"{e.locator}\n" for e in wanted).encode()
        return list(_split_batch(self._git("cat-file", "--batch", input=ids)))


def _split_batch(data: bytes) -> list[bytes]:
    """Parse ``git cat-file --batch`` output: header line, content, newline, repeated."""
    blobs: list[bytes] = []
    position = 0
    while position < len(data):
        end = data.index(b"\n", position)
        header = data[position:end].split()
        size = int(header[2])
        start = end + 1
        blobs.append(data[start : start + size])
        position = start + size + 1
    return blobs
