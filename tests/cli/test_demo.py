"""`homeport demo --ci`: the newcomer's tour runs end to end and leaves nothing behind."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.example_estate import example_estate

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_runs_the_whole_tour_and_cleans_up(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "homeport", "demo", "--ci", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"remote: homeport: {example_estate().objects} objects valid" in output
    assert "converged in" in output
    assert "  status page: http://127.0.0.1:" in output
    assert "→ homeport-shop-a (release" in output
    assert "→ homeport-community-a (release" in output
    # The model gateway answers on the router's tailnet address and not on the public one.
    assert "→ homeport-model-server (a packaged service, no release)" in output
    assert "→ refused: the public listener does not serve it" in output
    assert "agents 1/1" in output
    for phase in ("Detected", "Fencing", "IngressCut", "Fenced", "Promoted", "Rerouted"):
        assert phase in output
    assert "shop.example.com is now served by shop-b (epoch 2)" in output
    assert any(
        "curl --cacert" in line and "https://shop.example.com:" in line
        for line in output.splitlines()
    ), "the curl command to copy is broken across lines"
    assert "stopped: nothing left running" in output
    leftovers = subprocess.run(
        ["pgrep", "-af", str(state)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", f"processes left running: {leftovers.stdout}"
    octet = int((state / "address-octet").read_text())
    with socket.socket() as probe:
        assert probe.connect_ex((f"127.{octet}.1.1", 2222)) != 0, (
            "a guest's SSH server is still listening"
        )
