"""``homeport run`` with ``[telemetry] metrics = "prometheus"`` serves ``/metrics`` on
loopback while it runs and stops serving when SIGTERM ends it; a public address is refused
before anything starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from testkit.gitwork import machine
from tests.daemon_config import write_daemon_config

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, listen: str) -> Path:
    """A daemon over a directory of manifests whose Proxmox API is not there (port 9 on
    loopback): every reconcile fails at once, which is enough to be measured."""
    telemetry = f'[telemetry]\nmetrics = "prometheus"\nprometheus_listen = "{listen}"\n'
    config = write_daemon_config(tmp_path, extra=telemetry)
    (tmp_path / "manifests" / "machines.yaml").write_text(machine("pve1"))
    return config


def poll(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    config = write_config(tmp_path, f"127.0.0.1:{port}")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "HOMEPORT_CONFIG")}
    with (tmp_path / "daemon.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "homeport", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        yield process, f"http://127.0.0.1:{port}/metrics"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def scrape(url: str) -> str | None:
    try:
        response = httpx.get(url, trust_env=False, timeout=2)
    except httpx.ConnectError:
        return None
    return response.text if response.status_code == 200 else None


def test_run_serves_metrics_until_sigterm(
    daemon: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    process, url = daemon
    measured = 'homeport_reconcile_duration_seconds_count{homeport_kind="Machine"'
    poll(
        lambda: measured in (scrape(url) or "") or process.poll() is not None,
        timeout=30,
        what="a measured reconcile",
    )
    text = scrape(url)
    assert text is not None, (tmp_path / "daemon.log").read_text()
    assert 'homeport_result="error"' in text
    assert "homeport_queue_depth{" in text
    assert "target_info{" in text and 'service_name="homeport"' in text
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0, (tmp_path / "daemon.log").read_text()
    assert scrape(url) is None
    assert "serving metrics on " + url in (tmp_path / "daemon.log").read_text()


def test_run_refuses_a_public_scrape_address(tmp_path: Path) -> None:
    config = write_config(tmp_path, "0.0.0.0:9464")
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert "0.0.0.0 is neither loopback nor a tailnet address" in result.output
    assert not (tmp_path / "state.db").exists()
