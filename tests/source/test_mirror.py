"""Git between control planes: ``newest`` (which head to follow) and ``GitMirror`` on real
bare repositories, with the post-receive hook mirroring a push to the other planes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from homeport.source.hooks import init_repository
from homeport.source.mirror import GitMirror, newest
from testkit.gitwork import WorkClone
from testkit.harness import until

# A history: a → b → c, and a → x (a force-pushed lineage).
PARENTS = {"a": None, "b": "a", "c": "b", "x": "a"}


def descends(old: str, new: str) -> bool:
    node: str | None = new
    while node is not None:
        if node == old:
            return True
        node = PARENTS[node]
    return False


@pytest.mark.parametrize(
    ("heads", "adopted", "expected"),
    [
        ({"local": "b", "cp2": "c"}, None, "c"),  # a peer is ahead: fast-forward
        ({"local": "c", "cp2": "b"}, None, "c"),  # the peer lags: keep ours
        ({"local": "c", "cp2": "x"}, None, "c"),  # diverged, nothing known: ours
        ({"local": "b", "cp2": "x"}, "x", "x"),  # ours is a stale lineage: the running one
        ({"local": "a", "cp2": "b", "cp3": "c"}, "b", "c"),  # the newest that runs on
        ({"local": "c", "cp2": "x", "cp3": "x"}, "x", "x"),
    ],
)
def test_newest(heads: dict[str, str], adopted: str | None, expected: str) -> None:
    assert newest(heads, descends=descends, adopted=adopted, local="local") == expected


def planes(tmp_path: Path, names: list[str]) -> dict[str, GitMirror]:
    repos = {n: tmp_path / n / "estate.git" for n in names}
    mirrors = {}
    for name, repo in repos.items():
        init_repository(repo)
        peers = {other: str(path) for other, path in repos.items() if other != name}
        mirrors[name] = GitMirror(repo, branch="main", peers=peers)
        mirrors[name].configure()
    return mirrors


def head(mirror: GitMirror) -> str | None:
    return mirror.repo.head()


@pytest.mark.integration
async def test_a_push_to_one_plane_reaches_the_others(tmp_path: Path) -> None:
    mirrors = planes(tmp_path, ["cp1", "cp2", "cp3"])
    work = WorkClone(mirrors["cp1"].path, tmp_path / "work")
    work.write("manifests/m.yaml", "")
    sha = work.commit("first")
    assert work.push().returncode == 0
    await until(
        lambda: all(head(m) == sha for m in mirrors.values()),
        timeout=30,
        what="the push mirrored by post-receive",
    )
    # A force-push is mirrored as such (the peers had the old head).
    work.git("commit", "-q", "--amend", "-m", "rewritten")
    rewritten = work.git("rev-parse", "HEAD").stdout.strip()
    assert work.push(force=True).returncode == 0
    await until(
        lambda: all(head(m) == rewritten for m in mirrors.values()),
        timeout=30,
        what="the force-push mirrored",
    )


@pytest.mark.integration
def test_a_plane_that_was_down_catches_up_and_helps_a_lagging_one(tmp_path: Path) -> None:
    mirrors = planes(tmp_path, ["cp1", "cp2"])
    cp1, cp2 = mirrors["cp1"], mirrors["cp2"]
    # cp2 "was down": its repository never got cp1's push (no peers configured meanwhile).
    subprocess.run(
        ["git", "--git-dir", str(cp1.path), "remote", "remove", "homeport-peer-cp2"], check=True
    )
    work = WorkClone(cp1.path, tmp_path / "work")
    work.write("manifests/m.yaml", "")
    first = work.commit("first")
    assert work.push().returncode == 0
    assert head(cp2) is None
    result = cp2.catch_up()
    assert result.moved_to == first and head(cp2) == first
    # Now cp2 gets a push that cp1 misses; cp2's catch-up pushes it to the lagging cp1.
    work.git("remote", "set-url", "origin", str(cp2.path))
    work.write("manifests/n.yaml", "")
    second = work.commit("second")
    subprocess.run(
        ["git", "--git-dir", str(cp2.path), "remote", "remove", "homeport-peer-cp1"], check=True
    )
    assert work.push().returncode == 0
    cp2.configure()
    assert cp2.catch_up().pushed == ("cp1",)
    assert head(cp1) == second
    # A peer that cannot be reached is reported, not fatal.
    lonely = GitMirror(cp1.path, branch="main", peers={"gone": str(tmp_path / "nowhere.git")})
    lonely.configure()
    assert "gone" in lonely.catch_up().unreachable
