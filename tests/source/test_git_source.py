"""The control plane's repository through real git: hooks, reading trees, adoption rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from homeport.controller.clock import FakeClock
from homeport.controller.revisions import RevisionSync
from homeport.controller.store import Store
from homeport.source.git import run_git
from homeport.source.hooks import init_repository
from homeport.source.sources import GitSource
from tests.gitwork import WorkClone, machine

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repository(tmp_path / "estate.git")


@pytest.fixture
def work(repo: Path, tmp_path: Path) -> WorkClone:
    return WorkClone(repo, tmp_path / "work")


@pytest.fixture
def sync(repo: Path, tmp_path: Path) -> RevisionSync:
    store = Store.open(tmp_path / "state.db")
    return RevisionSync(
        source=GitSource(repo), store=store, clock=FakeClock(), max_prune_fraction=0.5
    )


def test_valid_push_is_accepted_and_read_at_the_commit(work: WorkClone, repo: Path) -> None:
    work.write("machines/a.yaml", machine("a"))
    sha = work.commit()
    result = work.push()
    assert result.returncode == 0, result.stderr
    assert "1 objects valid" in result.stderr
    work.write("machines/a.yaml", "this is not pushed")  # a dirty work tree must not matter
    files = GitSource(repo).files(sha)
    assert files == [("machines/a.yaml", machine("a").encode())]


def test_invalid_push_is_rejected_with_file_and_line(work: WorkClone, repo: Path) -> None:
    work.write("a.yaml", machine("a").replace("cores: 8", "cores: eight"))
    work.commit()
    result = work.push()
    assert result.returncode != 0
    assert "remote: a.yaml:4: Machine/a: spec.capacity.cores" in result.stderr
    assert "push rejected" in result.stderr
    assert GitSource(repo).head() is None  # nothing reached the branch


async def test_adopts_a_valid_revision_and_records_it(work: WorkClone, sync: RevisionSync) -> None:
    work.write("a.yaml", machine("a") + "---\n" + machine("b"))
    sha = work.commit()
    work.push()
    result = await sync.sync()
    assert result is not None
    assert result.decision.outcome == "adopt"
    assert result.touched == {("Machine", "a"), ("Machine", "b")}
    assert sync.store.revisions.last("adopted").sha == sha  # type: ignore[union-attr]
    assert await sync.sync() is None  # nothing new


async def test_renaming_and_moving_files_prunes_nothing(
    work: WorkClone, sync: RevisionSync
) -> None:
    work.write("a.yaml", machine("a"))
    work.write("b.yaml", machine("b"))
    work.commit()
    work.push()
    await sync.sync()
    work.git("mv", "a.yaml", "renamed.yaml")
    (work.path / "folder").mkdir()
    work.git("mv", "b.yaml", "folder/b.yml")
    work.commit("rename")
    work.push()
    result = await sync.sync()
    assert result is not None
    assert result.decision.outcome == "adopt"
    assert result.decision.prunes == frozenset()
    assert result.touched == set()  # identity is kind/name, so nothing changed
    assert sync.store.objects.get(("Machine", "b")).file == "folder/b.yml"  # type: ignore[union-attr]


async def test_force_push_is_held_until_approved(work: WorkClone, sync: RevisionSync) -> None:
    work.write("a.yaml", machine("a"))
    work.commit()
    work.push()
    await sync.sync()
    work.git("commit", "-q", "--amend", "-m", "rewritten")
    rewritten = work.git("rev-parse", "HEAD").stdout.strip()
    assert work.push(force=True).returncode == 0
    result = await sync.sync()
    assert result is not None
    assert (result.decision.outcome, result.decision.reason) == ("hold", "ForcePush")
    sync.approve(rewritten[:10])
    result = await sync.sync()
    assert result is not None
    assert result.decision.outcome == "adopt"


async def test_mass_prune_and_empty_revisions_are_held(work: WorkClone, sync: RevisionSync) -> None:
    for name in "abcd":
        work.write(f"{name}.yaml", machine(name))
    work.commit()
    work.push()
    await sync.sync()
    for name in "abc":
        work.remove(f"{name}.yaml")
    work.commit("remove three")
    work.push()
    result = await sync.sync()
    assert result is not None
    assert (result.decision.outcome, result.decision.reason) == ("hold", "MassPrune")
    assert sync.store.objects.get(("Machine", "a")) is not None
    assert not sync.store.objects.get(("Machine", "a")).deleting  # type: ignore[union-attr]
    work.remove("d.yaml")
    work.commit("empty")
    work.push()
    result = await sync.sync()
    assert result is not None
    assert (result.decision.outcome, result.decision.reason) == ("hold", "EmptyRevision")


async def test_branch_deletion_is_held(work: WorkClone, sync: RevisionSync) -> None:
    work.write("a.yaml", machine("a"))
    work.commit()
    work.push()
    await sync.sync()
    # git itself refuses to delete the current branch over a push; an admin can still
    # delete the ref on the server, and the daemon must hold that too.
    assert work.delete_branch().returncode != 0
    run_git(sync.source.repo.path, "update-ref", "-d", "refs/heads/main")  # type: ignore[attr-defined]
    result = await sync.sync()
    assert result is not None
    assert (result.decision.outcome, result.decision.reason) == ("hold", "BranchDeleted")
    assert not sync.store.objects.get(("Machine", "a")).deleting  # type: ignore[union-attr]


def test_hooks_quote_an_interpreter_path_and_a_folder_with_spaces_and_dollars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``homeport init`` writes the interpreter path and the options into a shell script:
    unquoted, a space split them into more words and ``$(...)`` ran as a command."""
    interpreter = tmp_path / "my python" / "python3"
    interpreter.parent.mkdir()
    interpreter.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    interpreter.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(interpreter))
    folder = "my estate $(touch pwned)"
    repo = init_repository(tmp_path / "estate.git", subdir=folder)
    work = WorkClone(repo, tmp_path / "work")
    work.write(f"{folder}/machines/a.yaml", machine("a").replace("node: a", "node: [a"))
    work.commit()
    rejected = work.push()
    assert rejected.returncode != 0
    assert "push rejected" in rejected.stderr
    assert "machines/a.yaml:" in rejected.stderr
    work.write(f"{folder}/machines/a.yaml", machine("a"))
    work.commit()
    accepted = work.push()
    assert accepted.returncode == 0, accepted.stderr
    assert "homeport: 1 objects valid" in accepted.stderr
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()
