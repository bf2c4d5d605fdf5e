"""Benchmark: how fast homeport converges a simulated estate, and what a resync costs.

Against the simulator (Proxmox VE API over HTTPS, one SSH guest per VM, the tailnet API and
a real Caddy), run in a child process of its own (``--no-sim-process``: on the daemon's
event loop, like the integration tests), with the daemon in this process, it prints:

1. cold convergence of synthetic estates of 100 and 1000 objects: Machines (one per
   Proxmox node), VMs cloned from the node's template and joined to the tailnet, Apps
   (one per VM, on three VMs out of four; the rest are bare VMs) and one public
   ProxyRoute per App; from ``git push`` until every object is Ready, with the CPU
   seconds this process (the daemon) spent, per object. The routes leave Caddy's active
   upstream health checks off: hundreds of upstreams checked every 5 s would load the
   simulator, not homeport;
2. push-to-converged latency of one changed object among the largest estate: in turn
   one App's env (new EnvironmentFile, restart, health check), one bare VM's memory
   (config change, pending → reboot, guest agent) and one route's host (Caddy's route and
   TLS policy); from the start of ``git push`` until that object is Ready at its new
   generation (and the world shows the change);
3. the external calls of one full resync once converged, per kind of call, from the
   clients' ``CallStats`` (Proxmox, Caddy, Tailscale) and counting wrappers around the SSH
   pool, the HTTP prober and ``git ls-remote``: reads, and mutations, which must be 0;
   with its wall time and the daemon's CPU seconds;
4. the peak resident memory of this process per estate (the daemon and the benchmark's
   driver; the simulator, Caddy and git run in processes of their own and are excluded).

    .venv/bin/python bench/converge.py [--quick] [--sizes 100,1000] [--changes 24]
        [--no-sim-process]
    .venv/bin/python bench/converge.py --sizes 5000 --changes 100   # opt-in, about an hour

``--sizes`` above 1000 raises the open-file limit to its hard limit (the simulator serves
a few sockets per VM) and gives the cold convergence 2 s per object before it gives up.

Percentiles: p99 is printed only over at least 100 samples; below that, the maximum
(``bench/stats.py``).

``--quick`` (a smoke test) converges 20 objects and times 4 changes. Exit status 0, or 1
when a resync of the converged estate mutated anything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import multiprocessing
import os
import re
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

# Run as a script (``python bench/converge.py``): the checkout's packages first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.estate import GIT_ENV, Shape, estate_files, route_host, unit_file
from bench.profiling import Phase, Profiling
from bench.stages import STAGES, Reconcile, Step, since, stages
from bench.stats import spread
from homeport.controller.config import Settings, load_settings
from homeport.controller.daemon import Daemon
from homeport.controller.memory import limit_arenas, tune_for_daemon
from homeport.controller.store import Key
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.reconcilers.app import observe as app_observe
from homeport.simulator.settings import EstateConfig, Timings
from homeport.simulator.shell_lists import command_list
from homeport.simulator.tomltext import render_toml
from homeport.source.hooks import init_repository

TIMINGS = Timings(full_clone_per_32g=4.0, guest_boot=2.0, start=0.5, shutdown=1.0)


# -- git --------------------------------------------------------------------------------
class WorkTree:
    """The operator's clone of the control plane's repository."""

    def __init__(self, remote: Path, path: Path) -> None:
        self.path = path
        self.head = ""
        self.pushed = 0.0
        path.mkdir(parents=True)
        self.git("init", "-q", "--initial-branch=main")
        self.git("remote", "add", "origin", str(remote))

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.path), *args], env=GIT_ENV, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {args[0]} failed:\n{result.stderr}")
        return result.stdout.strip()

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    async def push(self, message: str) -> float:
        """Commit everything and push (the pre-receive hook validates); seconds it took."""
        started = time.perf_counter()
        await asyncio.to_thread(self._push, message)
        self.pushed = time.perf_counter() - started
        return self.pushed

    def _push(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", "HEAD:refs/heads/main")
        self.head = self.git("rev-parse", "HEAD")


# -- watching convergence ---------------------------------------------------------------
class StoreView:
    """Read-only, cheap looks at the daemon's objects table (no model parsing)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def rows(self, where: str = "", params: tuple[Any, ...] = ()) -> list[tuple[str, str, bool]]:
        """(kind, name, ready at its current generation) of every live object."""
        result = []
        for kind, name, generation, deleting, status in self.db.execute(
            f"SELECT kind, name, generation, deleting, status FROM objects {where}", params
        ):
            if deleting:
                continue
            data = json.loads(status or "{}")
            observed = data.get("observed_generation", data.get("observedGeneration"))
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in data.get("conditions", [])
            )
            result.append((kind, name, ready and observed == generation))
        return result

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per kind, live objects and those Ready at their generation, counted by SQLite
        (its JSON functions): the cold convergence's poll parsed every status in Python,
        on the daemon's event loop and in its CPU figure."""
        return {
            kind: (int(total), int(ready))
            for kind, total, ready in self.db.execute(
                "SELECT kind, count(*), sum(ready) FROM (SELECT kind, ("
                " coalesce(json_extract(status, '$.observed_generation'),"
                "  json_extract(status, '$.observedGeneration')) = generation"
                " AND EXISTS (SELECT 1 FROM json_each(status, '$.conditions')"
                "  WHERE json_extract(value, '$.type') = 'Ready'"
                "  AND json_extract(value, '$.status') = 'True')) AS ready"
                " FROM objects WHERE NOT deleting) GROUP BY kind"
            )
        }

    def ready(self, kind: str, name: str) -> bool:
        rows = self.rows("WHERE kind = ? AND name = ?", (kind, name))
        return bool(rows) and rows[0][2]

    def generation(self, kind: str, name: str) -> int:
        row = self.db.execute(
            "SELECT generation FROM objects WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone()
        return int(row[0]) if row else 0

    def outcome(self, sha: str) -> str | None:
        """What the daemon decided about revision ``sha`` (adopted, held, rejected)."""
        row = self.db.execute(
            "SELECT outcome, message FROM revisions WHERE sha = ? ORDER BY id DESC LIMIT 1", (sha,)
        ).fetchone()
        if row is None:
            return None
        if row[0] != "adopted":
            raise RuntimeError(f"revision {sha[:12]} was {row[0]}: {row[1]}")
        return str(row[0])

    def journal(self) -> Counter[str]:
        return Counter(
            str(verb) for (verb,) in self.db.execute("SELECT verb FROM journal WHERE state='done'")
        )

    def close(self) -> None:
        self.db.close()


async def poll(condition: Callable[[], bool], *, timeout: float, every: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(every)


# -- counting external calls ------------------------------------------------------------
SSH_READS = {"ls", "sha256sum", "id", "cat", "stat", "readlink", "test", "journalctl"}
SSH_READS |= {"echo", "dpkg-query"}  # what the App's one-exec observation runs besides
SSH_READS |= {"ss"}  # the audit's (off in the benchmark, but a read wherever it runs)
SSH_FILE_MUTATIONS = ("install_file", "switch_symlink", "make_dir")
SSH_FILE_READS = ("read_file", "stat", "read_link", "file_sha256")


@dataclass
class Counters:
    """Calls that the clients' own ``CallStats`` do not see (SSH, probes, git)."""

    reads: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.reads.clear()
        self.mutations.clear()

    def wrap(
        self, owner: Any, method: str, name: Callable[..., str], mutating: Callable[..., bool]
    ) -> None:
        original = getattr(owner, method)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs)
            (self.mutations if mutating(*args, **kwargs) else self.reads)[label] += 1
            return await original(*args, **kwargs)

        setattr(owner, method, counted)


@functools.lru_cache(maxsize=4096)
def _classified(argv: tuple[str, ...]) -> tuple[str, bool]:
    """(label, mutating) of one SSH exec, parsed once per distinct command line: the
    benchmark's counting runs on the daemon's event loop, so its cost would be counted as
    the daemon's (parsing the App's 24-command observation with shlex on every call was
    a sixth of a resync's CPU under the profiler)."""
    if argv[:2] == ("sh", "-c") and len(argv) == 3:
        # Each VM's list names its own Apps' paths, so no two lists are alike: the words
        # that decide (the command's name, a systemctl verb, a flag) are never quoted in
        # them, and splitting at spaces finds them (shlex over every list of every VM was
        # a seventh of a resync's CPU under the profiler).
        listed = [command.split() for _, command in command_list(argv[2])]
        label = f"ssh sh -c (a list of {len(listed)} commands)"
        return label, any(_classified(tuple(command))[1] for command in listed if command)
    words = [w for w in argv if not w.startswith("-")]
    label = "ssh " + " ".join(words[:2] if words[0] == "systemctl" else words[:1])
    if words[0] == "systemctl":
        return label, words[1] not in ("show", "is-active", "is-enabled", "status")
    if words[0] == "sshd":
        return label, "-T" not in argv  # `sshd -T` prints the effective config
    return label, words[0] not in SSH_READS


_MARK = re.compile(r"### [0-9A-Za-z_-]+ ")
"""The App observation's marker lines (``facts.py``), each with a token new per call."""


def _same_list(argv: list[str]) -> tuple[str, ...]:
    """``argv`` with its markers' tokens made alike: a VM's observation is then classified
    once (``_classified``'s cache), not once per resync (its list parsed every time was a
    tenth of a profiled resync's CPU)."""
    return tuple(_MARK.sub("### token ", word) for word in argv)


def ssh_command(host: str, argv: list[str], *args: Any, **kwargs: Any) -> str:
    return _classified(_same_list(argv))[0]


def ssh_mutates(host: str, argv: list[str], *args: Any, **kwargs: Any) -> bool:
    return _classified(_same_list(argv))[1]


def instrument(clients: dict[str, Any], counters: Counters) -> None:
    ssh = clients.ssh
    counters.wrap(ssh, "run", ssh_command, ssh_mutates)
    for method in SSH_FILE_MUTATIONS:
        counters.wrap(ssh, method, lambda *a, m=method, **k: f"ssh {m}", lambda *a, **k: True)
    for method in SSH_FILE_READS:
        counters.wrap(ssh, method, lambda *a, m=method, **k: f"ssh {m}", lambda *a, **k: False)
    prober = clients.prober
    for method in ("http", "tcp"):
        counters.wrap(prober, method, lambda *a, m=method, **k: f"probe {m}", lambda *a, **k: False)
    resolve = app_observe.resolve_ref

    def counted_resolve(repo: str, ref: str) -> str:
        counters.reads["git ls-remote"] += 1
        return resolve(repo, ref)

    app_observe.resolve_ref = counted_resolve  # type: ignore[assignment]


# -- the simulated world: in this process, or in a child process of its own -----------------
class World:
    """Asks the simulated world whether a change shows, wherever the simulator runs: the
    estate itself (``--no-sim-process``), else the pipe to its process."""

    def __init__(
        self,
        estate: Any = None,
        conn: Connection | None = None,
        process: BaseProcess | None = None,
    ) -> None:
        self.estate, self.conn, self.process = estate, conn, process

    def check_alive(self) -> None:
        """Fail at once, not at a poll's timeout, when the simulator process has died."""
        if self.process is not None and not self.process.is_alive():
            raise RuntimeError(f"the simulator process exited ({self.process.exitcode})")

    def cpu(self) -> float | None:
        """CPU seconds the simulator's process has spent (Linux ``/proc``; its Caddy, a
        process of its own, excluded), or None when it shares this process or is unknown."""
        if self.process is None or self.process.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime, fields 14 and 15 of stat(5); the split starts at field 3.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def ask(self, query: str, *args: Any) -> bool:
        if self.estate is not None:
            from bench import world  # the simulator already runs in this process

            return world.ask(self.estate, query, *args)
        assert self.conn is not None
        self.conn.send((query, *args))
        return bool(await asyncio.to_thread(self.conn.recv))


def simulator_process(config: EstateConfig, conn: Connection) -> None:
    """The simulator's process: ``bench/world.py``, imported there and not here (this
    process's memory is reported as the daemon's)."""
    from bench import world

    world.run_process(config, conn)


@contextlib.asynccontextmanager
async def simulator(
    config: EstateConfig, *, own_process: bool
) -> AsyncIterator[tuple[Path, World]]:
    """The estate's controller config and its world, until the block ends."""
    if not own_process:
        from bench import world

        async with world.in_process(config) as (config_path, estate):
            yield config_path, World(estate)
        return
    # spawn, not fork: a fork of a process with a running event loop and threads is unsafe.
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=simulator_process, args=(config, theirs), name="simulator"
    )
    child.start()
    theirs.close()
    try:
        if not await asyncio.to_thread(ours.poll, 300):
            raise RuntimeError("the simulator process did not start within 300 s")
        config_path = Path(await asyncio.to_thread(ours.recv))
        yield config_path, World(None, ours, child)
    finally:
        with contextlib.suppress(OSError):
            ours.send(("stop",))
        await asyncio.to_thread(child.join, 120)
        if child.is_alive():
            child.kill()
        ours.close()


