"""The control plane's repository through real git: hooks, reading trees, adoption rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from homeport.controller.approvals import NotHeld, approve, held_items
from homeport.controller.clock import FakeClock
from homeport.controller.revisions import RevisionSync
from homeport.controller.store import Store
from homeport.source.git import ZERO_SHA, run_git
from homeport.source.hooks import init_repository, pre_receive
from homeport.source.sources import GitSource
from homeport.source.validate import validate_paths
from testkit.gitwork import WorkClone, machine

pytestmark = pytest.mark.integration
NOW = "2026-01-01T00:00:00+00:00"


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
    files = GitSource(repo).files(sha).files
    assert files == [("machines/a.yaml", machine("a").encode())]


def test_nothing_in_the_repository_can_stand_in_for_homeports_modules(
    work: WorkClone, repo: Path
) -> None:
    # git runs hooks in the bare repository; `python -m` would put that folder first on
    # sys.path, so a `homeport.py` (or a `homeport/` folder, such as the hook's own cache
    # once was) there would be imported instead of homeport.
    (repo / "homeport.py").write_text("raise SystemExit('an impostor ran')\n")
    work.write("machines/a.yaml", machine("a"))
    work.commit()
    result = work.push()
    assert result.returncode == 0, result.stderr
    assert "impostor" not in result.stderr
    assert "1 objects valid" in result.stderr


def test_a_revision_whose_files_cannot_be_read_is_refused_with_a_message(repo: Path) -> None:
    missing = "1234567890abcdef1234567890abcdef12345678"  # no such object in the repository
    code, messages = pre_receive(
        repo, [f"{ZERO_SHA} {missing} refs/heads/main"], branch="main", subdir="."
    )
    assert code == 1
    assert messages[-1].startswith("homeport: push rejected: cannot read the manifests of 123456")
    assert "git fsck" in messages[-1]


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
    with pytest.raises(NotHeld, match=f"held: {rewritten} \\(ForcePush\\)"):
        approve(sync.store, rewritten[:10], by="test", now=NOW)  # a prefix is not a name
    approve(sync.store, rewritten, by="test", now=NOW)
    result = await sync.sync()
    assert result is not None
    assert result.decision.outcome == "adopt"
    assert sync.approvals() == frozenset()  # consumed by the adoption
    assert held_items(sync.store) == []


async def test_an_approval_expires_with_its_hold(work: WorkClone, sync: RevisionSync) -> None:
    work.write("a.yaml", machine("a"))
    work.commit()
    work.push()
    await sync.sync()
    work.git("commit", "-q", "--amend", "-m", "rewritten")
    first = work.git("rev-parse", "HEAD").stdout.strip()
    work.push(force=True)
    assert (await sync.sync()) is not None
    work.git("commit", "-q", "--amend", "-m", "rewritten again")
    second = work.git("rev-parse", "HEAD").stdout.strip()
    work.push(force=True)
    approve(sync.store, first, by="test", now=NOW)  # approved just as it is superseded
    result = await sync.sync()
    assert result is not None and result.decision.outcome == "hold"
    assert sync.approvals() == frozenset()  # the approval went with its hold
    assert [h.id for h in held_items(sync.store)] == [second]
    with pytest.raises(NotHeld):
        approve(sync.store, first, by="test", now=NOW)
    approve(sync.store, second, by="test", now=NOW)
    result = await sync.sync()
    assert result is not None and result.decision.outcome == "adopt"


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


SYMLINK_REFUSED = (
    "Unknown/-: a symbolic link{to}: homeport never follows links (git keeps only the link, "
    "so the daemon would not read what this copy reads) (replace the link with the file "
    "itself, or move the file here)"
)


def _push_past_the_hook(work: WorkClone, repo: Path) -> str:
    """Land the work clone's HEAD on main as an admin could (the hook only guards pushes)."""
    sha = work.git("rev-parse", "HEAD").stdout.strip()
    assert work.git("push", "-q", "origin", "HEAD:refs/heads/side").returncode == 0
    run_git(repo, "update-ref", "refs/heads/main", sha)
    return sha


