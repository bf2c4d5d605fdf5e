"""Several control planes on one machine, for HA tests and ``bench/takeover.py``.

One simulated estate runs in the test's event loop; a real etcd cluster
(``etcd_cluster.py``) and two or three daemons run as processes (``python -m homeport
run``), each plane with its own bare repository (mirrored to the others by the
post-receive hook), store and known_hosts, as separate machines would have. Pushes go to
plane 1's repository. ``SharedView`` reads etcd the way an operator would, to see who
leads and what was journaled with which fencing token. Every process started here is
ended in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from homeport.clients.etcd import EtcdClient, EtcdSettings
from homeport.controller.config import Settings, load_settings
from homeport.controller.store import Store, StoredObject
from homeport.services.ha.keys import Keyspace
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.settings import EstateConfig
from homeport.simulator.tomltext import render_toml
from homeport.source.hooks import init_repository
from testkit.gitwork import WorkClone
from testkit.ha.etcd_cluster import EtcdCluster
from testkit.harness import FAST, ROOT, assert_sound

KEYS = Keyspace("/homeport")
LEASE = {"lease_duration": 2.0, "renew_interval": 0.5}
"""Short leases for the tests: a dead leader is replaced within about 2 s."""


@dataclass
class Daemon:
    process: asyncio.subprocess.Process
    log: Path
    _out: IO[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def signal(self, signum: int) -> None:
        if self.alive:
            self.process.send_signal(signum)

    async def kill(self) -> None:
        """``kill -9`` (no drain, no lease released) and reap."""
        if self.alive:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self._out.close()

    async def terminate(self, timeout: float = 20.0) -> int:
        if self.alive:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"daemon {self.pid} ignored SIGTERM:\n{self.tail()}") from None
        finally:
            self._out.close()

    def tail(self, lines: int = 40) -> str:
        if not self._out.closed:
            self._out.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Plane:
    name: str
    dir: Path
    config: Path
    settings: Settings
    daemon: Daemon | None = None
    lives: int = 0

    @property
    def repo(self) -> Path:
        assert self.settings.source.repo is not None
        return self.settings.source.repo

    async def start(self) -> Daemon:
        assert self.daemon is None or not self.daemon.alive, f"{self.name} is running"
        self.lives += 1
        log = self.dir / f"daemon-{self.lives}.log"
        out = log.open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "homeport",
                "run",
                "--config",
                str(self.config),
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        except BaseException:
            out.close()
            raise
        self.daemon = Daemon(process, log, out)
        return self.daemon

    def holds(self, holder: str) -> bool:
        return self.daemon is not None and f":{self.daemon.pid}:" in holder

    def objects(self) -> list[StoredObject]:
        if not self.settings.store.path.exists():
            return []
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            return store.objects.all()
        finally:
            store.close()

    def journal(self) -> list[dict[str, Any]]:
        if not self.settings.store.path.exists():
            return []
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            return [{"id": e.id, **e.shared()} for e in store.journal.entries()]
        finally:
            store.close()


class SharedView:
    """What etcd holds, read directly (never through a daemon)."""

    def __init__(self, endpoints: list[str]) -> None:
        self.client = EtcdClient(EtcdSettings(tuple(endpoints), timeout=1.0))

    async def close(self) -> None:
        await self.client.close()

    async def leader(self) -> tuple[str, int] | None:
        kv = await self.client.get(KEYS.leader)
        if kv is None:
            return None
        return str((kv.json() or {}).get("holder", "")), kv.create_revision

    async def journal(self) -> list[dict[str, Any]]:
        kvs, _ = await self.client.range(KEYS.table("journal"), prefix=True)
        return [kv.json() for kv in kvs]

    async def memory(self, kind: str, name: str) -> dict[str, Any]:
        kv = await self.client.get(KEYS.key(("memory", kind, name)))
        return dict(kv.json() or {}) if kv is not None else {}

    async def statuses(self) -> dict[tuple[str, str], dict[str, Any]]:
        kvs, _ = await self.client.range(KEYS.table("status"), prefix=True)
        found = {}
        for kv in kvs:
            key = KEYS.parse(kv.key)
            if key is not None:
                found[(str(key[1]), str(key[2]))] = kv.json()
        return found


@dataclass
class Estate:
    """The simulated estate, the etcd cluster, the planes and a working clone."""

    estate: SimulatedEstate
    cluster: EtcdCluster
    planes: list[Plane]
    work: WorkClone
    view: SharedView
    base: Settings
    notes: list[str] = field(default_factory=list)

    async def leader_plane(self) -> Plane | None:
        leader = await self.view.leader()
        if leader is None:
            return None
        return next((p for p in self.planes if p.holds(leader[0])), None)

    async def wait_leader(self, *, timeout: float, not_plane: Plane | None = None) -> Plane:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with contextlib.suppress(Exception):
                plane = await self.leader_plane()
                if plane is not None and plane is not not_plane:
                    return plane
            if loop.time() > deadline:
                raise AssertionError(f"no new leader after {timeout:g}s\n{self.logs()}")
            await asyncio.sleep(0.02)

    def push(self, files: dict[str, str | None], message: str = "change") -> str:
        for name, content in files.items():
            if content is None:
                self.work.remove(name)
            else:
                self.work.write(name, content)
        sha = self.work.commit(message)
        pushed = self.work.push()
        assert pushed.returncode == 0, pushed.stderr
        return sha

    def logs(self, lines: int = 25) -> str:
        parts = []
        for plane in self.planes:
            if plane.daemon is not None:
                parts.append(
                    f"--- {plane.name} (pid {plane.daemon.pid}) ---\n{plane.daemon.tail(lines)}"
                )
        return "\n".join(parts)

    def declared_vms(self) -> set[str]:
        import yaml

        documents = [
            d
            for path in (self.work.path / "manifests").rglob("*.yaml")
            for d in yaml.safe_load_all(path.read_text())
        ]
        return {d["metadata"]["name"] for d in documents if d and d.get("kind") == "VM"}

    def world_vms(self) -> dict[str, int]:
        """VM name → how many VMs of that name exist in the simulated Proxmox."""
        assert self.estate.pve is not None
        counts: dict[str, int] = {}
        for vm in self.estate.pve.world.vms.values():
            if not vm.is_template:
                counts[vm.name] = counts.get(vm.name, 0) + 1
        return counts

    def successful_clones(self) -> int:
        """Successful qmclone tasks: one per VM ever created (a second would be a second VM)."""
        assert self.estate.pve is not None
        tasks = self.estate.pve.world.tasks.tasks.values()
        return sum(1 for t in tasks if t.upid.type == "qmclone" and t.ok)


def plane_config(
    base: Path, estate: SimulatedEstate, name: str, peers: dict[str, str], endpoints: list[str]
) -> Path:
    """``homeport.toml`` of one plane: the estate's, with its own repo, store, known_hosts."""
    sections: dict[str, dict[str, Any]] = tomllib.loads(estate.config_path.read_text())
    plane = base / name
    plane.mkdir(parents=True, exist_ok=True)
    known_hosts = plane / "known_hosts"
    shutil.copy(sections["ssh"]["known_hosts"], known_hosts)
    sections["store"] = {"path": str(plane / "state.db")}
    sections["source"].update(
        repo=str(plane / "estate.git"), peers=peers, peer_fetch_interval=2.0, poll_interval=2.0
    )
    sections["ssh"]["known_hosts"] = str(known_hosts)
    sections["coordination"] = {
        "backend": "etcd",
        "endpoints": endpoints,
        "identity": name,
        "timeout": 0.5,
        **LEASE,
    }
    sections.setdefault("audit", {})["interval"] = 0.0
    config = plane / "homeport.toml"
    config.write_text(render_toml(sections))
    return config


