"""Two control planes on a real 3-member etcd cluster, against the simulated estate.

The leader is killed (``kill -9``) in the middle of a convergence; the other plane takes
over and finishes it. Nothing is done twice: in the shared journal no action is recorded
done twice, every entry carries the fencing token of the daemon that made it, the old
token stops where the new one starts, and the simulated Proxmox has one VM per manifest,
each created by exactly one successful clone.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path

import pytest

from tests.controller.ha.planes import Estate, Plane, running_estate
from tests.harness import until

pytestmark = pytest.mark.integration

PLANE_LOCAL_VERBS = {"trust-host-key"}
"""Actions on a control plane's own files (its known_hosts): each plane does them once."""


def vm(name: str, machine: str) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}}}
spec: {{machine: {machine}, cores: 1, memoryMiB: 1024, disk: {{sizeGiB: 16}}}}
"""


def app(name: str) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: {name}}}
spec:
  vm: {name}
  source: {{repo: https://git.example.com/edge/shop.git, ref: main}}
  execStart: /usr/bin/python3 app.py
  port: 8080
  healthCheck: {{path: /healthz, timeoutSeconds: 2}}
---
apiVersion: homeport.dev/v1alpha1
kind: ProxyRoute
metadata: {{name: {name}}}
spec: {{host: {name}.example.com, app: {name}}}
"""


MACHINES = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536}}
---
apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m2}
spec: {node: pve2, capacity: {cores: 16, memoryMiB: 65536}}
"""


def small_estate(count: int) -> dict[str, str | None]:
    files: dict[str, str | None] = {"manifests/machines.yaml": MACHINES}
    for i in range(1, count + 1):
        name = f"web-{i}"
        files[f"manifests/{name}.yaml"] = vm(name, f"m{1 + i % 2}") + "---\n" + app(name)
    return files


def converged(plane: Plane) -> bool:
    objects = plane.objects()
    return bool(objects) and all(
        o.ready and not o.deleting and o.status.observed_generation == o.generation for o in objects
    )


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
    async with running_estate(tmp_path, planes=2) as world:
        cp1, cp2 = world.planes
        try:
            await cp1.start()
            first = await world.wait_leader(timeout=20)
            assert first is cp1
            await cp2.start()
            await until(lambda: cp2.settings.store.path.exists(), timeout=20, what="cp2 up")
            world.push(small_estate(3), "three VMs with apps and routes")
            # Kill the leader with actions in flight: after a few journal entries.
            await until_journal(world, 4, timeout=60)
            leader = await world.view.leader()
            assert leader is not None
            old_token = leader[1]
            assert cp1.daemon is not None
            await cp1.daemon.kill()
            second = await world.wait_leader(timeout=15, not_plane=cp1)
            assert second is cp2
            new = await world.view.leader()
            assert new is not None and new[1] > old_token
            await until(lambda: converged(cp2), timeout=120, what="cp2 converges the estate")
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
