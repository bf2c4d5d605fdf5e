"""The pre-receive hook with its per-file cache, through real git, and the daemon's reuse.

A push is judged the same with the cache warm, cold or deleted, and only an accepted one
is saved in it; hooks running at once
(pushes to the repository at the same time) each answer as alone and leave a cache that
is whole; the daemon parses only the files a pushed revision changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from homeport.controller.clock import FakeClock
from homeport.controller.revisions import RevisionSync
from homeport.controller.store import Store
from homeport.services.ha.revision_follow import RevisionFollower
from homeport.source import validate
from homeport.source.file_cache import CACHE_FILE, DIRECTORY, CachedFiles, code_fingerprint
from homeport.source.file_results import FileKey, FileResult
from homeport.source.git import ZERO_SHA, GitRepository
from homeport.source.hooks import init_repository
from homeport.source.limits import SourceLimits
from homeport.source.sources import GitSource
from testkit.gitwork import WorkClone
from tests.source.estates import SECRET, app, machine, route, vm

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ESTATE = {
    "machines/a.yaml": machine("a"),
    "vms/a.yaml": vm("a", "a", 512) + "---\n" + app("a", "a", 8080, "info"),
    "vms/b.yaml": vm("b", "a", 512) + "---\n" + app("b", "b", 8080, "info"),
    "routes.yaml": route("a", "a", "shop") + "---\n" + route("b", "b", "blog"),
}
# Changes pushed on top of ESTATE: valid, broken alone, broken together, a secret.
CHANGES = {
    "memory": {"vms/a.yaml": ESTATE["vms/a.yaml"].replace("512", "1024")},
    "syntax": {"vms/b.yaml": "kind: VM\nmetadata: {name: vm-b\n"},
    "clash": {"routes.yaml": route("a", "a", "shop") + "---\n" + route("b", "b", "shop")},
    "secret": {"vms/a.yaml": ESTATE["vms/a.yaml"].replace("LOG_LEVEL: info", f"TOKEN: {SECRET}")},
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repository(tmp_path / "estate.git")


def commit(work: WorkClone, files: dict[str, str], base: str | None = None) -> str:
    if base is not None:
        work.git("checkout", "-q", "--detach", base)
    for name, text in files.items():
        work.write(name, text)
    return work.commit()


def run_hook(repo: Path, update: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "homeport.source.hook_entry", "pre-receive"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "GIT_DIR": str(repo)},
        cwd=repo,
    )


def answer(hook: subprocess.Popen[str], update: str) -> tuple[int, str]:
    _, stderr = hook.communicate(update + "\n", timeout=120)
    return hook.returncode, stderr


def cold_answer(repo: Path, update: str) -> tuple[int, str]:
    shutil.rmtree(repo / DIRECTORY, ignore_errors=True)
    return answer(run_hook(repo, update), update)


def test_pushes_are_judged_alike_warm_and_cold(repo: Path, tmp_path: Path) -> None:
    work = WorkClone(repo, tmp_path / "work")
    base = commit(work, ESTATE)
    assert work.push().returncode == 0
    cache = repo / DIRECTORY / CACHE_FILE
    assert cache.exists()
    for name, change in CHANGES.items():
        sha = commit(work, change, base)
        work.git("push", "-q", "origin", f"{sha}:refs/heads/side-{name}")  # keeps the objects
        before = cache.read_bytes()
        pushed = work.push(force=True)
        refused = pushed.returncode != 0
        assert refused == (name != "memory"), name
        assert name != "secret" or "holds a GitHub token" in pushed.stderr
        update = f"{base} {sha} refs/heads/main"
        # The same objects judged again by the hook, cache warm, then deleted.
        warm = answer(run_hook(repo, update), update)
        assert not refused or cache.read_bytes() == before  # a refused push leaves no trace
        assert warm == cold_answer(repo, update), name
        if not refused:
            reset = work.git("push", "-q", "--force", "origin", f"{base}:refs/heads/main")
            assert reset.returncode == 0
        again = f"{base} {base} refs/heads/main"
        assert answer(run_hook(repo, again), again)[0] == 0  # warm for the next change
        assert SECRET not in cache.read_text()


def test_hooks_at_once_answer_as_alone_and_leave_a_whole_cache(repo: Path, tmp_path: Path) -> None:
    work = WorkClone(repo, tmp_path / "work")
    base = commit(work, ESTATE)
    assert work.push().returncode == 0
    updates = []
    for index, change in enumerate(CHANGES.values()):
        sha = commit(work, change, base)
        work.git("push", "-q", "origin", f"{sha}:refs/heads/side-{index}")  # not validated
        updates.append(f"{base} {sha} refs/heads/main")
    alone = {update: cold_answer(repo, update) for update in updates}
    assert [code for code, _ in alone.values()] == [0, 1, 1, 1]
    for _ in range(2):
        hooks = [(update, run_hook(repo, update)) for update in updates * 2]
        assert {update: answer(hook, update) for update, hook in hooks} == alone
    assert sorted(p.name for p in (repo / DIRECTORY).iterdir()) == [CACHE_FILE]
    tree = GitRepository(repo).read_manifests(base)
    keys = [FileKey.of(name, raw, SourceLimits()) for name, raw in tree.files]
    held = CachedFiles(repo / DIRECTORY, code_fingerprint()).recall(keys)
    assert {"machines/a.yaml"} <= {key.name for key in held}  # well formed, and used


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files validation parses from now on, in order."""
    parsed: list[str] = []
    parse_file = validate.parse_file

    def counted(name: str, raw: bytes, limits: SourceLimits) -> FileResult:
        parsed.append(name)
        return parse_file(name, raw, limits)

    monkeypatch.setattr(validate, "parse_file", counted)
    return parsed


