"""The control plane's git repository, read through the real ``git`` binary.

Manifests are read from the tree *at a commit* (``ls-tree`` + ``cat-file --batch``), never
from a work tree. ``init_repository`` creates the bare repository with homeport's hooks
(``hooks.py``); ``GitSource`` (``sources.py``) watches it; ``controller/revisions.py``
decides what to adopt.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from homeport.source.manifests import MANIFEST_SUFFIXES

ZERO_SHA = "0" * 40


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
    repo: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
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
    """Read access to one branch of a (bare) repository."""

    def __init__(self, path: Path, *, branch: str = "main", subdir: str = ".") -> None:
        self.path = path
        self.branch = branch
        self.ref = f"refs/heads/{branch}"
        self.subdir = PurePosixPath(subdir.strip("/") or ".")

    def head(self) -> str | None:
        """The branch's commit, or None when the branch does not exist (deleted)."""
        out = run_git(self.path, "for-each-ref", "--format=%(objectname)", self.ref)
        sha = out.decode().strip()
        return sha or None

    def commit(self, sha: str) -> Commit:
        fmt = "%H%x00%P%x00%ct%x00%an <%ae>%x00%s"
        fields = run_git(self.path, "show", "-s", f"--format={fmt}", sha).decode().rstrip("\n")
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
            run_git(self.path, "merge-base", "--is-ancestor", old, new)
        except GitError:
            return False
        return True

    def has_commit(self, sha: str) -> bool:
        try:
            run_git(self.path, "cat-file", "-e", f"{sha}^{{commit}}")
        except GitError:
            return False
        return True

    def manifest_files(self, sha: str) -> list[tuple[str, bytes]]:
        """Every ``.yaml``/``.yml`` blob under the manifests folder at ``sha``: (path, content)."""
        listing = run_git(self.path, "ls-tree", "-r", "-z", "--full-tree", sha)
        wanted: list[tuple[str, str]] = []
        for entry in listing.split(b"\x00"):
            if not entry:
                continue
            meta, _, name = entry.partition(b"\t")
            mode, kind, blob = meta.decode().split()
            path = PurePosixPath(name.decode(errors="replace"))
            if kind != "blob" or mode == "120000" or path.suffix not in MANIFEST_SUFFIXES:
                continue
            if self.subdir != PurePosixPath(".") and self.subdir not in path.parents:
                continue
            if any(part.startswith(".") for part in path.parts):
                continue
            wanted.append((str(path), blob))
        if not wanted:
            return []
        batch = run_git(
            self.path, "cat-file", "--batch", input="".join(f"{b}\n" for _, b in wanted).encode()
        )
        return list(zip([p for p, _ in wanted], _split_batch(batch), strict=True))


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
