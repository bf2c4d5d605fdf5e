"""What one resync of a converged estate's Apps costs over SSH: one exec per App and look
(the ``sh -c`` list of ``reconcilers/app/facts.py``), no SFTP, nothing written. Counted at
the SSH pool for the calls made while an App is observed (the pairs' replication, which
shares the pool, is not counted). Counts, never wall-clock."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from homeport.controller.engine import Outcome
from testkit.harness import EstateHarness, until
from tests.reconcilers.looks import mark_observing, observing

pytestmark = pytest.mark.integration
KINDS = {"Machine", "VM", "App", "StandbyPair", "ProxyRoute"}
POOL_METHODS = ("run", "read_file", "stat", "read_link", "file_sha256", "with_sftp", "stream")


async def test_a_converged_resync_asks_each_app_vm_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.settled(KINDS, timeout=120)
        assert h.daemon is not None and h.daemon.engine is not None
        engine, ssh = h.daemon.engine, h.clients.ssh
        calls: Counter[tuple[str, str]] = Counter()
        commands: list[list[str]] = []

        def counted(method: str) -> Any:
            original = getattr(ssh, method)

            def call(*args: Any, **kwargs: Any) -> Any:
                app = observing.get()
                if app is not None:
                    calls[(app, method)] += 1
                    if method == "run":
                        commands.append(list(args[1]))
                return original(*args, **kwargs)

            return call

        for method in POOL_METHODS:
            monkeypatch.setattr(ssh, method, counted(method))
        mark_observing(h.daemon.reconcilers["App"], monkeypatch)
        outcomes: list[Outcome] = []
        engine.observers.append(lambda outcome, _: outcomes.append(outcome))
        apps = [o.key for o in h.objects() if o.kind == "App"]
        for key in apps:
            engine.queue.add(key)
        await until(lambda: not engine.queue.busy(), what="a resync of every App")

        looks = Counter(o.key[1] for o in outcomes if o.key[0] == "App")
        assert set(looks) == {name for _, name in apps}
        assert all(o.result == "converged" for o in outcomes if o.key[0] == "App"), outcomes
        assert calls == Counter({(app, "run"): n for app, n in looks.items()})
        assert all(argv[:2] == ["sh", "-c"] for argv in commands), commands
