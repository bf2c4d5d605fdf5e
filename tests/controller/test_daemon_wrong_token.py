"""A daemon whose Proxmox token is wrong: every object that reaches Proxmox is Stalled
with the fix, the log has warnings and no traceback, and nothing retries in a hot loop
(before, each reconcile logged a traceback and was retried forever with backoff)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration


async def test_a_wrong_proxmox_token_stalls_with_the_fix_and_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with EstateHarness.running(tmp_path, start_daemon=False) as h:
        h.settings.proxmox.token_file.write_text("00000000-0000-0000-0000-000000000000\n")
        await h.start_daemon()
        await until(lambda: bool(h.objects()), what="the estate adopted")
        machines = [o for o in h.objects() if o.kind == "Machine"]
        assert machines

        def all_stalled() -> bool:
            return all(h.object("Machine", m.name).condition("Stalled") == "True" for m in machines)  # type: ignore[union-attr]

        await until(all_stalled, timeout=60, what="every Machine Stalled")
        assert h.daemon is not None and h.daemon.engine is not None
        for machine in machines:
            obj = h.object("Machine", machine.name)
            assert obj is not None
            stalled = next(c for c in obj.status.conditions if c.type == "Stalled")
            assert stalled.reason == "ProxmoxAuthFailed"
            assert "check `[proxmox] token_file`" in stalled.message
            # Not requeued: it waits for a change or `homeport reconcile`.
            assert h.daemon.engine.queue.due_at(machine.key) is None
        tracebacks = [r for r in caplog.records if r.exc_info]
        assert not tracebacks, [r.getMessage() for r in tracebacks]
