"""What a contract test talks to: a proxmoxer client plus raw-HTTP helpers and deadlines.

The same `Target` wraps the simulator or a real node; `sim` is None for a real node, and the
fault/time helpers then skip the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import requests
from proxmoxer import ProxmoxAPI, ResourceException

from homeport.simulator.faults import Faults
from homeport.simulator.simulator import ProxmoxSimulator
from homeport.simulator.threaded import SimulatorThread

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


@dataclass
class Target:
    kwargs: dict[str, Any]
    base_url: str
    auth_header: str
    thread: SimulatorThread | None = None
    sessions: list[requests.Session] = field(default_factory=list)
    clients: list[ProxmoxAPI] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.api = self.client()

    @property
    def verify(self) -> str | bool:
        verify: str | bool = self.kwargs["verify_ssl"]
        return verify

    @property
    def sim(self) -> ProxmoxSimulator:
        if self.thread is None:
            pytest.skip("needs the simulator")
        return self.thread.sim

    @property
    def faults(self) -> Faults:
        return self.sim.faults

    @property
    def nodes(self) -> list[str]:
        return sorted(n["node"] for n in self.api.nodes.get())

    def advance(self, seconds: float) -> None:
        """Make simulated time pass at once."""
        self.sim.clock.advance(seconds)

    def check(self) -> list[str]:
        if self.thread is None:
            return []
        return self.thread.call(self.thread.sim.check)

    def session(self, *, auth: bool = True) -> requests.Session:
        session = requests.Session()
        # REQUESTS_CA_BUNDLE in the environment would override session.verify.
        session.trust_env = False
        session.verify = self.verify
        if auth:
            session.headers["Authorization"] = self.auth_header
        self.sessions.append(session)
        return session

    def url(self, path: str) -> str:
        return self.base_url + path

    def client(self, **overrides: Any) -> ProxmoxAPI:
        """A proxmoxer client on this target (e.g. with a short `timeout`)."""
        client = ProxmoxAPI(**{**self.kwargs, **overrides})
        self.clients.append(client)
        return client

    def wait_task(self, node: str, upid: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Poll a task until it stopped; returns its final status."""
        return wait_for(
            lambda: _stopped(self.api.nodes(node).tasks(upid).status.get()),
            timeout,
            f"task {upid} to finish",
        )

    def ok(self, node: str, upid: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait for a task and insist it succeeded."""
        status = self.wait_task(node, upid, timeout)
        assert status["exitstatus"] == "OK", (status, self.task_log(node, upid))
        return status

    def clone(self, node: str, source: int, newid: int, **params: Any) -> None:
        """Clone and wait until the clone exists."""
        self.ok(node, self.api.nodes(node).qemu(source).clone.post(newid=newid, **params))

    def start(self, node: str, vmid: int) -> None:
        self.ok(node, self.api.nodes(node).qemu(vmid).status.start.post())

    def wait_agent(self, node: str, vmid: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Poll the guest agent until it answers network-get-interfaces."""

        def probe() -> dict[str, Any] | None:
            try:
                result: dict[str, Any] = (
                    self.api.nodes(node).qemu(vmid).agent("network-get-interfaces").get()
                )
            except ResourceException:
                return None
            return result

        return wait_for(probe, timeout, f"the guest agent of VM {vmid}")

    def task_log(self, node: str, upid: str) -> list[str]:
        return [line["t"] for line in self.api.nodes(node).tasks(upid).log.get(limit=1000)]

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        for client in self.clients:
            client._store["session"].close()


def _stopped(status: dict[str, Any]) -> dict[str, Any] | None:
    return status if status["status"] == "stopped" else None


def wait_for(
    probe: Callable[[], T | None], timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy, or fail after `timeout` wall seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def sim_target(thread: SimulatorThread) -> Target:
    sim = thread.sim
    return Target(
        kwargs=sim.proxmoxer_kwargs(), base_url=sim.url, auth_header=sim.token.header, thread=thread
    )


def real_target(spec: str) -> Target:
    parts = spec.split(",")
    host, _, port = parts[0].partition(":")
    token = parts[1]
    verify: str | bool = parts[2] if len(parts) > 2 else False
    user, _, rest = token.partition("!")
    token_name, _, secret = rest.partition("=")
    kwargs = {
        "host": host,
        "port": int(port or 8006),
        "user": user,
        "token_name": token_name,
        "token_value": secret,
        "verify_ssl": verify,
    }
    return Target(
        kwargs=kwargs,
        base_url=f"https://{host}:{port or 8006}/api2/json",
        auth_header=f"PVEAPIToken={token}",
    )
