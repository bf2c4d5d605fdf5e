"""Git on every control plane: the tracked branch mirrored between the planes' repositories.

Each control plane keeps its own bare repository; a push may reach any of them. The
post-receive hook (``hook_entry``) hands what it received to a detached ``git push`` per
peer, so the pusher never waits for the other planes. ``GitMirror`` — run by the daemon at
start and every ``peer_fetch_interval`` — fetches the peers' branches into
``refs/peers/<name>/``, moves the local branch to the newest revision among them
(``newest``: ancestry decides, never the clock alone) and pushes it to peers that lag, so a
plane that was down catches up when it returns. ``controller/revisions.py`` then adopts
from the local branch as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from homeport.source.git import GitError, GitRepository, run_git

log = logging.getLogger(__name__)
REMOTE_PREFIX = "homeport-peer-"


def remote_name(peer: str) -> str:
    return f"{REMOTE_PREFIX}{peer}"


def newest(
    heads: Mapping[str, str],
    *,
    descends: Callable[[str, str], bool],
    adopted: str | None = None,
    local: str | None = None,
) -> str | None:
    """The head to follow among ``heads`` (source → sha; ``local`` names this plane's).

    Heads that do not descend from the ``adopted`` revision are stale lineages (a plane
    that missed a force-push) unless none does. Of the rest, the one every other head is an
    ancestor of; when they diverged, this plane's own head, else None (nothing is moved).
    """
    shas = set(heads.values())
    if adopted is not None:
        current = {s for s in shas if descends(adopted, s)}
        shas = current or shas
    for candidate in shas:
        if all(other == candidate or descends(other, candidate) for other in shas):
            return candidate
    own = heads.get(local) if local is not None else None
    return own if own in shas else None


@dataclass(frozen=True)
class CatchUp:
    moved_from: str | None
    moved_to: str | None
    unreachable: dict[str, str]
    """Peers that could not be fetched from, with git's reason."""
    pushed: tuple[str, ...] = ()


class GitMirror:
    def __init__(self, path: Path, *, branch: str, peers: Mapping[str, str]) -> None:
        self.repo = GitRepository(path, branch=branch)
        self.path = path
        self.branch = branch
        self.peers = dict(peers)

    def configure(self) -> None:
        """The peers as remotes of the bare repository (what the post-receive hook reads)."""
        existing = run_git(self.path, "remote").decode().split()
        for name in existing:
            if name.startswith(REMOTE_PREFIX) and name[len(REMOTE_PREFIX) :] not in self.peers:
                run_git(self.path, "remote", "remove", name)
        for peer, url in self.peers.items():
            remote = remote_name(peer)
            run_git(self.path, "config", f"remote.{remote}.url", url)
            run_git(
                self.path,
                "config",
                f"remote.{remote}.fetch",
                f"+refs/heads/{self.branch}:{self._peer_ref(peer)}",
            )

    def _peer_ref(self, peer: str) -> str:
        return f"refs/peers/{peer}/{self.branch}"

    def fetch(self) -> dict[str, str]:
        """Fetch every peer's branch; the peers that failed, with the reason."""
        failed = {}
        for peer in self.peers:
            try:
                run_git(self.path, "fetch", "--quiet", "--no-tags", remote_name(peer))
            except GitError as exc:
                failed[peer] = str(exc).splitlines()[-1] if str(exc) else "fetch failed"
        return failed

    def heads(self) -> dict[str, str]:
        """``local`` and each fetched peer → its head of the branch."""
        found: dict[str, str] = {}
        local = self.repo.head()
        if local is not None:
            found["local"] = local
        for peer in self.peers:
            out = run_git(self.path, "for-each-ref", "--format=%(objectname)", self._peer_ref(peer))
            sha = out.decode().strip()
            if sha:
                found[peer] = sha
        return found

    def descends(self, old: str, new: str) -> bool:
        return old == new or self.repo.is_ancestor(old, new)

    def has(self, sha: str) -> bool:
        return self.repo.has_commit(sha)

    def behind(self, adopted: str) -> bool:
        """Whether the local branch lacks ``adopted`` (the revision the leader runs)."""
        local = self.repo.head()
        return local is None or not self.has(adopted) or not self.descends(adopted, local)

    def catch_up(self, adopted: str | None = None) -> CatchUp:
        """Fetch, move the local branch to the newest head, push it to peers behind it.
        ``adopted`` (the revision the leader runs) is a head too: never move behind it."""
        unreachable = self.fetch()
        heads = self.heads()
        known = adopted if adopted and self.has(adopted) else None
        candidates = {**heads, "adopted": known} if known else heads
        target = newest(candidates, descends=self.descends, adopted=known, local="local")
        before = heads.get("local")
        if target is not None and target != before:
            args = ["update-ref", f"refs/heads/{self.branch}", target]
            run_git(self.path, *args, *([before] if before else []))
            log.info("branch %s caught up from the peers: %s → %s", self.branch, before, target)
        head = target or before
        pushed = tuple(self._push_lagging(heads, head, unreachable)) if head else ()
        moved = target is not None and target != before
        return CatchUp(before if moved else None, target if moved else None, unreachable, pushed)

    def _push_lagging(
        self, heads: Mapping[str, str], head: str, unreachable: Mapping[str, str]
    ) -> list[str]:
        pushed = []
        for peer in self.peers:
            theirs = heads.get(peer)
            if peer in unreachable or theirs == head:
                continue
            if theirs is not None and not self.repo.is_ancestor(theirs, head):
                continue  # the peer diverged: its own daemon decides, never overwritten here
            try:
                run_git(
                    self.path,
                    "push",
                    "--quiet",
                    remote_name(peer),
                    f"{head}:refs/heads/{self.branch}",
                )
                pushed.append(peer)
            except GitError as exc:
                log.warning("pushing %s to peer %s failed: %s", head[:12], peer, exc)
        return pushed
