"""Where desired state comes from: the bare git repository, or a plain directory.

A source answers two questions: what is the current revision (``head``) and what are its
manifest files (``files``). ``watch`` feeds wake-ups from watchfiles, the post-receive
hook's datagram socket and a slow poll (a missed event must never mean a missed change).
A ``GitSource`` also judges pushes for the pre-receive hook (``push_validation.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from watchfiles import awatch

from homeport.datagrams import receive_datagrams
from homeport.source.directory import read_directory
from homeport.source.file_results import FileResults
from homeport.source.git import GitRepository
from homeport.source.hook_entry import POKE_SOCKET
from homeport.source.push_socket import VALIDATE_SOCKET
from homeport.source.push_validation import PushValidator, serve_pushes
from homeport.source.selection import ManifestFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RevisionInfo:
    """The identity and provenance of one revision."""

    sha: str
    ref: str
    committed_at: datetime | None = None
    message: str = ""
    author: str = ""


class Source(Protocol):
    name: str

    def head(self) -> RevisionInfo | None:
        """The current revision, or None when the branch is gone."""
        ...

    def files(self, sha: str) -> ManifestFiles:
        """Manifest files of a revision, (display path, content), and the files refused."""
        ...

    def descends(self, old: str, new: str) -> bool:
        """Whether ``new`` is a fast-forward of ``old``."""
        ...

    async def watch(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call ``wake`` whenever the source may have changed, until ``stop`` is set."""
        ...


async def _poll(wake: Callable[[], None], stop: asyncio.Event, interval: float) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        wake()


class GitSource:
    """A branch of the control plane's bare repository."""

    def __init__(
        self, repo: Path, *, branch: str = "main", subdir: str = ".", poll_interval: float = 30.0
    ) -> None:
        self.repo = GitRepository(repo, branch=branch, subdir=subdir)
        self.poll_interval = poll_interval
        self.name = f"{repo}#{branch}"

    def head(self) -> RevisionInfo | None:
        sha = self.repo.head()
        if sha is None:
            return None
        commit = self.repo.commit(sha)
        return RevisionInfo(
            sha=sha,
            ref=self.repo.ref,
            committed_at=commit.committed_at,
            message=commit.subject,
            author=commit.author,
        )

    def files(self, sha: str) -> ManifestFiles:
        return self.repo.read_manifests(sha)

    def descends(self, old: str, new: str) -> bool:
        return old == new or self.repo.is_ancestor(old, new)

    async def watch(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch_refs(wake, stop))
            group.create_task(self._listen_for_pokes(wake, stop))
            group.create_task(_poll(wake, stop, self.poll_interval))

    async def _watch_refs(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        def relevant(_: object, path: str) -> bool:
            # Refs are replaced via '<ref>.lock' renames; packed-refs covers gc and deletions.
            return not path.endswith(".lock") and (
                "/refs/" in path or path.endswith(("/packed-refs", "/HEAD"))
            )

        async for _ in awatch(
            self.repo.path, watch_filter=relevant, stop_event=stop, debounce=200, step=20
        ):
            wake()

    async def _listen_for_pokes(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        await receive_datagrams(self.repo.path / POKE_SOCKET, lambda _: wake(), stop, size=64)

    async def serve_push_validation(self, adopted: FileResults, stop: asyncio.Event) -> None:
        """Judge pushes for the pre-receive hook until ``stop``, reading (never changing)
        ``adopted``, the per-file results of the revision this daemon adopted."""
        validator = PushValidator(self.repo.path, adopted=adopted)
        try:
            await serve_pushes(self.repo.path / VALIDATE_SOCKET, validator.answer, stop)
        except OSError as exc:
            # Only a faster push is lost: the hook validates by itself.
            log.warning(
                "cannot serve the pre-receive hook at %s (%s): pushes are validated by the "
                "hook alone",
                self.repo.path / VALIDATE_SOCKET,
                exc,
            )


class DirectorySource:
    """A plain directory of manifests (for trying things out); the revision is a content hash."""

    def __init__(self, directory: Path, *, poll_interval: float = 30.0) -> None:
        self.directory = directory
        self.poll_interval = poll_interval
        self.name = str(directory)

    def _read(self) -> ManifestFiles:
        return read_directory(self.directory, relative_names=True)

    def head(self) -> RevisionInfo | None:
        if not self.directory.is_dir():
            return None
        digest = hashlib.sha256()
        found = self._read()
        for name, content in found.files:
            digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
        for error in found.errors:  # a refused file is part of the revision too
            digest.update(error.render().encode() + b"\0")
        return RevisionInfo(sha=digest.hexdigest()[:40], ref=f"dir:{self.directory}")

    def files(self, sha: str) -> ManifestFiles:
        return self._read()

    def descends(self, old: str, new: str) -> bool:
        return True  # a directory has no history to rewrite

    async def watch(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(_poll(wake, stop, self.poll_interval))
            group.create_task(self._watch_files(wake, stop))

    async def _watch_files(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        if await asyncio.to_thread(self.directory.is_dir):
            async for _ in awatch(self.directory, stop_event=stop, debounce=200, step=20):
                wake()
