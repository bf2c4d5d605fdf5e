"""A real etcd cluster on loopback for tests and benchmarks: N members, free ports, own data.

Each member runs Debian's ``etcd`` binary with its own data directory under the test's
temporary folder and client/peer ports picked free on 127.0.0.1 — never a system etcd.
Short raft timings (heartbeat 50 ms, election 500 ms) keep elections within a second.
Members can be stopped (SIGTERM), killed, paused and started again with their data.
Whoever starts a cluster stops it in a ``finally`` (``async with EtcdCluster.running(...)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 (all held open while choosing)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(p.getsockname()[1]) for p in probes]


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log: Path
    scheme: str = "http"
    process: subprocess.Popen[bytes] | None = None
    _out: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class EtcdCluster:
    members: list[Member]
    token: str
    tls_args: list[str] = field(default_factory=list)
    client_tls: dict[str, Path] = field(default_factory=dict)
    """ca/cert/key the tests' own HTTP client uses to look at a TLS cluster."""

    @classmethod
    def plan(cls, base: Path, size: int = 3) -> EtcdCluster:
        ports = free_ports(2 * size)
        members = [
            Member(
                f"m{i + 1}",
                ports[2 * i],
                ports[2 * i + 1],
                base / f"m{i + 1}",
                base / f"m{i + 1}.log",
            )
            for i in range(size)
        ]
        return cls(members, token=f"homeport-test-{ports[0]}")

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, base: Path, size: int = 3, *, tls: dict[str, Path] | None = None
    ) -> AsyncIterator[EtcdCluster]:
        """``tls``: server cert/key, CA of client certs (``--client-cert-auth``)."""
        cluster = cls.plan(base, size)
        if tls is not None:
            cluster.tls_args = [
                f"--cert-file={tls['cert']}",
                f"--key-file={tls['key']}",
                f"--trusted-ca-file={tls['ca']}",
                "--client-cert-auth",
            ]
            cluster.client_tls = tls
            for member in cluster.members:
                member.scheme = "https"
        try:
            for member in cluster.members:
                cluster.start(member, new=True)
            await cluster.wait_healthy()
            yield cluster
        finally:
            cluster.stop_all()

    @property
    def endpoints(self) -> list[str]:
        return [m.url for m in self.members]

    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def start(self, member: Member, *, new: bool = False) -> None:
        member.data_dir.parent.mkdir(parents=True, exist_ok=True)
        member._out = member.log.open("ab")
        member.process = subprocess.Popen(
            [
                ETCD,
                f"--name={member.name}",
                f"--data-dir={member.data_dir}",
                f"--listen-client-urls={member.url}",
                f"--advertise-client-urls={member.url}",
                f"--listen-peer-urls={member.peer_url}",
                f"--initial-advertise-peer-urls={member.peer_url}",
                f"--initial-cluster={self.initial_cluster()}",
                f"--initial-cluster-token={self.token}",
                f"--initial-cluster-state={'new' if new else 'existing'}",
                "--heartbeat-interval=50",
                "--election-timeout=500",
                "--log-level=warn",
                *self.tls_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=member._out,
            stderr=member._out,
        )

    def stop(self, member: Member, *, sig: int = signal.SIGTERM) -> None:
        process = member.process
        if process is not None and process.poll() is None:
            if sig == signal.SIGSTOP:
                process.send_signal(signal.SIGCONT)  # a paused member cannot die
            process.send_signal(sig)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if member._out is not None:
            member._out.close()
            member._out = None

    def stop_all(self) -> None:
        for member in self.members:
            if member.process is not None and member.process.poll() is None:
                member.process.send_signal(signal.SIGCONT)
            self.stop(member, sig=signal.SIGKILL)

    def _client(self) -> httpx.AsyncClient:
        if not self.client_tls:
            return httpx.AsyncClient(timeout=1.0, trust_env=False)
        import ssl

        context = ssl.create_default_context(cafile=str(self.client_tls["ca"]))
        context.load_cert_chain(
            str(self.client_tls["client_cert"]), str(self.client_tls["client_key"])
        )
        return httpx.AsyncClient(timeout=1.0, trust_env=False, verify=context)

    async def healthy(self, member: Member) -> bool:
        async with self._client() as client:
            try:
                response = await client.get(f"{member.url}/health")
            except httpx.HTTPError:
                return False
        return response.status_code == 200 and response.json().get("health") == "true"

    async def wait_healthy(self, timeout: float = 20.0) -> None:
        """Every running member answers /health (which needs a leader: quorum)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            running = [m for m in self.members if m.running]
            states = [await self.healthy(m) for m in running]
            if running and all(states):
                return
            if loop.time() > deadline:
                logs = "\n".join(m.log.read_text(errors="replace")[-800:] for m in self.members)
                raise AssertionError(f"etcd cluster not healthy after {timeout:g}s:\n{logs}")
            await asyncio.sleep(0.05)