@contextlib.asynccontextmanager
async def running_estate(
    tmp: Path, *, planes: int = 2, manifests: Path | None = None, time_scale: float = 50.0
) -> AsyncIterator[Estate]:
    estate = SimulatedEstate(
        EstateConfig(state_dir=tmp / "estate", time_scale=time_scale, tls="off", timings=FAST)
    )
    await estate.start()
    try:
        async with EtcdCluster.running(tmp / "etcd") as cluster:
            names = [f"cp{i + 1}" for i in range(planes)]
            repos = {n: str(tmp / "planes" / n / "estate.git") for n in names}
            configured = []
            for name in names:
                peers = {other: repos[other] for other in names if other != name}
                config = plane_config(tmp / "planes", estate, name, peers, cluster.endpoints)
                settings = load_settings(config)
                assert settings.source.repo is not None
                init_repository(settings.source.repo)
                configured.append(Plane(name, tmp / "planes" / name, config, settings))
            _configure_mirrors(configured)
            work = WorkClone(configured[0].repo, tmp / "work")
            view = SharedView(cluster.endpoints)
            world = Estate(
                estate, cluster, configured, work, view, load_settings(estate.config_path)
            )
            try:
                yield world
            finally:
                for plane in configured:
                    if plane.daemon is not None:
                        await plane.daemon.kill()
                await view.close()
        assert_sound(estate)
    finally:
        await estate.stop()


def _configure_mirrors(planes: list[Plane]) -> None:
    """What each daemon does at start (``GitMirror.configure``), done before the first push."""
    from homeport.source.mirror import GitMirror

    for plane in planes:
        source = plane.settings.source
        assert source.repo is not None
        GitMirror(source.repo, branch=source.branch, peers=source.peers).configure()


def copy_manifests(work: WorkClone, source: Path) -> None:
    shutil.copytree(source, work.path / "manifests", dirs_exist_ok=True)
