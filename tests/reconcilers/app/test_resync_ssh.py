"""What one resync of a converged estate's Apps costs over SSH: one exec per VM and
window, shared by the Apps on it (the ``sh -c`` list of ``reconcilers/app/facts.py``), no
SFTP, nothing written; a plan that would act asks again for its App alone; a unit stopped
by hand is still started. Counted at the SSH pool for the calls made while an App is
observed (the pairs' replication, which shares the pool, is not counted). Counts, never
wall-clock."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from homeport.controller.engine import Outcome
from homeport.reconcilers.app.facts import VmFacts
from homeport.reconcilers.app.observe import VmLook, ask, facts_key, query_for
from homeport.reconcilers.appfiles import AppPaths
from homeport.reconcilers.base import ReconcileContext
from testkit.harness import EstateHarness, until
from tests.reconcilers.app.estate import deploy_app, shop_manifest
from tests.reconcilers.looks import StaleShared, mark_observing, observing

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
        # At most one exec per App and look: a look shared by the Apps of a VM (one App per
        # VM here) or one taken in the same window before counts none.
        assert {method for _, method in calls} <= {"run"}, calls
        assert all(calls[(app, "run")] <= n for app, n in looks.items()), (calls, looks)
        assert all(argv[:2] == ["sh", "-c"] for argv in commands), commands


SHOP_C = """\
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {name: shop-c}
spec:
  vm: shop-a
  source: {repo: https://git.example.com/edge/shop.git, ref: main}
  execStart: /usr/bin/python3 app.py
  port: 8081
"""


async def stopped_unit(ctx: Any, host: str, name: str) -> VmLook:
    """What a look at the VM taken while ``name``'s unit was stopped would say of it."""
    apps = {a.name: query_for(a, AppPaths.of(a)) for a, _ in ctx.objects("App")}
    fresh = await ask(ctx.clients.ssh, host, apps)
    facts = fresh.facts[name]
    assert isinstance(facts, VmFacts)
    unit = {**facts.unit, "ActiveState": "inactive", "SubState": "dead"}
    return replace(fresh, facts={**fresh.facts, name: replace(facts, unit=unit)})


async def test_the_apps_of_one_vm_share_one_exec_and_act_only_on_a_fresh_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with EstateHarness.running(tmp_path, manifests=None, start_daemon=False) as h:
        vm = "spec: {machine: dell, disk: {sizeGiB: 40}}"
        two = shop_manifest("").replace(vm, vm[:-1] + ", maxApps: 2}") + SHOP_C
        assert "maxApps: 2" in two
        await deploy_app(h, two)
        await h.settled({"Machine", "VM", "App"}, timeout=120)
        assert h.daemon is not None and h.daemon.engine is not None
        engine, ssh = h.daemon.engine, h.clients.ssh
        commands: list[list[str]] = []
        run = ssh.run

        def counted(*args: Any, **kwargs: Any) -> Any:
            if observing.get() is not None:
                commands.append(list(args[1]))
            return run(*args, **kwargs)

        monkeypatch.setattr(ssh, "run", counted)
        reconciler = h.daemon.reconcilers["App"]
        mark_observing(reconciler, monkeypatch)
        # One window for the whole resync, whatever the machine's speed.
        engine.context.ttl = 3600.0
        engine.context.invalidate_all()
        outcomes: list[Outcome] = []
        engine.observers.append(lambda outcome, _: outcomes.append(outcome))
        for name in ("shop-a", "shop-c"):
            engine.queue.add(("App", name))
        await until(lambda: not engine.queue.busy(), what="a resync of both Apps")
        assert {o.key[1] for o in outcomes if o.key[0] == "App"} == {"shop-a", "shop-c"}
        assert all(o.result == "converged" for o in outcomes if o.key[0] == "App"), outcomes
        assert len(commands) == 1, commands  # one exec asked both Apps' facts
        assert "shop-a:releases" in commands[0][2] and "shop-c:releases" in commands[0][2]

        # A plan made on a stale shared look (the unit stopped) looks again, alone.
        vm = h.object("VM", "shop-a")
        obj = h.object("App", "shop-c")
        assert vm is not None and obj is not None
        address = str(vm.status.details["address"])
        inner = engine.context.for_object(("App", "shop-c"))
        stale_look = await stopped_unit(inner, address, "shop-c")

        async def served() -> VmLook:
            return stale_look

        stale = StaleShared(inner, facts_key("shop-a", address), served)
        commands.clear()
        seen = await reconciler.observe(obj.resource(), "shop-c", cast(ReconcileContext, stale))
        assert stale.loads == 1 and seen.active_state == "active"
        assert reconciler.plan(obj.resource(), seen, now=inner.now()).actions == ()
        assert len(commands) == 1 and "shop-a:releases" not in commands[0][2]

        # Drift is still seen: a unit stopped by hand is started at the next window.
        await run(address, ["systemctl", "stop", "homeport-shop-c.service"])
        engine.context.invalidate_all()  # the window of the last look is over
        engine.queue.add(("App", "shop-c"))
        await until(lambda: not engine.queue.busy(), what="the App's reconcile")
        state = await run(address, ["systemctl", "is-active", "homeport-shop-c.service"])
        assert state.text.strip() == "active"