# -- one estate with its daemon ---------------------------------------------------------
@dataclass
class Bench:
    world: World
    settings: Settings
    shape: Shape
    work: WorkTree
    clients: dict[str, Any]
    daemon: Daemon
    counters: Counters
    task: asyncio.Task[None] | None = None
    outcomes: list[tuple[Key, str]] = field(default_factory=list)
    # Every reconcile of the one changed object (``watched``), for the stage breakdown.
    watched: Key | None = None
    reconciles: list[Reconcile] = field(default_factory=list)
    edits: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Per VM file, the changes pushed to it so far (``change_once``)."""

    def observe(self, key: Key, result: str, requeue_after: float | None, took: float) -> None:
        self.outcomes.append((key, result))
        if key == self.watched:
            end = time.perf_counter()
            self.reconciles.append(Reconcile(end - took, end, result, requeue_after))

    def until(self, condition: Callable[[], bool]) -> Callable[[], bool]:
        """``condition``, failing at once when the daemon or the simulator has died."""

        def check() -> bool:
            if self.task is not None and self.task.done():
                raise RuntimeError("the daemon stopped") from self.task.exception()
            self.world.check_alive()
            return condition()

        return check

    @property
    def view(self) -> StoreView:
        return StoreView(self.settings.store.path)


def bench_config(estate_config: Path, target: Path, concurrency: int) -> Settings:
    sections = tomllib.loads(estate_config.read_text())
    sections["controller"].update(
        resync_interval=3600.0, concurrency=concurrency, vmid_min=1000, vmid_max=3999
    )
    # A lease that outlives a busy event loop's stalls (the simulator may share it).
    sections["coordination"].update(lease_duration=120.0, renew_interval=10.0)
    # The audit (every 300 s by default) reads every VM over SSH and Proxmox: off, so that
    # the measured resync is the only work then (a run whose cold convergence outlasted
    # 300 s counted the audit's reads, and its `ss` and `sshd -T` as writes, in the resync).
    sections.setdefault("audit", {})["interval"] = 0.0
    target.write_text(render_toml(sections))
    return load_settings(target)


@contextlib.asynccontextmanager
async def running(
    root: Path, shape: Shape, *, time_scale: float, concurrency: int, sim_process: bool
) -> AsyncIterator[Bench]:
    config = EstateConfig(
        state_dir=root / "estate",
        nodes=shape.machines,
        time_scale=time_scale,
        seed=1,
        tls="off",
        timings=TIMINGS,
    )
    async with contextlib.AsyncExitStack() as stack:
        estate_config, world = await stack.enter_async_context(
            simulator(config, own_process=sim_process)
        )
        yield await stack.enter_async_context(
            daemon_running(root, shape, estate_config, world, concurrency)
        )


tune_once = functools.cache(tune_for_daemon)


@contextlib.asynccontextmanager
async def daemon_running(
    root: Path, shape: Shape, estate_config: Path, world: World, concurrency: int
) -> AsyncIterator[Bench]:
    clients: dict[str, Any] = {}
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        settings = bench_config(estate_config, root / "bench.toml", concurrency)
        assert settings.source.repo is not None
        init_repository(settings.source.repo)
        work = WorkTree(settings.source.repo, root / "work")
        clients = await build_clients(settings)
        counters = Counters()
        instrument(clients, counters)
        daemon = Daemon(settings=settings, reconcilers=build_reconcilers(settings), clients=clients)
        tune_once()  # as `homeport run` does, once per process (frozen stays frozen)
        bench = Bench(world, settings, shape, work, clients, daemon, counters)
        daemon.observers.append(
            lambda outcome, took: bench.observe(
                outcome.key, outcome.result, outcome.requeue_after, took
            )
        )
        task = bench.task = asyncio.create_task(daemon.run(stop))
        yield bench
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 120)
        if clients:
            await close_clients(clients)


# -- 1. cold convergence ----------------------------------------------------------------
async def cold(bench: Bench) -> dict[str, float]:
    shape = bench.shape
    for name, text in estate_files(shape).items():
        bench.work.write(name, text)
    started, cpu, sim_cpu = time.perf_counter(), time.process_time(), bench.world.cpu()
    pushed = await bench.work.push("the estate")
    stored = bench.until(bench.settings.store.path.exists)
    await poll(stored, timeout=60, every=0.05, what="the store")
    view = bench.view
    done: dict[str, float] = {"push (incl. validation)": pushed}
    try:
        sha = bench.work.head
        adopted = bench.until(lambda: view.outcome(sha) is not None)
        await poll(adopted, timeout=120, every=0.05, what="adoption")
        done["revision adopted"] = time.perf_counter() - started

        def converged() -> bool:
            counts = view.counts()
            for kind, (total, ready) in counts.items():
                if kind not in done and ready == total:
                    done[kind] = time.perf_counter() - started
            return sum(t for t, _ in counts.values()) == shape.total and all(
                r == t for t, r in counts.values()
            )

        # An hour, or 2 s per object for the largest estates (5000 objects).
        timeout = max(3600.0, 2.0 * shape.total)
        # The count is an SQL query over every status, in this (the daemon's) process:
        # every quarter second, it was 7 of the 195 CPU s of a profiled 1000-object run.
        # One poll per second per 1000 objects keeps it a fixed share at any size.
        every = max(0.25, shape.total / 1000)
        await poll(bench.until(converged), timeout=timeout, every=every, what="cold convergence")
        done["all objects Ready"] = time.perf_counter() - started
        done["wall ms per object"] = 1000 * done["all objects Ready"] / shape.total
        done["CPU s of this process"] = time.process_time() - cpu
        done["CPU ms per object"] = 1000 * done["CPU s of this process"] / shape.total
        sim_now = bench.world.cpu()
        if sim_cpu is not None and sim_now is not None:
            done["CPU s of the simulator"] = sim_now - sim_cpu
        done["actions journaled"] = float(sum(view.journal().values()))
        done["reconciles"] = float(len(bench.outcomes))
    finally:
        view.close()
    return done


# -- 2. push-to-converged latency -------------------------------------------------------
@dataclass
class Sample:
    what: str
    pushed: float
    converged: float
    stages: dict[str, float] = field(default_factory=dict)
    actions: tuple[str, ...] = ()


async def change_once(bench: Bench, n: int) -> Sample:
    """Push the ``n``th change: in turn an App's env, a bare VM's memory, a route's host.
    Each file is written with every earlier change of it kept (``bench.edits``): one
    push changes one object."""
    shape = bench.shape
    bare = list(range(shape.apps, shape.vms))
    turn = n % 3 if bare else (0, 2)[n % 2]
    if turn == 0:
        index = (n * 7) % shape.apps
        level = f"debug-{n}"
        edits = bench.edits.setdefault(index, {}) | {"level": level}
        key, what = ("App", f"app-{index:04d}"), "App env"
        query: tuple[Any, ...] = ("app_env_has", index, level)
    elif turn == 1:
        index = bare[(n * 5) % len(bare)]
        memory = 512 + 256 * (n % 4 + 1)
        edits = bench.edits.setdefault(index, {}) | {"memory": memory}
        key, what = ("VM", f"vm-{index:04d}"), "VM memory"
        query = ("vm_memory_is", f"vm-{index:04d}", memory)
    else:
        index = (n * 11 + 3) % shape.apps
        host = route_host(index, n)
        edits = bench.edits.setdefault(index, {}) | {"host": host}
        key, what = ("ProxyRoute", f"app-{index:04d}"), "route host"
        query = ("route_host_is", index, host)
    bench.edits[index] = edits
    text = unit_file(index, shape, **edits)
    view = bench.view
    try:
        generation = view.generation(*key)
        bench.work.write(f"vms/vm-{index:04d}.yaml", text)
        bench.watched, bench.reconciles = key, []
        started, epoch = time.perf_counter(), time.time()
        pushed = await bench.work.push(f"change {key[0]}/{key[1]}")

        def converged() -> bool:
            return view.generation(*key) > generation and view.ready(*key)

        await poll(
            bench.until(converged), timeout=600, every=0.01, what=f"{key[0]}/{key[1]} to converge"
        )
        took = time.perf_counter() - started
        bench.watched = None
        breakdown, verbs = timeline(bench, view, key, generation + 1, started, epoch, took)
    finally:
        view.close()
    if not await bench.world.ask(*query):
        raise AssertionError(f"{key[0]}/{key[1]} is Ready but the world does not show the change")
    return Sample(what, pushed, took, breakdown, verbs)


def timeline(
    bench: Bench,
    view: StoreView,
    key: Key,
    generation: int,
    started: float,
    epoch: float,
    took: float,
) -> tuple[dict[str, float], tuple[str, ...]]:
    """The push's stages (``bench/stages.py``) from the store and the engine's observers."""
    db = view.db
    row = db.execute(
        "SELECT recorded_at FROM revisions WHERE sha = ? ORDER BY id DESC LIMIT 1",
        (bench.work.head,),
    ).fetchone()
    steps = [
        Step(verb, since(epoch, begun), since(epoch, ended))
        for verb, begun, ended in db.execute(
            "SELECT verb, started_at, finished_at FROM journal"
            " WHERE kind = ? AND name = ? AND generation = ? AND state = 'done' ORDER BY id",
            (*key, generation),
        )
    ]
    ready = db.execute(
        "SELECT at FROM events WHERE kind = ? AND name = ? AND reason = 'Ready'"
        " ORDER BY id DESC LIMIT 1",
        key,
    ).fetchone()
    reconciles = [
        Reconcile(r.start - started, r.end - started, r.result, r.requeue_after)
        for r in bench.reconciles
    ]
    breakdown = stages(
        pushed=bench.work.pushed,
        adopted=since(epoch, row[0]) if row else 0.0,
        reconciles=reconciles,
        steps=steps,
        ready=since(epoch, ready[0]) if ready else took,
        noticed=took,
    )
    return breakdown, tuple(s.verb for s in steps)


# -- 3. calls per resync ----------------------------------------------------------------
@dataclass
class ResyncCalls:
    seconds: float
    cpu: float
    objects: int
    reads: dict[str, int]
    mutations: dict[str, int]
    connections: int


async def resync(bench: Bench) -> ResyncCalls:
    engine = bench.daemon.engine
    assert engine is not None
    view = bench.view
    try:
        quiet = bench.until(lambda: all(r for _, _, r in view.rows()))
        await poll(quiet, timeout=600, every=0.1, what="quiet")
    finally:
        view.close()
    engine.context.invalidate_all()  # a resync loads its shared snapshots afresh
    stats = [c.stats for c in (bench.clients.proxmox, bench.clients.caddy, bench.clients.tailscale)]
    for s in stats:
        s.reset()
    bench.counters.reset()
    connections = bench.clients.ssh.connections_opened
    bench.outcomes.clear()
    view = bench.view
    try:
        keys = {(k, n) for k, n, _ in view.rows()}
    finally:
        view.close()
    started, cpu = time.perf_counter(), time.process_time()
    engine.enqueue_all()
    resynced = bench.until(lambda: keys <= {k for k, _ in bench.outcomes})
    await poll(resynced, timeout=max(600.0, len(keys) / 2), every=0.02, what="a resync")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    reads: Counter[str] = Counter(bench.counters.reads)
    mutations: Counter[str] = Counter(bench.counters.mutations)
    for name, s in zip(("proxmox", "caddy", "tailscale"), stats, strict=True):
        snap = s.snapshot()
        reads.update({f"{name} {op}": n for op, n in snap.reads.items()})
        mutations.update({f"{name} {op}": n for op, n in snap.mutations.items()})
    return ResyncCalls(
        seconds,
        cpu,
        len(keys),
        dict(reads),
        dict(mutations),
        bench.clients.ssh.connections_opened - connections,
    )


# -- printing ---------------------------------------------------------------------------
def print_cold(shape: Shape, figures: dict[str, float]) -> None:
    print(f"\n{shape.total} objects: {shape.describe()}")
    for label, value in figures.items():
        if label in ("actions journaled", "reconciles"):
            shown = f"{value:.0f}"
        elif label.endswith("ms per object"):
            shown = f"{value:8.1f} ms"
        else:
            shown = f"{value:8.1f} s"
        print(f"  {label:<28}: {shown}")


def print_latency(samples: list[Sample], total: int) -> None:
    print(f"\n== push-to-converged latency (one changed object among {total}) ==")
    groups = {"all": samples} | {
        what: [s for s in samples if s.what == what] for what in sorted({s.what for s in samples})
    }
    for label, group in groups.items():
        print(f"  {label:<10} n={len(group):3d}  {spread([s.converged for s in group])}")
    pushes = [s.pushed for s in samples]
    print(f"  of which git push (pre-receive validation): p50 {statistics.median(pushes):.2f} s")
    print("  stages, p50 in s (bench/stages.py; they add up to the whole):")
    kinds = sorted({s.what for s in samples})
    print(f"    {'stage':<32}" + "".join(f"{k:>12}" for k in kinds))
    for stage in STAGES:
        cells = [statistics.median(s.stages[stage] for s in samples if s.what == k) for k in kinds]
        print(f"    {stage:<32}" + "".join(f"{c:>12.3f}" for c in cells))
    for k in kinds:
        actions = Counter(s.actions for s in samples if s.what == k).most_common(1)[0][0]
        print(f"    {k} actions: {', '.join(actions) or '(none)'}")


def print_reconciles(outcomes: list[tuple[Key, str]]) -> None:
    """How many reconciles each kind took, by result (a waiting one is looked at again)."""
    for kind in sorted({k for (k, _), _ in outcomes}):
        results = Counter(r for (k, _), r in outcomes if k == kind)
        shown = ", ".join(f"{r} {n}" for r, n in results.most_common())
        print(f"  reconciles of {kind:<12}: {sum(results.values())} ({shown})")


def print_threads(phase: Phase) -> None:
    print(
        f"  CPU s: event loop's thread {phase.loop_thread:.1f}, other threads "
        f"{phase.other_threads:.1f} (Proxmox HTTPS calls); new HTTPS connections "
        f"{phase.connections}"
    )
    young, middle, full = phase.gc_collections
    print(
        f"  of which the garbage collector {phase.gc_seconds:.2f} s ({young} + {middle} "
        f"collections of the young generations, {full} full)"
    )


def print_resync(calls: ResyncCalls) -> None:
    print(f"\n== calls per resync when converged ({calls.objects} objects) ==")
    print(f"  resync wall time            : {calls.seconds:.2f} s")
    print(f"  resync CPU of this process  : {calls.cpu:.2f} s")
    print(f"  resync CPU per object       : {1000 * calls.cpu / max(calls.objects, 1):.1f} ms")
    print(f"  resync wall per object      : {1000 * calls.seconds / max(calls.objects, 1):.1f} ms")
    print(f"  {'call':<40} {'reads':>7} {'mutations':>10}")
    for op in sorted(set(calls.reads) | set(calls.mutations)):
        print(f"  {op:<40} {calls.reads.get(op, 0):>7} {calls.mutations.get(op, 0):>10}")
    total_reads, total_mutations = sum(calls.reads.values()), sum(calls.mutations.values())
    print(f"  {'total':<40} {total_reads:>7} {total_mutations:>10}")
    print(f"  reads per object            : {total_reads / max(calls.objects, 1):.2f}")
    print(f"  SSH connections opened      : {calls.connections}")
    verdict = "OK" if total_mutations == 0 else "FAILED: a converged resync must not mutate"
    print(f"  mutating calls              : {total_mutations} ({verdict})")


# -- main -------------------------------------------------------------------------------
async def run(
    sizes: list[int],
    changes: int,
    time_scale: float,
    concurrency: int,
    sim_process: bool,
    profiling: Profiling,
) -> int:
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM unwinds like Ctrl-C: the daemon, the simulator and its Caddy are stopped.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    print("homeport convergence benchmark")
    print(
        f"  simulator time scale {time_scale:g}x, daemon concurrency {concurrency}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    if sim_process:
        print("  the simulator runs in a child process: CPU of this process is the daemon's")
    else:
        print("  daemon and simulator share one process and event loop: CPU counts both")
    print("\n== cold convergence (git push → every object Ready) ==")
    status = 0
    for i, total in enumerate(sizes):
        last = i == len(sizes) - 1
        shape = Shape.of(total)
        with tempfile.TemporaryDirectory(prefix="homeport-bench-") as root:
            async with running(
                Path(root),
                shape,
                time_scale=time_scale,
                concurrency=concurrency,
                sim_process=sim_process,
            ) as bench:
                peak = PeakRss.start()
                with profiling.phase(f"cold-{total}") as phase:
                    figures = await cold(bench)
                print_cold(shape, figures)
                print_reconciles(bench.outcomes)
                print_threads(phase)
                if last:
                    with profiling.phase(f"push-{total}") as phase:
                        samples = [await change_once(bench, n) for n in range(changes)]
                    print_latency(samples, shape.total)
                    print_threads(phase)
                    with profiling.phase(f"resync-{total}") as phase:
                        calls = await resync(bench)
                    print_resync(calls)
                    print_threads(phase)
                    status = 1 if calls.mutations else 0
                print_rss(shape.total, peak, sim_process=sim_process)
    return status


# -- memory -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PeakRss:
    """The peak resident set of this process (the daemon, with the benchmark's driver)
    from ``start`` on: the kernel's high-water mark ``VmHWM``, reset by writing 5 to
    ``/proc/self/clear_refs`` (Linux); elsewhere ``ru_maxrss``, the peak of the whole run.
    Child processes (the simulator, Caddy, git and its hooks) are not in it."""

    reset: bool

    @classmethod
    def start(cls) -> PeakRss:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            return cls(reset=False)
        return cls(reset=True)

    def mib(self) -> float:
        if self.reset:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_rss(total: int, peak: PeakRss, *, sim_process: bool) -> None:
    held = "simulator excluded" if sim_process else "simulator INCLUDED (--no-sim-process)"
    since = "this estate's run" if peak.reset else "the whole benchmark"
    print(
        f"\npeak RSS of the daemon's process, {total} objects: {peak.mib():.0f} MiB "
        f"(over {since}; the daemon and the benchmark's driver, {held})"
    )


LARGE = 1000
"""Above this many objects, ``main`` warns and raises the open-file limit."""


def raise_file_limit() -> None:
    """The soft limit of open files up to the hard one: the simulator serves every VM's
    SSH, guest agent and apps on sockets of its own (1980 VMs in a 5000-object estate)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    limit_arenas()  # as `homeport run` does, before any thread is made
    logging.basicConfig(level=logging.WARNING, format="daemon %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 objects, 4 changes (smoke test)")
    parser.add_argument("--sizes", default="100,1000", help="estate sizes, comma-separated")
    parser.add_argument("--changes", type=int, default=24, help="pushes timed (≥ 20)")
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=8, help="daemon workers")
    parser.add_argument(
        "--sim-process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the simulator in a child process, so this process's CPU is homeport's",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PREFIX",
        help="cProfile the event loop's thread: PREFIX-{cold,push,resync}-N .pstats/.txt",
    )
    args = parser.parse_args()
    sizes = [20] if args.quick else [int(s) for s in args.sizes.split(",")]
    changes = 4 if args.quick else args.changes
    if max(sizes) > LARGE:
        print(
            f"note: {max(sizes)} objects is a long run (the 1000-object one takes minutes; "
            "5000, the most one revision may hold, about an hour and several GiB on 2 cores); "
            "the simulator holds a few sockets per VM: the open-file limit is raised to its "
            "hard limit",
            file=sys.stderr,
        )
        raise_file_limit()  # inherited by the simulator's process, started after this
    profiling = Profiling(args.profile)
    sys.exit(
        asyncio.run(
            run(sizes, changes, args.time_scale, args.concurrency, args.sim_process, profiling)
        )
    )


if __name__ == "__main__":
    main()
