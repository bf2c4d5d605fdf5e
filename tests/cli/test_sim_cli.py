"""`homeport sim up|fault|check` as a user runs them: a foreground estate, faults over its
control endpoint, a clean stop on Ctrl-C and state that survives a restart."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.integration]
SIM = [sys.executable, "-m", "homeport", "sim"]


def homeport(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SIM, *args, "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@contextmanager
def sim_up(state: Path) -> Iterator[subprocess.Popen[str]]:
    (state / "endpoints.json").unlink(missing_ok=True)
    log = (state.parent / "sim-up.log").open("a")
    process = subprocess.Popen(
        [*SIM, "up", "--state", str(state), "--nodes", "2", "--time-scale", "50", "--tls", "off"],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (state / "endpoints.json").exists():
            assert process.poll() is None, (state.parent / "sim-up.log").read_text()
            assert time.monotonic() < deadline, "the estate never wrote endpoints.json"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def api(state: Path) -> httpx.Client:
    endpoints = json.loads((state / "endpoints.json").read_text())["proxmox"]
    secret = (state / "controlplane" / "proxmox-token").read_text().strip()
    return httpx.Client(
        base_url=endpoints["url"],
        verify=ssl.create_default_context(cafile=endpoints["ca"]),
        headers={"Authorization": f"PVEAPIToken={endpoints['token_id']}={secret}"},
        trust_env=False,
        timeout=10,
    )


def nodes(state: Path) -> dict[str, Any]:
    with api(state) as client:
        return {n["node"]: n["status"] for n in client.get("/nodes").json()["data"]}


def wait_task(client: httpx.Client, upid: str) -> None:
    node = upid.split(":")[1]
    deadline = time.monotonic() + 60
    while True:
        status = client.get(f"/nodes/{node}/tasks/{upid}/status").json()["data"]
        if status["status"] == "stopped":
            assert status["exitstatus"] == "OK", status
            return
        assert time.monotonic() < deadline, f"task {upid} never finished"
        time.sleep(0.1)


def test_sim_up_fault_check_and_a_restart_keep_the_estate(tmp_path: Path) -> None:
    state = tmp_path / "estate"
    with sim_up(state) as process:
        assert (state / "homeport.toml").is_file()
        assert nodes(state) == {"pve1": "online", "pve2": "online"}
        checked = homeport("check", state=state)
        assert checked.returncode == 0 and "no invariant violated" in checked.stdout

        crashed = homeport("fault", "crash_node", "--node", "pve2", state=state)
        assert crashed.returncode == 0, crashed.stderr
        assert nodes(state)["pve2"] == "offline"
        assert homeport("fault", "recover_node", "--node", "pve2", state=state).returncode == 0
        assert nodes(state)["pve2"] == "online"

        unknown = homeport("fault", "no_such_fault", state=state)
        assert unknown.returncode == 1
        assert "Traceback" not in unknown.stderr
        assert "no fault named 'no_such_fault'" in unknown.stderr

        with api(state) as client:
            upid = client.post(
                "/nodes/pve1/qemu/9000/clone", data={"newid": 150, "name": "kept", "full": 1}
            ).json()["data"]
            wait_task(client, upid)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        output = (tmp_path / "sim-up.log").read_text()
        assert "simulated estate up: 2 nodes" in output and "Traceback" not in output

    leftovers = subprocess.run(
        ["pgrep", "-af", f"--state {state}"], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", f"left running: {leftovers.stdout}"
    gone = homeport("check", state=state)
    assert gone.returncode != 0 and "Traceback" not in gone.stderr

    with sim_up(state), api(state) as client:
        vms = client.get("/cluster/resources", params={"type": "vm"}).json()["data"]
        assert any(vm["vmid"] == 150 and vm["name"] == "kept" for vm in vms), vms


def test_sim_commands_without_an_estate_say_how_to_start_one(tmp_path: Path) -> None:
    result = homeport("check", state=tmp_path / "nothing")
    assert result.returncode == 2
    assert "homeport sim up --state" in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []
