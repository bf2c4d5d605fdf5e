"""Control planes (daemons as processes) on a real 3-member etcd cluster, against the
simulated estate.

The leader is killed (``kill -9``) in the middle of a convergence; one of the two other
planes takes over and finishes it. Nothing is done twice: in the shared journal no action is recorded
done twice, every entry carries the fencing token of the daemon that made it, the old
token stops where the new one starts, and the simulated Proxmox has one VM per manifest,
each created by exactly one successful clone.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.ha.estate import app_env, converged, small_estate
from testkit.ha.planes import Estate, Plane, running_estate
from testkit.harness import until

pytestmark = pytest.mark.integration

PLANE_LOCAL_VERBS = {"trust-host-key"}
"""Actions on a control plane's own files (its known_hosts): each plane does them once."""


async def journal_problems(world: Estate, tokens: list[int]) -> list[str]:
    entries = await world.view.journal()
    problems = []
    done = Counter(
        e["idempotency_key"]
        for e in entries
        if e["state"] == "done" and e["verb"] not in PLANE_LOCAL_VERBS
    )
    problems += [f"done {n} times: {key}" for key, n in done.items() if n > 1]
    unknown = {e["fencing_token"] for e in entries} - set(tokens)
    if unknown:
        problems.append(f"entries with tokens {sorted(unknown)} (leaders were {tokens})")
    for older, newer in itertools.pairwise(tokens):
        first_new = min(
            (e["started_at"] for e in entries if e["fencing_token"] == newer), default=None
        )
        late = [
            e
            for e in entries
            if e["fencing_token"] == older and first_new is not None and e["started_at"] > first_new
        ]
        problems += [
            f"token {older} acted after token {newer} began: {e['description']}" for e in late
        ]
    return problems


def world_problems(world: Estate) -> list[str]:
    problems = []
    vms = world.world_vms()
    for name in sorted(world.declared_vms()):
        if vms.get(name) != 1:
            problems.append(f"{vms.get(name, 0)} VMs named {name} (want 1)")
    extra = set(vms) - world.declared_vms()
    problems += [f"VM {name} has no manifest" for name in sorted(extra)]
    clones = world.successful_clones()
    if clones != len(world.declared_vms()):
        problems.append(f"{clones} successful clones for {len(world.declared_vms())} VMs")
    return problems


async def test_kill_minus_nine_of_the_leader_mid_convergence(tmp_path: Path) -> None:
    async with running_estate(tmp_path, planes=3) as world:
        cp1, cp2, cp3 = world.planes
        try:
            await cp1.start()
            first = await world.wait_leader(timeout=20)
            assert first is cp1
            await cp2.start()
            await cp3.start()
            await until(
                lambda: cp2.settings.store.path.exists() and cp3.settings.store.path.exists(),
                timeout=20,
                what="cp2 and cp3 up",
            )
            world.push(small_estate(3), "three VMs with apps and routes")
            # Kill the leader with actions in flight: after a few journal entries.
            await until_journal(world, 4, timeout=60)
            leader = await world.view.leader()
            assert leader is not None
            old_token = leader[1]
            assert cp1.daemon is not None
            await cp1.daemon.kill()
            second = await world.wait_leader(timeout=15, not_plane=cp1)
            assert second in (cp2, cp3)
            new = await world.view.leader()
            assert new is not None and new[1] > old_token
            await until(lambda: converged(second), timeout=120, what="the new leader converges")
            problems = await journal_problems(world, [old_token, new[1]])
            problems += world_problems(world)
            assert not problems, "\n".join(problems)
        except BaseException:
            print(world.logs(60))
            raise


async def until_journal(world: Estate, entries: int, *, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(await world.view.journal()) < entries:
        if loop.time() > deadline:
            raise AssertionError(f"fewer than {entries} journal entries after {timeout:g}s")
        await asyncio.sleep(0.01)


def local_events(plane: Plane, reason: str) -> list[str]:
    from homeport.controller.store import Store

    if not plane.settings.store.path.exists():
        return []
    store = Store.open(plane.settings.store.path, readonly=True)
    try:
        return [e.message for e in store.events.recent(500) if e.reason == reason]
    finally:
        store.close()


def cli_status(plane: Plane) -> str:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "homeport", "status", "--config", str(plane.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout + result.stderr


async def raft_leader(world: Estate) -> int:
    for index, member in enumerate(world.cluster.members):
        status = await world.view.client.status(member.url)
        if status.get("leader") == status.get("header", {}).get("member_id"):
            return index
    raise AssertionError("no raft leader")


async def test_paused_leader_and_etcd_member_failures(tmp_path: Path) -> None:
    async with running_estate(tmp_path, planes=2) as world:
        cp1, cp2 = world.planes
        try:
            await cp1.start()
            assert await world.wait_leader(timeout=20) is cp1
            await cp2.start()
            world.push(small_estate(2), "two VMs with apps and routes")
            await until(lambda: converged(cp1), timeout=90, what="cp1 converges")
            first = await world.view.leader()
            assert first is not None

            # -- SIGSTOP the leader mid-change, past its lease; it never acts again after
            world.push(app_env("web-1", "debug"), "web-1 logs at debug")
            before = len(await world.view.journal())
            await until_journal(world, before + 1, timeout=30)
            assert cp1.daemon is not None
            cp1.daemon.signal(signal.SIGSTOP)
            assert await world.wait_leader(timeout=15, not_plane=cp1) is cp2
            second = await world.view.leader()
            assert second is not None and second[1] > first[1]
            await until(lambda: converged(cp2), timeout=60, what="cp2 finishes the change")
            cp1.daemon.signal(signal.SIGCONT)
            paused = cp1.daemon
            await until(
                lambda: any(w in paused.tail(200) for w in ("lost leadership", "stopped acting")),
                timeout=20,
                what="cp1 notices it no longer leads",
            )

            # -- one etcd member down (the raft leader): work goes on
            down = world.cluster.members[await raft_leader(world)]
            world.cluster.stop(down)
            world.push(small_estate(3), "a third VM")
            await until(
                lambda: converged(cp2) and ("VM", "web-3") in {o.key for o in cp2.objects()},
                timeout=90,
                what="the third VM converged on 2 of 3 members",
            )

            # -- two members down: no quorum, every daemon stops acting and says why
            other = next(m for m in world.cluster.members if m.running)
            world.cluster.stop(other)
            await until(
                lambda: all(local_events(p, "CoordinationUnavailable") for p in world.planes),
                timeout=20,
                what="both daemons say etcd is unavailable",
            )
            status = cli_status(cp2)
            assert "no quorum" in status and "1 of 3 members answer" in status, status
            journals = [len(p.journal()) for p in world.planes]
            world.push(app_env("web-2", "debug"), "web-2 logs at debug (not before quorum)")
            await stays(lambda: [len(p.journal()) for p in world.planes] == journals, seconds=4)

            # -- quorum back: the change is applied
            world.cluster.start(down)
            world.cluster.start(other)
            await world.cluster.wait_healthy()
            await until(
                lambda: any(
                    "LOG_LEVEL" in str(o.manifest) and o.ready
                    for p in world.planes
                    for o in p.objects()
                    if o.key == ("App", "web-2")
                ),
                timeout=60,
                what="web-2's change once quorum is back",
            )
            leader = await world.wait_leader(timeout=20)
            await until(lambda: converged(leader), timeout=60, what="convergence after quorum")
            last = await world.view.leader()
            assert last is not None
            tokens = sorted({first[1], second[1], last[1]})
            problems = await journal_problems(world, tokens)
            problems += paused_problems(cp1, first[1], await world.view.journal(), second[1])
            problems += world_problems(world)
            assert not problems, "\n".join(problems)
        except BaseException:
            print(world.logs(80))
            raise


def paused_problems(
    paused: Plane, token: int, shared: list[dict[str, object]], new_token: int
) -> list[str]:
    """Nothing the paused daemon journaled — even only locally — started after its
    successor's first action."""
    starts = [str(e["started_at"]) for e in shared if e["fencing_token"] == new_token]
    if not starts:
        return [f"token {new_token} never acted"]
    first_new = min(starts)
    return [
        f"paused leader acted after losing: {e['description']} at {e['started_at']}"
        for e in paused.journal()
        if e["fencing_token"] == token and str(e["started_at"]) > first_new
    ]


async def stays(condition: Callable[[], bool], *, seconds: float) -> None:
    """``condition`` holds for ``seconds`` (checked every 50 ms): nothing happens meanwhile."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        assert condition(), "changed while it must not"
        await asyncio.sleep(0.05)