async def test_the_daemon_parses_only_what_a_revision_changed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = WorkClone(repo, tmp_path / "work")
    commit(work, ESTATE)
    assert work.push().returncode == 0
    parsed = count_parses(monkeypatch)
    store = Store.open(tmp_path / "state.db")
    sync = RevisionSync(
        source=GitSource(repo), store=store, clock=FakeClock(), max_prune_fraction=0.5
    )
    first = await sync.sync()
    assert first is not None and first.decision.outcome == "adopt"
    assert sorted(parsed) == sorted(ESTATE)
    parsed.clear()
    commit(work, CHANGES["memory"])
    assert work.push().returncode == 0
    second = await sync.sync()
    assert second is not None and second.decision.outcome == "adopt"
    assert parsed == ["vms/a.yaml"]
    assert ("VM", "vm-a") in second.touched
    store.close()


async def test_a_following_control_plane_parses_only_what_a_revision_changed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = WorkClone(repo, tmp_path / "work")
    first = commit(work, ESTATE)
    parsed = count_parses(monkeypatch)
    assert work.push().returncode == 0
    store = Store.open(tmp_path / "state.db")
    follower = RevisionFollower(
        store=store, source=GitSource(repo), mirror=None, clock=FakeClock(), leading=lambda: False
    )
    assert await follower.apply({"sha": first})
    assert sorted(parsed) == sorted(ESTATE)
    parsed.clear()
    second = commit(work, CHANGES["memory"])
    assert work.push().returncode == 0
    assert await follower.apply({"sha": second})
    assert parsed == ["vms/a.yaml"]
    assert store.objects.get(("VM", "vm-a")) is not None
    store.close()


def test_a_first_push_needs_no_cache(repo: Path, tmp_path: Path) -> None:
    work = WorkClone(repo, tmp_path / "work")
    sha = commit(work, ESTATE)
    assert work.push().returncode == 0
    update = f"{ZERO_SHA} {sha} refs/heads/main"
    code, stderr = cold_answer(repo, update)
    assert code == 0 and "homeport: 7 objects valid" in stderr
