"""A daemon that dies while adopting a revision adopts it after the restart.

The source's last seen head is remembered so an unchanged source is not read again; it
must only be remembered once the revision it names has been recorded and applied, or a
crash in between makes the restarted daemon skip the push for good.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.controller.clock import FakeClock
from homeport.controller.revisions import RevisionSync
from homeport.controller.store import Store
from homeport.source.sources import DirectorySource
from testkit.gitwork import machine


class Killed(BaseException):
    """Stands for ``kill -9``: nothing after it runs."""


def sync_for(folder: Path, store: Store) -> RevisionSync:
    return RevisionSync(
        source=DirectorySource(folder), store=store, clock=FakeClock(), max_prune_fraction=0.5
    )


async def test_a_revision_seen_but_not_applied_is_adopted_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "m.yaml").write_text(machine("a"))
    store = Store.open(tmp_path / "state.db")

    def die(*args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(store.objects, "apply_revision", die)
        with pytest.raises(Killed):
            await sync_for(folder, store).sync()
    store.close()

    restarted = Store.open(tmp_path / "state.db")
    try:
        result = await sync_for(folder, restarted).sync()
        assert result is not None
        assert result.decision.outcome == "adopt"
        assert [o.name for o in restarted.objects.all()] == ["a"]
        assert await sync_for(folder, restarted).sync() is None  # now it is remembered
    finally:
        restarted.close()
