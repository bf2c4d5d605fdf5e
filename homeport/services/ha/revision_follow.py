"""Applying the revision the leader adopted to this control plane's store.

The leader records ``source/adopted`` (sha and object keys) in etcd when it adopts a
revision (``controller/revisions.py``, through the store's replica). Every other daemon
applies the same commit to its own objects table — reading it from its own repository,
fetched from the peers first when the mirror has not brought it yet — so a new leader
starts from exactly the desired state its predecessor was converging to, and never from
an older one. Rows are written locally only (the link is paused): this is not an adoption.
With a signature policy the commit is judged here too (``controller/signing.py``): a plane
never takes over from a revision its own policy refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from homeport.controller.clock import Clock
from homeport.controller.signing import SignatureGate
from homeport.controller.source_keys import ADOPTED
from homeport.controller.store import DesiredObject, Store
from homeport.source.file_results import RememberedFiles
from homeport.source.mirror import GitMirror
from homeport.source.sources import Source
from homeport.source.validate import validate_sources

log = logging.getLogger(__name__)


class RevisionUnavailable(Exception):
    """The adopted commit is in no reachable repository, or does not validate here."""


class RevisionFollower:
    def __init__(
        self,
        *,
        store: Store,
        source: Source,
        mirror: GitMirror | None,
        clock: Clock,
        leading: Callable[[], bool],
        signatures: SignatureGate | None = None,
    ) -> None:
        self.leading = leading
        """The leader adopts revisions itself (``RevisionSync``): it never follows."""
        self.store = store
        self.source = source
        self.file_results = RememberedFiles()
        """The last followed revision's per-file results: a follower re-parses only the
        files a revision changed, as the leader's ``RevisionSync`` does (one apply at a time,
        under ``_lock``)."""
        self.mirror = mirror
        self.clock = clock
        self.signatures = signatures
        self.wanted: dict[str, Any] | None = None
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()

    def follow(self, adopted: dict[str, Any] | None) -> None:
        """The shared record changed (the follower's watch): apply it soon."""
        if adopted:
            self.wanted = adopted
            self._changed.set()

    async def run(self, stop: asyncio.Event, retry: float = 2.0) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=retry)
            self._changed.clear()
            if self.leading():
                self.wanted = None  # what the leader adopts itself is newer
            if stop.is_set() or self.wanted is None:
                continue
            try:
                await self.apply(self.wanted)
            except RevisionUnavailable as exc:  # kept: tried again after ``retry``
                log.warning("cannot follow the adopted revision yet: %s", exc)

    def current(self) -> str | None:
        local = self.store.source_state.get(ADOPTED) or {}
        return local.get("sha")

    async def apply(self, adopted: dict[str, Any]) -> bool:
        """Make the local objects those of ``adopted``; False when they already were.
        Done with it either way: a record this plane adopts itself later supersedes it."""
        async with self._lock:
            sha = str(adopted.get("sha") or "")
            local = self.store.source_state.get(ADOPTED)
            if local is not None and self.current() == sha:
                if adopted.get("signature") and local.get("signature") != adopted["signature"]:
                    with self.store.link.paused():  # the leader recorded who signed it
                        self.store.source_state.set(
                            ADOPTED, {**local, "signature": adopted["signature"]}
                        )
                self._done(adopted)
                return False
            desired = await self._desired(sha)
            now = self.clock.now()
            with self.store.link.paused():
                self.store.objects.apply_revision(sha, desired, now)
                record = {"sha": sha, "keys": sorted(d.key for d in desired)}
                if adopted.get("signature"):
                    record["signature"] = adopted["signature"]
                self.store.source_state.set(ADOPTED, record)
            log.info("following revision %s adopted by the leader", sha[:12] or "(deleted)")
            self._done(adopted)
            return True

    def _done(self, adopted: dict[str, Any]) -> None:
        if self.wanted is adopted:
            self.wanted = None

    async def _desired(self, sha: str) -> list[DesiredObject]:
        if not sha:
            return []  # the branch was deleted and that approved: nothing is desired
        if not await asyncio.to_thread(self._available, sha):
            raise RevisionUnavailable(
                f"commit {sha[:12]} is not in this control plane's repository nor in a reachable peer's"
            )
        await asyncio.to_thread(self._verify, sha)
        result = await asyncio.to_thread(
            lambda: validate_sources(self.source.files(sha), reuse=self.file_results)
        )
        if not result.ok:
            first = result.errors[0].render() if result.errors else "?"
            raise RevisionUnavailable(f"commit {sha[:12]} does not validate here: {first}")
        return [
            DesiredObject(resource=o.resource, file=o.file, line=o.line) for o in result.objects
        ]

    def _verify(self, sha: str) -> None:
        if self.signatures is None:
            return
        _, refused = self.signatures.check(sha, since=self.current() or None)
        if refused is not None:
            raise RevisionUnavailable(f"commit {sha[:12]} fails this plane's {refused}")

    def _available(self, sha: str) -> bool:
        if self.mirror is None:
            return True  # a directory source: its files are what they are
        if self.mirror.has(sha):
            return True
        self.mirror.catch_up(adopted=sha)
        return self.mirror.has(sha)
