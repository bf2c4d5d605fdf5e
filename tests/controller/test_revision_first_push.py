"""The usual order — ``homeport init``, start the daemon, then the first ``git push`` — adopts
the first push: an empty branch is not a revision, and a history after nothing is no
force-push.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from homeport.controller.approvals import approve
from homeport.controller.clock import FakeClock
from homeport.controller.revisions import RevisionSync
from homeport.controller.store import Store
from homeport.source.hooks import init_repository
from homeport.source.sources import GitSource
from testkit.gitwork import WorkClone, machine

pytestmark = pytest.mark.integration


async def test_the_first_push_after_the_daemon_started_is_adopted(tmp_path: Path) -> None:
    repo = init_repository(tmp_path / "estate.git")
    store = Store.open(tmp_path / "state.db")
    sync = RevisionSync(
        source=GitSource(repo), store=store, clock=FakeClock(), max_prune_fraction=0.5
    )
    try:
        empty = await sync.sync()
        assert empty is None or empty.decision.outcome == "unchanged"
        assert store.revisions.last() is None  # an empty branch is no revision
        work = WorkClone(repo, tmp_path / "work")
        work.write("m.yaml", machine("a"))
        sha = work.commit()
        assert work.push().returncode == 0
        result = await sync.sync()
        assert result is not None
        assert (result.decision.outcome, result.info.sha if result.info else None) == (
            "adopt",
            sha,
        )
        assert [o.name for o in store.objects.all()] == ["a"]
    finally:
        store.close()


def delete_on_server(repo: Path) -> None:
    """Delete the branch as an admin would on the server (a push may not delete it)."""
    subprocess.run(["git", "-C", str(repo), "update-ref", "-d", "refs/heads/main"], check=True)


async def test_a_new_history_after_an_approved_branch_deletion_is_adopted(tmp_path: Path) -> None:
    repo = init_repository(tmp_path / "estate.git")
    store = Store.open(tmp_path / "state.db")
    sync = RevisionSync(
        source=GitSource(repo), store=store, clock=FakeClock(), max_prune_fraction=0.5
    )
    try:
        first = WorkClone(repo, tmp_path / "first")
        first.write("m.yaml", machine("a"))
        first.commit()
        assert first.push().returncode == 0
        assert (await sync.sync()) is not None
        delete_on_server(repo)
        held = await sync.sync()
        assert held is not None and held.decision.outcome == "hold"
        approve(store, "--delete-branch", by="test", now="2026-01-01T00:00:00+00:00")
        deleted = await sync.sync()
        assert deleted is not None and deleted.decision.outcome == "adopt"
        again = WorkClone(repo, tmp_path / "again")  # unrelated history
        again.write("m.yaml", machine("b"))
        again.commit()
        assert again.push().returncode == 0
        result = await sync.sync()
        assert result is not None and result.decision.outcome == "adopt"
        assert {o.name for o in store.objects.all() if not o.deleting} == {"b"}
    finally:
        store.close()
