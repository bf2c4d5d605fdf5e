"""Task waiting, retries and power semantics with a fake at proxmoxer's seam and fake time.

No sockets: ``FakePve`` stands where ``proxmoxer.ProxmoxAPI`` would be and answers (or
raises ``ResourceException`` like proxmoxer does) per path; time only moves when the client
sleeps. The same behaviour against the simulator's sockets is in ``test_proxmox.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from proxmoxer.core import ResourceException

from homeport.clients.errors import NotFound, OutcomeUnknown, TaskFailed, TaskTimeout
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import TaskStatus
from homeport.clients.proxmox_settings import ProxmoxSettings
from homeport.clients.secret import Secret
from homeport.clients.timing import RetryPolicy

UPID = "UPID:pve1:0000ABCD:00AB00C3:66DC5987:qmclone:9000:homeport@pve!homeport:"
Answer = Any  # a value, an exception to raise, or a callable of the params


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakePve:
    """Answers per (method, path); the last answer of a path repeats."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Answer]] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.answers[(method, path)] = list(answers)

    def __call__(self, segments: list[str]) -> FakeResource:
        return FakeResource(self, "/".join(segments))

    def answer(self, method: str, path: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, path, params))
        queue = self.answers[(method, path)]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer(params) if callable(answer) else answer


class FakeResource:
    def __init__(self, pve: FakePve, path: str) -> None:
        self.pve, self.path = pve, path

    def get(self, **params: Any) -> Any:
        return self.pve.answer("GET", self.path, params)

    def post(self, **params: Any) -> Any:
        return self.pve.answer("POST", self.path, params)

    def put(self, **params: Any) -> Any:
        return self.pve.answer("PUT", self.path, params)

    def delete(self, **params: Any) -> Any:
        return self.pve.answer("DELETE", self.path, params)


def pve_error(status: int, reason: str, errors: dict[str, str] | None = None) -> Exception:
    error: Exception = ResourceException(status, "Internal Server Error", reason, errors=errors)
    return error


def status(state: str, exitstatus: str | None = None) -> dict[str, Any]:
    data = {"upid": UPID, "node": "pve1", "status": state, "type": "qmclone", "id": "9000"}
    return {**data, "exitstatus": exitstatus} if exitstatus else data


@pytest.fixture
def fake() -> FakePve:
    return FakePve()


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(fake: FakePve, time: FakeTime, tmp_path: Path) -> ProxmoxClient:
    token = tmp_path / "token"
    token.write_text("secret-token")
    settings = ProxmoxSettings(
        host="pve.test",
        token_file=token,
        retry=RetryPolicy(attempts=3, base_delay=0.5, max_delay=2.0),
        task_poll_initial=0.25,
        task_poll_max=2.0,
        no_such_task_grace=5.0,
    )
    factory: Callable[[ProxmoxSettings, Secret], FakePve] = lambda _s, _t: fake  # noqa: E731
    return ProxmoxClient(settings, clock=time, sleep=time.sleep, api_factory=factory)


TASK_STATUS = f"nodes/pve1/tasks/{UPID}/status"
TASK_LOG = f"nodes/pve1/tasks/{UPID}/log"


async def test_wait_polls_with_backoff_and_reports_progress(
    client: ProxmoxClient, fake: FakePve, time: FakeTime
) -> None:
    no_such_task = pve_error(400, "Parameter verification failed.", {"upid": "no such task"})
    fake.on("GET", TASK_STATUS, no_such_task, status("running"), status("running"),
            status("stopped", "WARNINGS: 1"))  # fmt: skip
    seen: list[TaskStatus] = []
    result = await client.tasks.wait_task("pve1", UPID, timeout=60, on_progress=seen.append)
    assert result.exitstatus == "WARNINGS: 1"
    assert [s.status for s in seen] == ["running", "running", "stopped"]
    assert time.slept == [0.25, 0.5, 1.0]


async def test_no_such_task_is_believed_after_the_grace(
    client: ProxmoxClient, fake: FakePve, time: FakeTime
) -> None:
    fake.on(
        "GET",
        TASK_STATUS,
        pve_error(400, "Parameter verification failed.", {"upid": "no such task"}),
    )
    with pytest.raises(NotFound):
        await client.tasks.wait_task("pve1", UPID, timeout=60)
    assert 5.0 <= time.now < 8.0


async def test_timeout_leaves_the_task_running(
    client: ProxmoxClient, fake: FakePve, time: FakeTime
) -> None:
    fake.on("GET", TASK_STATUS, status("running"))
    with pytest.raises(TaskTimeout) as caught:
        await client.tasks.wait_task("pve1", UPID, timeout=10)
    assert caught.value.upid == UPID
    assert time.now == pytest.approx(10.0)


async def test_failure_carries_the_last_log_lines(client: ProxmoxClient, fake: FakePve) -> None:
    fake.on("GET", TASK_STATUS, status("stopped", "can't lock file 'x' - got timeout"))
    lines = [{"n": n, "t": f"line {n}"} for n in range(1, 31)]
    fake.on(
        "GET", TASK_LOG, [*lines, {"n": 31, "t": "TASK ERROR: can't lock file 'x' - got timeout"}]
    )
    with pytest.raises(TaskFailed) as caught:
        await client.tasks.wait_task("pve1", UPID, timeout=10)
    assert caught.value.exitstatus == "can't lock file 'x' - got timeout"
    assert len(caught.value.log_tail) == 20
    assert caught.value.log_tail[-1].startswith("TASK ERROR")


async def test_start_of_a_running_vm_is_a_success(client: ProxmoxClient, fake: FakePve) -> None:
    fake.on("POST", "nodes/pve1/qemu/101/status/start", pve_error(500, "VM 101 already running"))
    assert await client.start_vm("pve1", 101) is None
    fake.on("POST", "nodes/pve1/qemu/101/status/start", UPID)
    task = await client.start_vm("pve1", 101)
    assert task is not None and task.accept == ("already running",)
    fake.on("GET", TASK_STATUS, status("stopped", "VM 101 already running"))
    assert (await client.tasks.wait(task, timeout=5)).exitstatus == "VM 101 already running"


async def test_reads_retry_transient_failures_and_count_them(
    client: ProxmoxClient, fake: FakePve, time: FakeTime
) -> None:
    fake.on("GET", "cluster/resources", pve_error(596, "Connection timed out"),
            requests.exceptions.ConnectTimeout("connect timed out"), [])  # fmt: skip
    assert (await client.cluster_resources()).vms == ()
    counts = client.stats.snapshot()
    assert counts.reads == {"GET cluster.resources": 1}
    assert counts.retries == {"GET cluster.resources": 2}
    assert len(time.slept) == 2 and all(0.25 <= d <= 1.0 for d in time.slept)


async def test_mutations_are_retried_only_when_they_cannot_have_happened(
    client: ProxmoxClient, fake: FakePve
) -> None:
    path = "nodes/pve1/qemu/9000/clone"
    fake.on("POST", path, pve_error(500, "VM is locked (backup)"), UPID)
    assert (await client.clone_vm("pve1", 9000, newid=101)).upid == UPID  # locked: not done
    fake.calls.clear()
    fake.on("POST", path, requests.exceptions.ReadTimeout("read timed out"), UPID)
    with pytest.raises(OutcomeUnknown):
        await client.clone_vm("pve1", 9000, newid=102)
    assert len(fake.calls) == 1


async def test_booleans_and_sshkeys_on_the_wire(client: ProxmoxClient, fake: FakePve) -> None:
    fake.on("POST", "nodes/pve1/qemu/101/config", UPID)
    await client.update_config(
        "pve1",
        101,
        changes={"onboot": True, "agent": "1", "sshkeys": ["ssh-ed25519 AAAA x@y"]},
        delete=["net1", "ide2"],
        digest="d" * 40,
    )
    _, _, params = fake.calls[-1]
    assert params == {
        "onboot": 1,
        "agent": "1",
        "sshkeys": "ssh-ed25519%20AAAA%20x%40y%0A",
        "delete": "net1,ide2",
        "digest": "d" * 40,
    }


async def test_secrets_reach_the_wire_but_not_the_error(
    client: ProxmoxClient, fake: FakePve
) -> None:
    fake.on(
        "PUT",
        "nodes/pve1/qemu/101/config",
        pve_error(400, "Parameter verification failed.", {"cipassword": "bad 'pa55word!'"}),
    )
    with pytest.raises(Exception) as caught:
        await client.update_config(
            "pve1", 101, changes={"cipassword": Secret("pa55word!")}, sync=True
        )
    assert fake.calls[-1][2]["cipassword"] == "pa55word!"
    assert "pa55word" not in str(caught.value)
    assert "pa55word" not in repr(caught.value.args)