async def test_a_symlinked_manifest_is_refused_by_validate_the_hook_and_adoption_alike(
    work: WorkClone, repo: Path, sync: RevisionSync, tmp_path: Path
) -> None:
    work.write("machines/a.yaml", machine("a"))
    work.write("elsewhere/inference.yaml.txt", machine("b"))
    work.commit("two machines, b kept outside the manifests")
    assert work.push().returncode == 0
    await sync.sync()
    (work.path / "apps").mkdir()
    (work.path / "apps" / "inference.yaml").symlink_to("../elsewhere/inference.yaml.txt")
    work.commit("b through a link")
    refused = "apps/inference.yaml:1: " + SYMLINK_REFUSED.format(
        to=" to ../elsewhere/inference.yaml.txt"
    )
    local = validate_paths([work.path / "apps"])
    assert [e.render() for e in local.errors] == [f"{work.path}/{refused}"]
    pushed = work.push()
    assert pushed.returncode != 0
    assert f"remote: {refused}" in pushed.stderr
    sha = _push_past_the_hook(work, repo)
    result = await sync.sync()
    assert result is not None
    assert result.decision.outcome == "reject"
    assert [e.render() for e in result.errors] == [refused]
    assert sync.store.revisions.last("rejected").sha == sha  # type: ignore[union-attr]
    assert not sync.store.objects.get(("Machine", "a")).deleting  # type: ignore[union-attr]


def test_a_manifest_the_daemon_would_not_read_is_refused_at_push(work: WorkClone) -> None:
    work.write("a.yaml", machine("a"))
    work.write("apps/b.YAML", machine("b"))
    work.write(".c.yaml", machine("c"))
    work.write("d.json", '{"apiVersion": "homeport.dev/v1alpha1"}')
    work.write(".github/workflows/ci.yml", "on: push\n")
    work.commit()
    result = work.push()
    assert result.returncode != 0
    problems = [line for line in result.stderr.splitlines() if "Unknown/-" in line]
    assert [p.split(": ", 2)[1] for p in problems] == [".c.yaml:1", "apps/b.YAML:1", "d.json:1"]


def test_sizes_are_checked_before_reading_and_limits_come_from_git_config(
    work: WorkClone, repo: Path
) -> None:
    work.write("big.yaml", "# padding\n" * 500_000)  # 5 MB, over the 4 MiB default
    work.write("a.yaml", machine("a"))
    work.commit()
    result = work.push()
    assert "remote: big.yaml:1: Unknown/-: file is 4.8 MiB, larger than the 4.0 MiB limit" in (
        result.stderr
    )
    work.remove("big.yaml")
    work.write("b.yaml", machine("b"))
    work.commit("small again")
    run_git(repo, "config", "homeport.maxEstateBytes", "150")
    result = work.push()
    assert result.returncode != 0
    assert "more than the estate limit of 150 bytes" in result.stderr
    run_git(repo, "config", "homeport.maxEstateBytes", "1000")
    run_git(repo, "config", "homeport.maxObjects", "1")
    assert "the estate has 2 objects, more than the limit of 1" in work.push().stderr
    run_git(repo, "config", "homeport.maxObjects", "many")
    assert "git config homeport.maxobjects = 'many' is not a positive whole number" in (
        work.push().stderr
    )
    run_git(repo, "config", "--unset", "homeport.maxObjects")
    assert work.push().returncode == 0
    # Raised limits hold everywhere: nothing further down applies the 4 MiB default.
    work.write("big.yaml", "# padding\n" * 500_000)
    work.commit("big again")
    assert "larger than the 4.0 MiB limit" in work.push().stderr
    run_git(repo, "config", "homeport.maxFileBytes", str(6 << 20))
    run_git(repo, "config", "homeport.maxEstateBytes", str(7 << 20))
    result = work.push()
    assert result.returncode == 0, result.stderr


def test_a_manifests_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    work = WorkClone(init_repository(tmp_path / "sub.git", subdir="manifests"), tmp_path / "w")
    work.write("real/a.yaml", machine("a"))
    work.path.joinpath("manifests").symlink_to("real")
    work.commit()
    result = work.push()
    assert result.returncode != 0
    assert "remote: manifests:1: Unknown/-: a symbolic link to real: " in result.stderr


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
